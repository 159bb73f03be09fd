"""The two actors on Dramatiq's StubBroker, over a real Redis and the real databases.

Nothing here sleeps through a cooldown: actors are called synchronously, and the resume
checks they schedule are read off the delay queue (their eta) instead of being waited for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time

import dramatiq
import pytest
from dramatiq.common import current_millis, dq_name
from dramatiq.middleware import Middleware
from playhouse.db_url import connect

from actors.backoff import GaveUp, retry_schedule
from models import keys
from models.activity import ActivityEvent, to_ms
from models.conflict import pause_session
from models.db import database, open_database, utcnow
from models.tables import Campaign, CampaignPauseEvent

QUEUE = "campaign-conflict"
# eta = when the message was sent + delay, so it trails the due time by the few milliseconds
# between computing the delay and enqueueing; never more than this.
ETA_SLACK_MS = 50


def seconds(n):
    return dt.timedelta(seconds=n)


def statuses(campaigns):
    return [Campaign.get_by_id(c.id).status for c in campaigns]


def waiting(broker, queue_name=QUEUE) -> list[dramatiq.Message]:
    """Messages on a queue, decoded, left where they are."""
    return [dramatiq.Message.decode(data) for data in list(broker.queues[queue_name].queue)]


def take(broker, queue_name) -> dramatiq.Message:
    """Take the one message off a queue, as a consumer would (keeping join() consistent)."""
    queue = broker.queues[queue_name]
    message = dramatiq.Message.decode(queue.get_nowait())
    queue.task_done()
    assert queue.empty(), "expected exactly one message"
    return message


def typed(store, ws, sid, at_ms, message_id="m1"):
    """The owner sent a message from the phone at `at_ms` (as the webhook records it)."""
    return store.record(ActivityEvent(ws, sid, "android", message_id), now_ms=at_ms,
                        queue_pause=True)


def paused_since(settings, ago_s, *, account_factory, campaigns=("ongoing",)):
    """A tier 1 session (60 s cooldown) whose campaigns were paused, and the phone last used,
    `ago_s` seconds ago; returns (campaigns, the check the pause asked for)."""
    _, made = account_factory(tier=1, campaigns=campaigns)
    at = utcnow() - seconds(ago_s)
    check = pause_session(settings, 1, "s1", now=at, last_activity_ms=to_ms(at)).next_check
    return made, check


# The actors are declared on the stub broker by the stub_broker fixture (actors.conflict
# cannot be imported before the runtime is set up), so tests reach them through the broker.
def handle_mobile_activity(*args):
    return dramatiq.get_broker().get_actor("handle_mobile_activity")(*args)


def auto_resume_campaign(*args):
    return dramatiq.get_broker().get_actor("auto_resume_campaign")(*args)


# -- handle_mobile_activity ---------------------------------------------------------------

def test_pause_job_pauses_the_session_and_schedules_one_check_a_cooldown_after_the_last_activity(
        stub_broker, store, settings, account_factory):
    _, campaigns = account_factory(tier=2, campaigns=("ongoing", "ongoing", "paused"))
    last_ms = current_millis() - 3000
    typed(store, 1, "s1", last_ms)

    handle_mobile_activity(1, "s1", "android")

    assert statuses(campaigns) == ["paused_mobile", "paused_mobile", "paused"]
    assert waiting(stub_broker) == []
    (check,) = waiting(stub_broker, dq_name(settings.queue))
    paused_at = Campaign.get_by_id(campaigns[0].id).paused_at
    assert (check.actor_name, check.queue_name) == ("auto_resume_campaign", f"{QUEUE}.DQ")
    assert check.args == (1, "s1", paused_at.isoformat(), 1)
    due_ms = last_ms + settings.cooldown_for(2) * 1000
    assert 0 <= check.options["eta"] - due_ms <= ETA_SLACK_MS


def test_pause_job_delivered_twice_pauses_nothing_and_schedules_nothing_the_second_time(
        stub_broker, store, account_factory):
    _, (campaign,) = account_factory()
    typed(store, 1, "s1", current_millis())
    handle_mobile_activity(1, "s1", "android")
    stub_broker.flush_all()

    handle_mobile_activity(1, "s1", "android")

    assert waiting(stub_broker) == [] and waiting(stub_broker, f"{QUEUE}.DQ") == []
    assert Campaign.get_by_id(campaign.id).pause_count == 1
    assert CampaignPauseEvent.select().count() == 1


def test_pause_job_clears_the_pause_pending_marker_so_later_typing_queues_another(
        stub_broker, store, redis_client, account_factory):
    account_factory()
    assert typed(store, 1, "s1", current_millis(), "m1").pause_queued
    assert not typed(store, 1, "s1", current_millis(), "m2").pause_queued  # one job queued

    handle_mobile_activity(1, "s1", "android")

    assert not redis_client.exists(keys.pause_pending(1, "s1"))
    assert typed(store, 1, "s1", current_millis(), "m3").pause_queued


def test_pause_that_waited_for_the_database_lock_still_schedules_its_check_at_the_due_time(
        stub_broker, store, settings, database_url, account_factory):
    account_factory(tier=4)
    last_ms = current_millis()
    typed(store, 1, "s1", last_ms)

    with write_locked_elsewhere(database_url, hold_s=0.5):
        started = time.monotonic()
        handle_mobile_activity(1, "s1", "android")
    assert time.monotonic() - started >= 0.4  # it did wait for the lock

    (check,) = waiting(stub_broker, f"{QUEUE}.DQ")
    assert 0 <= check.options["eta"] - (last_ms + 20_000) <= ETA_SLACK_MS


@contextlib.contextmanager
def write_locked_elsewhere(database_url: str, hold_s: float):
    """Another connection holds the campaigns' write lock for `hold_s` seconds from entry."""
    locked, done = threading.Event(), threading.Event()

    def hold():
        other = connect(database_url)
        sqlite = database_url.startswith("sqlite")  # no FOR UPDATE: lock the whole file
        with other.connection_context(), other.atomic("IMMEDIATE" if sqlite else None):
            if not sqlite:
                other.execute_sql("SELECT id FROM campaigns FOR UPDATE")
            locked.set()
            time.sleep(hold_s)
        done.set()

    threading.Thread(target=hold, daemon=True).start()
    assert locked.wait(10)
    try:
        yield
    finally:
        assert done.wait(10)


