"""A database that goes away for a few seconds under the worker (issue 12, item 11): every
pause lands on its retry, and the outage is one warning line per worker process, not a
CRITICAL traceback per message. PostgreSQL and MariaDB, behind a proxy the test cuts."""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import pytest

from tests.e2e_helpers import start_worker
from tests.stack_helpers import backend, campaigns_of, post_phone_message, seed, wait_until
from tests.tcp_proxy import Proxy

pytestmark = pytest.mark.processes

OUTAGE = 3.5
WORKER_PROCESSES = 2  # the Procfile's --processes


@pytest.fixture
def proxied_url(db, database_url):
    """The test database's URL through a proxy that the test can cut."""
    if backend(db) == "sqlite":
        pytest.skip("a SQLite file has no server to go away")
    parsed = urlparse(database_url)
    proxy = Proxy(parsed.hostname, parsed.port)
    proxy.start()
    netloc = f"{parsed.username}@127.0.0.1:{proxy.port}"
    yield proxy, parsed._replace(netloc=netloc).geturl()
    proxy.cut()


def test_a_database_outage_of_a_few_seconds_is_one_warning_per_worker_process(
        db, backend_stack, proxied_url):
    proxy, url = proxied_url
    accounts = [seed(1, f"s{n}") for n in range(9)]
    stack = backend_stack(DATABASE_URL=url)
    stack.start("web")
    start_worker(stack)
    assert post_phone_message(stack, 1, "s0")[0] == 200
    wait_until(stack, lambda: all(c.pause_count == 1 for c in campaigns_of(accounts[0])), 10,
               "the first pause")

    proxy.cut()
    cut = time.monotonic()
    for account in accounts[1:]:  # the webhook needs no database: the body names the workspace
        assert post_phone_message(stack, 1, account.session_id)[0] == 200
    time.sleep(max(0.0, cut + OUTAGE - time.monotonic()))
    proxy.start()
    back = time.monotonic()

    for account in accounts[1:]:
        wait_until(stack, lambda a=account: all(c.pause_count == 1 for c in campaigns_of(a)),
                   40, f"the pause of {account.session_id} retried")
    landed = time.monotonic() - back
    # Each process that told of the outage tells of the return after its next message that goes
    # through, which may come after the last pause if the other process took them all.
    deadline = time.monotonic() + 10
    while (unanswered := _told_down_not_up(log := stack.log_path("worker").read_text())) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"\n[{backend(db)}] database down "
          f"{back - cut:.1f} s: {log.count('database unavailable')} warning(s), every pause "
          f"landed within {landed:.1f} s of its return; retried for: "
          f"{sorted(set(re.findall(r'failed [(][(]?([0-9]+|[a-z][^(]{0,40})', log)))}")
    assert "CRITICAL" not in log and "Traceback" not in log
    assert 1 <= log.count("database unavailable") <= WORKER_PROCESSES
    assert not unanswered, f"processes {unanswered} took messages after the outage, silently"
    assert log.count("database answers again") <= log.count("database unavailable")


def _told_down_not_up(log: str) -> list[str]:
    """The worker processes that logged the outage and then processed a message that went
    through, without logging the database's return."""
    down, worked, up = set(), set(), set()
    for pid, text in re.findall(r"\[PID ([0-9]+)\].*?\[[A-Z]+\] (.*)", log):
        if text.startswith("database unavailable"):
            down.add(pid)
        elif text.startswith("database answers again"):
            up.add(pid)
        elif pid in down and re.match(r"(paused|resumed) ", text):
            worked.add(pid)
    return sorted(worked - up)
