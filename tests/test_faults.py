"""Faults the service must survive (issue 4), each with the Procfile's real processes and a
real Redis: a worker killed with -9, Redis restarted empty, a locked database, duplicate
deliveries, and two tenants sharing a session name.

Cooldowns are 2 s and the clock reconciles every second, so each test takes seconds, not
minutes. Measured figures are printed (`pytest -s`) for docs/guarantees.md; the
assertions are behavioural bounds derived from the settings, never a speed.
The graceful stop (SIGTERM to the worker's process group) is in test_end_to_end.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import signal
import sqlite3
import time

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from models import keys
from scripts.stack import Stack
from tests.e2e_helpers import (
    campaigns,
    database_path,
    last_activity_ms,
    start_worker,
    wait_for_status,
)
from tests.stack_helpers import API, post_phone_message, wait_until

pytestmark = pytest.mark.processes

QUEUE = "campaign-conflict"
COOLDOWN = 2
INTERVAL = 1
# scripts.clock.grace_seconds: the clock stands in for a check overdue by more than this.
GRACE = max(15, INTERVAL)
# Room for process start-up and a busy 2-core CI machine on top of what the settings allow.
SLACK = 10
SHORT = {
    "CAMPAIGN_CONFLICT_TIER_COOLDOWN": ",".join(f"{tier}:{COOLDOWN}" for tier in (1, 2, 3, 4)),
    "CAMPAIGN_CONFLICT_RECONCILE_INTERVAL": str(INTERVAL),
}


@pytest.fixture
def make_stack():
    """Start a Stack (private redis-server, migrated SQLite file) with the short settings;
    every process it started is stopped afterwards."""
    stacks = []

    def make(**env) -> Stack:
        stack = Stack(env={**SHORT, **env})
        stacks.append(stack)
        return stack.__enter__()

    yield make
    for stack in stacks:
        stack.stop()


# -- the stack's database and Redis ---------------------------------------------------------

def seed(stack: Stack, workspace_id: int, session_id: str, *, tier=1, count=2) -> None:
    """An account with `count` ongoing campaigns, inserted with plain SQL as another program
    would (the columns phoneguard added take their database defaults)."""
    with contextlib.closing(sqlite3.connect(database_path(stack))) as conn, conn:
        account = conn.execute(
            "INSERT INTO whatsapp_accounts (workspace_id, session_id, tier) VALUES (?, ?, ?)",
            (workspace_id, session_id, tier)).lastrowid
        conn.executemany(
            "INSERT INTO campaigns (workspace_id, whatsapp_account_id, name, status) "
            "VALUES (?, ?, ?, 'ongoing')",
            [(workspace_id, account, f"campaign {n}") for n in range(count)])


def audit(stack: Stack, workspace_id: int, session_id: str) -> dict[str, int]:
    """{'paused': n, 'resumed': m} rows of the session's audit trail."""
    with contextlib.closing(sqlite3.connect(database_path(stack))) as conn:
        rows = conn.execute(
            "SELECT event, COUNT(*) FROM campaign_pause_events "
            "WHERE workspace_id = ? AND session_id = ? GROUP BY event",
            (workspace_id, session_id)).fetchall()
    return {"paused": 0, "resumed": 0, **dict(rows)}


def raw_paused_at(stack: Stack, workspace_id: int, session_id: str) -> str:
    """The pause time exactly as stored (microseconds), as the actors pass it on."""
    with contextlib.closing(sqlite3.connect(database_path(stack))) as conn:
        (value,) = conn.execute(
            "SELECT MAX(c.paused_at) FROM campaigns c JOIN whatsapp_accounts a "
            "ON a.id = c.whatsapp_account_id WHERE a.workspace_id = ? AND a.session_id = ?",
            (workspace_id, session_id)).fetchone()
    return value


def pause_counts(stack: Stack, workspace_id: int, session_id: str) -> list[int]:
    return [row.pause_count for row in campaigns(stack, workspace_id, session_id)]


def queued(stack: Stack, actor_name: str, *, delayed: bool = False) -> int:
    """Messages for `actor_name` on the conflict queue (or its delay queue) that no worker
    has acknowledged yet."""
    name = keys.broker_messages(dq_name(QUEUE) if delayed else QUEUE)
    return sum(dramatiq.Message.decode(m).actor_name == actor_name
               for m in stack.redis_client().hvals(name))


def held_delayed(stack: Stack) -> int:
    """Delayed messages that a worker has taken into its memory (its unacked set)."""
    client = stack.redis_client()
    return sum(client.scard(k) for k in client.keys(keys.broker_acks("*", dq_name(QUEUE))))


