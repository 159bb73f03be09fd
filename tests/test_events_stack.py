"""Events and control through the Procfile's real processes: a receiver on 127.0.0.1 that
verifies every delivery with the standardwebhooks library hears each pause and resume,
automatic or an operator's; and while it hangs, pauses still land in milliseconds.

Timings are printed, never asserted as speeds: the one bound below is far above a healthy
pause and far below the receiver's timeout that a blocked pause would wait out.
"""

from __future__ import annotations

import statistics
import time

import pytest

from scripts.stack import Stack
from tests import e2e_helpers as e2e
from tests.fixtures import node_event
from tests.test_events import SECRET, Receiver

pytestmark = pytest.mark.processes

HANGING_SESSIONS = 12  # more pauses than the worker has threads (2 processes x 4)
# A pause queued behind deliveries that wait out their 5 s timeout would take seconds.
BLOCKED_PAUSE_MS = 2000


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n  [events] {line}", end="")


def wait_for(predicate, what: str, timeout: float, stack: Stack):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout} s\n{stack.logs()}")
        time.sleep(0.02)
    return found


def phone_message(stack: Stack, session_id: str, message_id: str) -> float:
    """The owner types on `session_id` (workspace 1); epoch ms of the webhook's response."""
    status, reply = stack.post("/api/v1/whatsapp/webhook",
                               node_event(session_id, 1, "android", message_id),
                               {"X-Webhook-Token": stack.env["WEBHOOK_TOKEN"]})
    assert status == 200, reply
    return time.time() * 1000


def control(stack: Stack, session_id: str, action: str, body: dict | None = None):
    status, reply = stack.post(f"/api/v1/workspaces/1/sessions/{session_id}/{action}",
                               body or {},
                               {"Authorization": f"Bearer {stack.env['API_TOKEN']}"})
    assert status == 200, reply
    return reply["data"]


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def stack(receiver):
    env = {"EVENTS_WEBHOOK_URL": receiver.url, "EVENTS_WEBHOOK_SECRET": SECRET,
           "CAMPAIGN_CONFLICT_TIER_COOLDOWN": "1:1,2:1,3:1,4:1"}
    with Stack(env=env) as running:
        for session in ["heard", *(f"hang-{n}" for n in range(HANGING_SESSIONS))]:
            running.run_script("seed", "--workspace", "1", "--session", session,
                               "--campaigns", "1")
        running.start("web")
        e2e.start_worker(running)
        yield running


def test_the_sender_hears_every_pause_and_resume_automatic_or_by_an_operator(
        stack, receiver):
    phone_message(stack, "heard", "m1")
    e2e.wait_for_status(stack, 1, "heard", "paused_mobile", 10)
    e2e.wait_for_status(stack, 1, "heard", "ongoing", 15)
    held = control(stack, "heard", "hold", {"minutes": 30})
    resumed = control(stack, "heard", "resume")

    received = wait_for(lambda: len(receiver.received) >= 4 and receiver.received, "4 events",
                        15, stack)
    # Two worker threads may deliver two events at once: the sender orders them by timestamp.
    heard = sorted(received, key=lambda delivery: delivery[1]["timestamp"])
    assert [(body["type"], body["data"]["reason"]) for _, body in heard] == [
        ("campaigns.paused", "mobile_activity"), ("campaigns.resumed", "quiet"),
        ("campaigns.paused", "hold"), ("campaigns.resumed", "manual_resume")]
    assert heard[2][1]["data"]["next_check_at"] == held["held_until"]
    assert heard[3][1]["data"]["campaign_ids"] == resumed["resumed_campaign_ids"]
    assert receiver.refused == 0
    assert len({webhook_id for webhook_id, _ in heard}) == 4


def test_a_hanging_receiver_does_not_slow_pauses(stack, receiver, capsys):
    receiver.hanging.set()
    latencies = []
    for n in range(HANGING_SESSIONS):
        session = f"hang-{n}"
        answered_ms = phone_message(stack, session, f"h{n}")
        (row,) = e2e.wait_for_status(stack, 1, session, "paused_mobile", 15)
        latencies.append(row.paused_at_ms - answered_ms)
        time.sleep(0.2)

    report(capsys, f"{HANGING_SESSIONS} pauses while the receiver hangs: paused "
                   f"{statistics.median(latencies):+.0f} ms (median), "
                   f"{max(latencies):+.0f} ms (max) after the webhook's response")
    assert max(latencies) < BLOCKED_PAUSE_MS, latencies
