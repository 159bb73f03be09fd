"""The floor of the webhook path: a tiny Falcon app, benchmark-only, served by the same gunicorn
settings as `web`, whose handlers do nothing but bare Redis round trips through redis-py.

    /healthz       the same handler as the product's /healthz
    /ping          one PING
    /evalsha       one EVALSHA of a script that returns at once
    /evalsha2      two EVALSHAs in turn: the shape of phone activity (record, then enqueue)

Phone activity does one script call to record, one to enqueue the pause, plus the parsing and
signing around them, so /evalsha2 against /healthz is how far down it could go.

    gunicorn -c gunicorn.conf.py 'scripts.bench.floor:get_app()'   (REDIS_URL, PORT from env)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

import falcon

from actors.runtime import redis_client
from models.settings import Settings
from scripts.stack import ROOT, Stack, free_port
from web.reads import Health


class _Ping:
    def __init__(self, client):
        self.client = client

    def on_get(self, req, resp):
        self.client.ping()
        resp.media = {"success": True}


class _Evalsha:
    def __init__(self, client, calls: int):
        self.script = client.register_script("return 1")
        self.calls = calls

    def on_get(self, req, resp):
        for _ in range(self.calls):
            self.script(keys=["bench:floor"], args=[1])
        resp.media = {"success": True}


def create_app(client) -> falcon.App:
    app = falcon.App()
    app.add_route("/healthz", Health())
    app.add_route("/ping", _Ping(client))
    app.add_route("/evalsha", _Evalsha(client, 1))
    app.add_route("/evalsha2", _Evalsha(client, 2))
    return app


def get_app() -> falcon.App:
    # The same client settings the product's processes use (actors.runtime).
    return create_app(redis_client(Settings.from_env()))


@contextlib.contextmanager
def serving(stack: Stack) -> Iterator[tuple[int, int]]:
    """Serve this app beside the stack's `web`, same settings and Redis; yields its port and
    the gunicorn master's pid."""
    port = free_port()
    env = {**stack.env, "PORT": str(port)}
    log = open(stack.log_path("floor"), "ab")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(["gunicorn", "-c", "gunicorn.conf.py", "scripts.bench.floor:get_app()"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        stack._wait(lambda: _healthy(port), "bench floor app", 30)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _healthy(port: int) -> bool:
    from scripts.bench.load import exchange
    from scripts.bench.traffic import HEALTHZ

    return exchange(port, HEALTHZ, timeout=1)[0] == 200