def send(stack: Stack, message: dramatiq.Message, *, delay_ms: int | None = None) -> None:
    """Enqueue `message` as an actor's send() would, on the stack's Redis."""
    broker = RedisBroker(client=stack.redis_client(), namespace=keys.BROKER_NAMESPACE,
                         middleware=[])
    broker.enqueue(message, delay=delay_ms)


def actor_message(actor_name: str, *args) -> dramatiq.Message:
    return dramatiq.Message(queue_name=QUEUE, actor_name=actor_name, args=args, kwargs={},
                            options={})


# -- HTTP and waiting -------------------------------------------------------------------------

def lateness(rows, due_ms: int) -> list[float]:
    """Seconds each campaign resumed after its due time (negative: early)."""
    return [(row.auto_resume_at_ms - due_ms) / 1000 for row in rows]


# -- 1. worker killed with -9 ---------------------------------------------------------------

def test_checks_held_by_a_worker_killed_by_sigkill_still_resume_in_time(make_stack):
    """Dramatiq hands the dead worker's checks to the restarted one once its heartbeat is
    stale (actors.runtime.HEARTBEAT_TIMEOUT_MS); the clock stands in for any still lost
    (shown with Redis restarted empty, below)."""
    stack = make_stack()
    sessions = ["k1", "k2", "k3"]
    for sid in sessions:
        seed(stack, 1, sid)
    stack.start("web", "worker", "clock")
    for sid in sessions:
        assert post_phone_message(stack, 1, sid)[0] == 200
    wait_until(stack, lambda: all(pause_counts(stack, 1, s) == [1, 1] for s in sessions), 10,
               "every session paused")
    due_ms = {sid: last_activity_ms(stack, 1, sid) + COOLDOWN * 1000 for sid in sessions}
    # The resume checks sit in the worker's memory, as Dramatiq prefetches delayed messages.
    wait_until(stack, lambda: held_delayed(stack) == len(sessions), 5, "checks prefetched")

    stack.signal("worker", signal.SIGKILL)
    stack.wait_exit("worker", 10)
    start_worker(stack)  # the platform restarts the crashed process
    bound = GRACE + INTERVAL + SLACK
    late = []
    for sid in sessions:
        rows = wait_for_status(stack, 1, sid, "ongoing", COOLDOWN + bound + 5)
        late += lateness(rows, due_ms[sid])

    print(f"\n[worker -9] {len(late)} campaigns resumed {min(late):.1f}-{max(late):.1f} s "
          f"after due (interval {INTERVAL} s, grace {GRACE} s); the killed worker held "
          f"{len(sessions)} checks")
    assert min(late) >= 0, "resumed before the phone was quiet for its cooldown"
    assert max(late) <= bound
    assert all(audit(stack, 1, s) == {"paused": 2, "resumed": 2} for s in sessions)


# -- 3. Redis restarted empty ---------------------------------------------------------------

def test_redis_restarted_empty_answers_503_meanwhile_then_everything_reconnects_and_resumes(
        make_stack):
    stack = make_stack()
    seed(stack, 1, "before")
    seed(stack, 1, "after", count=1)
    stack.start("web", "worker", "clock")
    assert post_phone_message(stack, 1, "before")[0] == 200
    wait_until(stack, lambda: pause_counts(stack, 1, "before") == [1, 1], 10, "paused")
    due_ms = last_activity_ms(stack, 1, "before") + COOLDOWN * 1000

    stack.stop_redis()
    status, body = post_phone_message(stack, 1, "after", "m-after")
    assert status == 503
    assert body["success"] is False and "retry" in body["message"]
    status, ready = stack.get("/readyz")
    assert status == 503 and ready["checks"]["redis"].startswith("unreachable")
    # Down past the due time: the delayed check dies with Redis, not merely waits.
    time.sleep(max(0.0, due_ms / 1000 - time.time()) + 1)

    stack.start_redis()
    back = time.monotonic()
    assert stack.redis_client().keys("conflict:*") == []
    # The gateway retries the same delivery; nothing of the 503 made it a duplicate.
    wait_until(stack, lambda: post_phone_message(stack, 1, "after", "m-after")[0] == 200, 10,
               "web takes webhooks again")
    web_back = time.monotonic() - back
    # Several requests, so that each gunicorn worker has had to reconnect.
    assert [stack.get("/readyz")[0] for _ in range(6)] == [200] * 6
    paused_again = wait_until(stack, lambda: pause_counts(stack, 1, "after") == [1], 15,
                              "the worker takes the new pause") - back
    rows = wait_for_status(stack, 1, "before", "ongoing", GRACE + INTERVAL + SLACK + 10)
    late = lateness(rows, due_ms)
    wait_for_status(stack, 1, "after", "ongoing", COOLDOWN + GRACE + SLACK)

    print(f"\n[redis restart] web answered 200 {web_back:.2f} s after Redis was back, the "
          f"worker paused {paused_again:.2f} s after; campaigns paused before the restart "
          f"resumed {max(late):.1f} s after due (cooldown from paused_at, clock re-scheduled)")
    assert min(late) >= 0
    assert max(late) <= GRACE + INTERVAL + SLACK
    assert audit(stack, 1, "after") == {"paused": 1, "resumed": 1}
    clock_log = stack.log_path("clock").read_text()
    assert "rescheduled 1 overdue resume checks: [(1, 'before')]" in clock_log
    # The outage is logged one line per tick, not a traceback every second.
    assert "Traceback" not in clock_log


