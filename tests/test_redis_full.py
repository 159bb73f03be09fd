"""A full Redis (issue 12, item 6): `maxmemory` reached with the default noeviction policy,
set at run time on the stack's real redis-server, with the Procfile's real processes.
Webhooks must answer the contract's 503, `/readyz` must say so, each process must log the
outage on one line (no traceback per request, message or tick), and everything must carry on
once Redis has room again.
"""

from __future__ import annotations

import time

import pytest

from scripts.stack import Stack
from tests.e2e_helpers import last_activity_ms, wait_for_status
from tests.stack_helpers import post_phone_message, wait_until
from tests.test_faults import (
    COOLDOWN,
    GRACE,
    INTERVAL,
    SHORT,
    SLACK,
    audit,
    pause_counts,
    seed,
)

pytestmark = pytest.mark.processes

FULL_FOR = GRACE + COOLDOWN + 3  # seconds: past the grace after which the clock steps in


@pytest.fixture
def stack():
    with Stack(env=SHORT) as running:
        yield running


def test_a_full_redis_answers_503_and_not_ready_logs_one_line_per_outage_then_recovers(stack):
    seed(stack, 1, "before")
    seed(stack, 1, "during", count=1)
    stack.start("web", "worker", "clock")
    assert post_phone_message(stack, 1, "before")[0] == 200
    wait_until(stack, lambda: pause_counts(stack, 1, "before") == [1, 1], 10, "paused")
    client = stack.redis_client()
    client.config_set("maxmemory", "1")  # every write refused from now on (noeviction)
    try:
        status, body = post_phone_message(stack, 1, "during", "m-during")
        assert status == 503
        assert body["success"] is False and "retry" in body["message"]
        # More of them, so both gunicorn workers meet the outage.
        assert {post_phone_message(stack, 1, "during", "m-during")[0] for _ in range(6)} == {503}
        status, ready = stack.get("/readyz")
        assert status == 503
        assert ready["checks"]["redis"].startswith("out of memory")
        time.sleep(FULL_FOR)  # the check of "before" comes due meanwhile
    finally:
        client.config_set("maxmemory", "0")
    back = time.monotonic()

    # The gateway retries the same delivery; nothing of the 503s made it a duplicate.
    wait_until(stack, lambda: post_phone_message(stack, 1, "during", "m-during")[0] == 200, 10,
               "web takes webhooks again")
    assert stack.get("/readyz")[0] == 200
    paused = wait_until(stack, lambda: pause_counts(stack, 1, "during") == [1], 15,
                        "the worker takes the new pause") - back
    due_ms = last_activity_ms(stack, 1, "during") + COOLDOWN * 1000
    wait_for_status(stack, 1, "before", "ongoing", GRACE + INTERVAL + SLACK)
    rows = wait_for_status(stack, 1, "during", "ongoing", COOLDOWN + GRACE + SLACK)
    late = max((row.auto_resume_at_ms - due_ms) / 1000 for row in rows)

    logs = {name: stack.log_path(name).read_text() for name in ("web", "worker", "clock")}
    print(f"\n[redis full {FULL_FOR} s] the pause after it landed {paused:.2f} s after Redis "
          f"had room, its campaigns resumed {late:.1f} s after due; outage lines: "
          + ", ".join(f"{name} {outage_lines(text)}" for name, text in logs.items()))
    assert audit(stack, 1, "during") == {"paused": 1, "resumed": 1}
    for name, text in logs.items():
        assert "Traceback" not in text, f"{name} logged a traceback:\n{text[-3000:]}"
    assert 1 <= outage_lines(logs["web"]) <= 2  # one per gunicorn worker that met it
    assert outage_lines(logs["clock"]) == 1
    assert 1 <= outage_lines(logs["worker"]) <= 2  # one per worker process


def outage_lines(log: str) -> int:
    return log.count("(one line per outage)")
