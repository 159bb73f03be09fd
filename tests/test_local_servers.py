"""The one helper that starts private servers for `scripts.dev run`, the tests and the
benchmark (scripts.local_servers)."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import redis

from scripts.local_servers import RedisServer, free_port, private_redis, redis_answers
from scripts.stack import ROOT


def test_scripts_dev_and_the_helper_import_with_the_standard_library_alone():
    # -S: no site-packages, as on a fresh machine before `scripts.dev` has installed anything.
    result = subprocess.run([sys.executable, "-S", "-c", "import scripts.dev"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_private_redis_answers_while_the_block_runs_and_is_gone_after():
    with private_redis() as url:
        assert redis.Redis.from_url(url).ping()
        port = redis.Redis.from_url(url).connection_pool.connection_kwargs["port"]
    assert not redis_answers(port)


def test_a_restarted_server_comes_back_empty_on_the_same_port():
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(workdir)
        url = server.start()
        redis.Redis.from_url(url).set("kept", "no")
        server.stop(kill=True)
        assert not redis_answers(server.port)
        assert server.start() == url
        try:
            assert redis.Redis.from_url(url).get("kept") is None
        finally:
            server.stop()


def test_nothing_answers_on_a_free_port():
    assert not redis_answers(free_port())
