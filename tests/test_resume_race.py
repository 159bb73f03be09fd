"""A phone message that arrives while a resume check waits for its lock keeps the campaigns
paused (issue 12, item 4): the check decides on the activity it reads once the campaigns are
locked, on every database."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import time

import peewee
import pytest
from playhouse.db_url import connect

from models import keys
from models.activity import ActivityEvent, to_ms
from models.conflict import check_resume, pause_session
from models.control import hold_session
from models.db import database
from models.tables import Campaign
from tests.e2e_helpers import start_worker
from tests.stack_helpers import (
    API,
    backend,
    campaigns_of,
    post_phone_message,
    seed,
    statuses,
    wait_until,
)

T0 = dt.datetime(2026, 11, 29, 16, 0, 0, 250000)
LATER = T0 + dt.timedelta(seconds=21)  # past a tier-4 check's due time (20 s)
DEADLOCK = 1213  # InnoDB: "Deadlock found when trying to get lock"


@contextlib.contextmanager
def row_held(database_url: str, campaign_id: int):
    """Hold the campaign's row from another connection, as another program's transaction
    would: FOR UPDATE on PostgreSQL and MariaDB, SQLite's write lock on SQLite."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    other = connect(database_url)
    with other.connection_context(), other.atomic():
        other.execute_sql("SELECT id FROM campaigns WHERE id = %s FOR UPDATE", (campaign_id,))
        yield
        other.rollback()


def in_thread(work):
    """Run `work` on a thread of its own (so on a connection of its own); its result in
    `result[0]` once joined."""
    result = []

    def run():
        with database.connection_context():
            result.append(work())

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_phone_message_while_the_check_waits_for_its_lock_keeps_the_campaigns_paused(
        db, database_url, settings, store, account_factory):
    _, (campaign,) = account_factory(1, "s1", tier=4)
    typed = to_ms(T0)
    store.record(ActivityEvent(1, "s1", "android", "m1"), now_ms=typed, queue_pause=False)
    check = pause_session(settings, 1, "s1", now=T0, last_activity_ms=typed).next_check

    def last_activity_ms():
        activity = store.get(1, "s1")
        return activity.last_activity_ms if activity else None

    with row_held(database_url, campaign.id):
        thread, result = in_thread(lambda: check_resume(
            settings, check, now=T0 + dt.timedelta(seconds=20),
            last_activity_ms=last_activity_ms))
        time.sleep(0.5)  # the check has read the activity and waits for the row
        typed_again = typed + 19_000
        store.record(ActivityEvent(1, "s1", "android", "m2"), now_ms=typed_again,
                     queue_pause=False)
    thread.join(10)

    (outcome,) = result
    assert outcome.campaign_ids == []
    assert outcome.next_check.due_ms == typed_again + 20_000
    assert Campaign.get_by_id(campaign.id).status == "paused_mobile"


def test_a_pause_in_the_moment_before_a_check_commits_its_resume_still_pauses(
        db, settings, store, account_factory):
    _, (campaign,) = account_factory(1, "s1", tier=4)

    def pause():
        return pause_session(settings, 1, "s1", now=LATER, last_activity_ms=to_ms(LATER))

    resumed, paused = while_a_check_is_about_to_commit(settings, pause)

    assert resumed is None or resumed.campaign_ids == [campaign.id]
    assert paused.campaign_ids == ([] if resumed is None else [campaign.id])
    assert Campaign.get_by_id(campaign.id).status == "paused_mobile"


def test_a_hold_in_the_moment_before_a_check_commits_its_resume_holds_what_it_resumed(
        db, settings, store, account_factory):
    _, (campaign,) = account_factory(1, "s1", tier=4)

    def hold():
        return hold_session(1, "s1", minutes=30, now=LATER)

    resumed, held = while_a_check_is_about_to_commit(settings, hold)

    assert resumed is None or resumed.campaign_ids == [campaign.id]
    assert held.outcome.campaign_ids == [campaign.id]
    row = Campaign.get_by_id(campaign.id)
    assert (row.status, row.pause_reason) == ("paused_mobile", "hold")