# -- auto_resume_campaign ------------------------------------------------------------------

def test_resume_check_resumes_the_campaigns_once_the_phone_was_quiet_for_the_cooldown(
        stub_broker, store, settings, account_factory):
    campaigns, check = paused_since(settings, 61, account_factory=account_factory,
                                    campaigns=("ongoing", "ongoing"))
    typed(store, 1, "s1", check.due_ms - 60_000)

    auto_resume_campaign(1, "s1", check.paused_at.isoformat(), 1)

    assert statuses(campaigns) == ["ongoing", "ongoing"]
    assert waiting(stub_broker) == [] and waiting(stub_broker, f"{QUEUE}.DQ") == []


def test_resume_check_that_finds_recent_activity_checks_again_exactly_when_the_cooldown_ends(
        stub_broker, store, settings, account_factory):
    campaigns, check = paused_since(settings, 30, account_factory=account_factory)
    typing_again_ms = current_millis() - 10_000
    typed(store, 1, "s1", typing_again_ms)

    auto_resume_campaign(1, "s1", check.paused_at.isoformat(), 2)

    assert statuses(campaigns) == ["paused_mobile"]
    (following,) = waiting(stub_broker, f"{QUEUE}.DQ")
    assert following.args == (1, "s1", check.paused_at.isoformat(), 3)
    assert 0 <= following.options["eta"] - (typing_again_ms + 60_000) <= ETA_SLACK_MS


def test_last_resume_check_resumes_even_while_the_owner_keeps_typing(
        stub_broker, store, settings, account_factory):
    campaigns, check = paused_since(settings, 200, account_factory=account_factory)
    typed(store, 1, "s1", current_millis() - 1000)

    auto_resume_campaign(1, "s1", check.paused_at.isoformat(), settings.max_attempts)

    assert statuses(campaigns) == ["ongoing"]
    assert waiting(stub_broker, f"{QUEUE}.DQ") == []


def test_resume_check_delivered_twice_resumes_once(stub_broker, store, settings,
                                                    account_factory):
    campaigns, check = paused_since(settings, 61, account_factory=account_factory)

    auto_resume_campaign(1, "s1", check.paused_at.isoformat(), 1)
    auto_resume_campaign(1, "s1", check.paused_at.isoformat(), 1)

    assert statuses(campaigns) == ["ongoing"]
    assert CampaignPauseEvent.select().where(CampaignPauseEvent.event == "resumed").count() == 1


# -- the clock -----------------------------------------------------------------------------