# -- 4. database locked ---------------------------------------------------------------------

@contextlib.contextmanager
def exclusive_lock(path: str):
    """Hold SQLite's write lock from another connection, as a long migration or a stuck
    writer would."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_pause_blocked_by_a_locked_database_lands_after_its_backoff_and_counts_once(
        make_stack):
    stack = make_stack()
    seed(stack, 1, "s1")
    stack.start("web")
    start_worker(stack)
    worker_log = stack.log_path("worker")
    with exclusive_lock(database_path(stack)):
        sent = time.monotonic()
        # The webhook needs no database when the body names the workspace.
        assert post_phone_message(stack, 1, "s1")[0] == 200
        # Held until the first attempt gave up after the 5 s busy timeout (about 6 s).
        wait_until(stack, lambda: "retrying in 5 s" in worker_log.read_text(), 20,
                   "the first attempt fails on the lock")
        held = time.monotonic() - sent
        assert pause_counts(stack, 1, "s1") == [0, 0]
    landed = wait_until(stack, lambda: pause_counts(stack, 1, "s1") == [1, 1], 15,
                        "the retried pause lands") - sent
    # It landed after the cooldown had passed: the next check resumes at once.
    wait_for_status(stack, 1, "s1", "ongoing", 10)
    time.sleep(1)

    print(f"\n[database locked {held:.1f} s] pause landed {landed:.1f} s after the webhook "
          "(5 s busy timeout, then the first retry 5 s later)")
    assert worker_log.read_text().count("retrying in 5 s") == 1
    assert pause_counts(stack, 1, "s1") == [1, 1]
    assert audit(stack, 1, "s1") == {"paused": 2, "resumed": 2}


# -- 5. duplicates ------------------------------------------------------------------------

def test_a_pause_and_its_resume_check_delivered_twice_count_once(make_stack):
    stack = make_stack()
    seed(stack, 1, "s1", count=3)
    start_worker(stack)
    pause = actor_message("handle_mobile_activity", 1, "s1", "android")
    send(stack, pause)
    send(stack, pause)  # the same message again, as a redelivery after a lost ack
    wait_until(stack, lambda: queued(stack, "handle_mobile_activity") == 0, 10, "both ran")
    assert pause_counts(stack, 1, "s1") == [1, 1, 1]
    assert audit(stack, 1, "s1") == {"paused": 3, "resumed": 0}

    # Two more copies of the resume check, due with the one the pause scheduled.
    check = actor_message("auto_resume_campaign", 1, "s1", raw_paused_at(stack, 1, "s1"), 1)
    for _ in range(2):
        send(stack, check, delay_ms=COOLDOWN * 1000)
    wait_for_status(stack, 1, "s1", "ongoing", COOLDOWN + SLACK)
    wait_until(stack, lambda: queued(stack, "auto_resume_campaign", delayed=True)
               + queued(stack, "auto_resume_campaign") == 0, SLACK, "every copy ran")
    assert audit(stack, 1, "s1") == {"paused": 3, "resumed": 3}
    assert pause_counts(stack, 1, "s1") == [1, 1, 1]


def test_a_burst_of_phone_messages_while_the_pause_is_queued_makes_one_pause_job(make_stack):
    stack = make_stack()
    seed(stack, 1, "s1")
    stack.start("web")  # no worker yet: the first pause job stays queued
    ids = [f"m{n}" for n in range(20)]
    deliveries = ids + ids[:5]  # five gateway retries among them
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda mid: post_phone_message(stack, 1, "s1", mid),
                                deliveries))

    assert all(status == 200 for status, _ in answers)
    assert sum(body.get("duplicate", False) for _, body in answers) == 5
    assert queued(stack, "handle_mobile_activity") == 1
    activity = stack.redis_client().hgetall(keys.activity(1, "s1"))
    assert int(activity[b"message_count"]) == 20

    start_worker(stack)
    wait_until(stack, lambda: pause_counts(stack, 1, "s1") == [1, 1], 10, "paused")
    wait_for_status(stack, 1, "s1", "ongoing", COOLDOWN + SLACK)
    print(f"\n[burst] {len(deliveries)} deliveries ({len(ids)} messages) queued one pause job")
    assert audit(stack, 1, "s1") == {"paused": 2, "resumed": 2}


# -- 6. tenants ---------------------------------------------------------------------------

def test_workspaces_sharing_a_session_name_never_touch_each_other(make_stack):
    # Workspace 1's account resumes after 2 s; workspace 2's only after 600 s.
    stack = make_stack(CAMPAIGN_CONFLICT_TIER_COOLDOWN="1:2,2:600")
    seed(stack, 1, "shared", tier=1)
    seed(stack, 2, "shared", tier=2)
    stack.start("web", "worker")

    # Without a workspace the session name is ambiguous: refused, nothing recorded.
    status, body = post_phone_message(stack, None, "shared")
    assert status == 422 and "several workspaces" in body["message"]
    # One workspace's URL naming the other in the body: refused, not guessed.
    status, body = post_phone_message(stack, 2, "shared",
                                      path="/api/v1/workspaces/1/whatsapp/webhook")
    assert status == 422 and "does not match" in body["message"]
    assert post_phone_message(stack, None, "shared",
                              path="/api/v1/workspaces/1/whatsapp/webhook")[0] == 200
    wait_until(stack, lambda: pause_counts(stack, 1, "shared") == [1, 1], 10, "A paused")
    assert [r.status for r in campaigns(stack, 2, "shared")] == ["ongoing", "ongoing"]
    assert stack.redis_client().exists(keys.activity(2, "shared")) == 0
    assert_reads(stack, active=1, quiet=2)

    # B pauses on its own webhook; A's resume check (2 s) must leave B paused.
    assert post_phone_message(stack, 2, "shared")[0] == 200
    wait_until(stack, lambda: pause_counts(stack, 2, "shared") == [1, 1], 10, "B paused")
    wait_for_status(stack, 1, "shared", "ongoing", COOLDOWN + SLACK)
    # A forced (last-attempt) check for A, then another pause of A, leave B as it is.
    send(stack, actor_message("auto_resume_campaign", 1, "shared", "2999-01-01T00:00:00", 99))
    wait_until(stack, lambda: queued(stack, "auto_resume_campaign") == 0, 10, "check ran")
    send(stack, actor_message("handle_mobile_activity", 1, "shared", "android"))
    wait_until(stack, lambda: pause_counts(stack, 1, "shared") == [2, 2], 10, "A paused again")
    wait_for_status(stack, 1, "shared", "ongoing", COOLDOWN + SLACK)

    assert [r.status for r in campaigns(stack, 2, "shared")] == ["paused_mobile"] * 2
    assert pause_counts(stack, 2, "shared") == [1, 1]
    assert audit(stack, 2, "shared") == {"paused": 2, "resumed": 0}
    assert audit(stack, 1, "shared") == {"paused": 4, "resumed": 4}
    assert stats(stack, 2)["total_paused"] == 2


def assert_reads(stack: Stack, *, active: int, quiet: int) -> None:
    """The read APIs of workspace `quiet` show none of workspace `active`'s activity."""
    path = "/api/internal/sessions/shared/last-activity?workspace_id={}"
    seen = stack.get(path.format(active), API)[1]["data"]
    unseen = stack.get(path.format(quiet), API)[1]["data"]
    assert seen["message_count"] == 1
    assert unseen["last_activity"] is None and unseen["message_count"] is None
    permission = "/api/v1/workspaces/{}/sessions/shared/send-permission"
    assert stack.get(permission.format(active), API)[1]["data"]["allowed"] is False
    assert stack.get(permission.format(quiet), API)[1]["data"]["allowed"] is True
    assert stats(stack, active)["total_paused"] == 2
    assert stats(stack, quiet)["total_paused"] == 0


def stats(stack: Stack, workspace_id: int) -> dict:
    status, body = stack.get(f"/api/v1/workspaces/{workspace_id}/conflict-stats", API)
    assert status == 200
    return body["data"]