def while_a_check_is_about_to_commit(settings, write):
    """Pause session s1 of workspace 1 at T0 (typed then), run its check at LATER (due) on a
    thread of its own, and `write()` on another while the check has read the activity under
    its lock and not yet committed; (the check's outcome, the write's), each retried or None
    where InnoDB ended a wait as a deadlock (retried_if_deadlocked)."""
    check = pause_session(settings, 1, "s1", now=T0, last_activity_ms=to_ms(T0)).next_check
    read, go_on = threading.Event(), threading.Event()

    def activity_then_wait():
        read.set()
        go_on.wait(10)
        return to_ms(T0)

    resuming = in_thread_or_error(lambda: check_resume(
        settings, check, now=LATER, last_activity_ms=activity_then_wait))
    assert read.wait(10)
    writing = in_thread_or_error(write)
    time.sleep(0.5)  # the write runs now, while the check still holds the rows
    go_on.set()
    (resumed,), (written,) = resuming(), writing()
    return retried_if_deadlocked(resumed), retried_if_deadlocked(written, write)


def retried_if_deadlocked(outcome, again=None):
    """`outcome`, or, where InnoDB ended a lock wait as a deadlock (MariaDB: the pause and the
    check reach the rows through different indexes), None for a rolled-back check (its actor
    retries it later, and the campaigns stay paused meanwhile) or `again()` for a pause or a
    hold retried as its actor, or the operator given a 503, would. Nothing fails silently."""
    if not isinstance(outcome, peewee.OperationalError):
        return outcome
    assert backend(database.obj) == "mysql" and outcome.args[0] == DEADLOCK, outcome
    return again() if again else None


def in_thread_or_error(work):
    """Start `work` on a thread of its own; the returned call joins it and gives
    [its result or the exception it raised]."""
    outcome = []

    def run():
        with database.connection_context():
            try:
                outcome.append(work())
            except peewee.OperationalError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return lambda: (thread.join(10), outcome)[1]


@pytest.mark.processes
def test_campaigns_stay_paused_when_the_phone_is_used_while_their_check_waits_for_a_lock(
        backend_stack, database_url):
    cooldown = 4
    account = seed(1, "race")
    stack = backend_stack(CAMPAIGN_CONFLICT_TIER_COOLDOWN=f"1:{cooldown}")
    stack.start("web")
    start_worker(stack)
    redis = stack.redis_client()
    assert post_phone_message(stack, 1, "race")[0] == 200
    wait_until(stack, lambda: statuses(account) == ["paused_mobile"] * 2, 10, "paused")
    due = int(redis.hget(keys.activity(1, "race"), "last_activity_ms")) / 1000 + cooldown

    time.sleep(max(0.0, due - 0.7 - time.time()))
    held = time.time()
    with row_held(database_url, campaigns_of(account)[0].id):
        time.sleep(max(0.0, due + 0.8 - time.time()))  # the check waits for the row now
        assert post_phone_message(stack, 1, "race")[0] == 200
        # The pause job waits for the row too (SQLite's lock; FOR UPDATE on the session's
        # paused rows elsewhere): let it start waiting, then release.
        wait_until(stack, lambda: not redis.exists(keys.pause_pending(1, "race")), 10,
                   "the pause job started")
        time.sleep(0.05)
    released = time.time()
    held = released - held
    typed_again = int(redis.hget(keys.activity(1, "race"), "last_activity_ms")) / 1000

    # Until the phone has been quiet for the cooldown again, the campaigns stay paused.
    while time.time() < typed_again + cooldown - 0.5:
        assert statuses(account) == ["paused_mobile"] * 2, stack.logs()
        time.sleep(0.05)
    permission = stack.get("/api/v1/workspaces/1/sessions/race/send-permission", API)[1]
    assert permission["data"]["allowed"] is False
    wait_until(stack, lambda: statuses(account) == ["ongoing"] * 2, cooldown + 10,
               "resumed once quiet again")
    print(f"\n[{backend(database.obj)}] row held {held:.1f} s; campaigns stayed paused "
          f"{typed_again + cooldown - released:.1f} s after the lock was released, until "
          "the cooldown of the message that arrived meanwhile ended")