def test_clock_schedules_a_check_for_a_session_whose_check_was_lost_and_none_for_a_fresh_pause(
        stub_broker, settings, account_factory):
    from scripts.clock import reconcile

    _, (lost,) = account_factory(1, "lost")
    _, (fresh,) = account_factory(1, "fresh")
    now = utcnow()
    pause_session(settings, 1, "lost", now=now - seconds(120), last_activity_ms=None)
    pause_session(settings, 1, "fresh", now=now - seconds(1), last_activity_ms=None)

    assert reconcile(now=now) == 1

    assert waiting(stub_broker, f"{QUEUE}.DQ") == []
    (check,) = waiting(stub_broker)  # overdue: to run at once
    assert check.actor_name == "auto_resume_campaign" and check.args[:2] == (1, "lost")
    auto_resume_campaign(*check.args)
    assert statuses([lost, fresh]) == ["ongoing", "paused_mobile"]


# -- retries -------------------------------------------------------------------------------

class Enqueued(Middleware):
    """Records every message the broker enqueues, with its delay."""

    def __init__(self):
        self.messages: list[tuple[dramatiq.Message, int | None]] = []

    def after_enqueue(self, broker, message, delay):
        self.messages.append((message, delay))


@contextlib.contextmanager
def running_worker(broker, middleware=()):
    """A real Worker on the shared StubBroker; the broker's middleware is put back after, so
    this stopped worker does not start consumers for queues that later tests declare."""
    before = list(broker.middleware)
    for extra in middleware:
        broker.add_middleware(extra)
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        broker.middleware[:] = before


def test_retry_schedule_retries_after_each_delay_then_gives_up_with_one_logged_traceback(
        stub_broker, unmigrated_database, caplog):
    schedule = (0.02, 0.04, 0.06)  # seconds, so that a real worker runs it all in a moment
    attempts = []

    @retry_schedule(*schedule)
    def count_campaigns():
        attempts.append(time.monotonic())
        Campaign.select().count()

    actor = dramatiq.actor(count_campaigns, broker=stub_broker, queue_name="flaky",
                           max_retries=len(schedule), throws=(GaveUp,))
    enqueued = Enqueued()
    with running_worker(stub_broker, [enqueued]):
        actor.send()
        with pytest.raises(GaveUp):
            stub_broker.join("flaky", timeout=10_000)

    retries = [(m.options["retries"], delay) for m, delay in enqueued.messages if delay]
    assert retries == [(1, 20), (2, 40), (3, 60)]  # (retry number, delay in ms)
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert len(gaps) == 3 and all(gap >= s for gap, s in zip(gaps, schedule, strict=True))
    assert len(stub_broker.dead_letters_by_queue["flaky"]) == 1
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in loud] == ["ERROR"]
    assert "no such table" in str(loud[0].exc_info[1])


@pytest.fixture
def unmigrated_database(tmp_path):
    """The tables bound to a database nobody migrated: every query fails, for real."""
    previous = database.obj
    open_database(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    yield
    if not database.is_closed():
        database.close()
    database.initialize(previous)


def deliver(broker, message: dramatiq.Message) -> dramatiq.MessageProxy:
    """What a Worker thread does with one message, minus the thread: the broker's middleware
    (Retries among them) runs around the actor, and a retry lands on the delay queue, where
    the test reads it, instead of in a worker's memory until its eta."""
    proxy = dramatiq.MessageProxy(message)
    broker.emit_before("process_message", proxy)
    try:
        result = broker.get_actor(message.actor_name)(*message.args, **message.kwargs)
    except BaseException as exc:  # handed to the middleware, as the Worker does
        proxy.stuff_exception(exc)
        broker.emit_after("process_message", proxy, exception=exc)
    else:
        broker.emit_after("process_message", proxy, result=result)
    return proxy


@pytest.mark.parametrize(("actor_name", "args", "schedule"), [
    ("handle_mobile_activity", (1, "s1", "android"), (5, 30, 60)),
    ("auto_resume_campaign", (1, "s1", "2025-11-24T16:00:00", 1), (10, 60, 120)),
], ids=["pause", "resume"])
def test_actor_whose_database_fails_is_retried_on_its_fixed_schedule_then_logged_once(
        stub_broker, unmigrated_database, caplog, actor_name, args, schedule):
    message = stub_broker.get_actor(actor_name).send(*args)
    delays = []
    for _ in schedule:
        deliver(stub_broker, take(stub_broker, QUEUE))
        retry = take(stub_broker, f"{QUEUE}.DQ")
        delays.append(round((retry.options["eta"] - current_millis()) / 1000))
        assert retry.message_id == message.message_id
        # its eta has come: back to the queue, as Dramatiq's consumer moves it
        due = retry.copy(queue_name=QUEUE)
        del due.options["eta"]
        stub_broker.enqueue(due)

    proxy = deliver(stub_broker, take(stub_broker, QUEUE))

    assert tuple(delays) == schedule
    assert proxy.failed and waiting(stub_broker, f"{QUEUE}.DQ") == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "no such table" in str(errors[0].exc_info[1])
