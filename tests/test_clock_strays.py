"""Paused campaigns that other programs leave behind (issue 12, items 2 and 10): a
`paused_mobile` row without `paused_at`, and one whose account was deleted. The clock adopts
or resumes them and keeps serving every other session, on every database."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from models.activity import to_ms
from models.conflict import Check, check_resume, overdue_checks, pause_session
from models.db import database, utcnow
from models.strays import adopt_unstamped, resume_orphans
from models.tables import Campaign
from tests.e2e_helpers import start_worker
from tests.stack_helpers import (
    COOLDOWN,
    INTERVAL,
    audit_reasons,
    backend,
    campaigns_of,
    seed,
    statuses,
    wait_until,
)

T0 = dt.datetime(2026, 11, 29, 16, 0, 0, 250000)


def seconds(n):
    return dt.timedelta(seconds=n)


def set_by_another_program(campaign_ids, **columns):
    Campaign.update(**columns).where(Campaign.id.in_(campaign_ids)).execute()


def test_a_paused_campaign_without_paused_at_does_not_keep_other_sessions_lost_checks_waiting(
        db, settings, account_factory):
    account_factory(1, "lost", tier=4)
    pause_session(settings, 1, "lost", now=T0, last_activity_ms=None)
    account_factory(2, "bad", campaigns=("paused_mobile",))  # status set, paused_at left NULL

    checks = overdue_checks(settings, now=T0 + seconds(45), last_activity={}, grace_seconds=15)

    assert [(c.workspace_id, c.session_id) for c in checks] == [(1, "lost")]


def test_a_paused_campaign_without_paused_at_is_adopted_once_and_resumes_after_its_cooldown(
        db, settings, account_factory):
    _, (bad, ongoing) = account_factory(2, "bad", tier=4, campaigns=("paused_mobile", "ongoing"))

    ids, checks = adopt_unstamped(settings, now=T0)
    again = adopt_unstamped(settings, now=T0 + seconds(1))

    assert ids == [bad.id] and again == ([], [])
    assert Campaign.get_by_id(bad.id).paused_at == T0
    assert Campaign.get_by_id(ongoing.id).paused_at is None
    assert checks == [Check(2, "bad", T0, 1, to_ms(T0 + seconds(20)))]
    assert audit_reasons([bad.id]) == [("paused", "adopted")]
    early = check_resume(settings, checks[0], now=T0 + seconds(19), last_activity_ms=None)
    assert early.campaign_ids == []
    assert check_resume(settings, early.next_check, now=T0 + seconds(20),
                        last_activity_ms=None).campaign_ids == [bad.id]


def test_campaigns_whose_account_was_deleted_resume_after_the_default_cooldown(
        db, settings, account_factory):
    account, made = account_factory(1, "gone", tier=4, campaigns=("ongoing", "ongoing"))
    check = pause_session(settings, 1, "gone", now=T0, last_activity_ms=None).next_check
    account.delete_instance()
    # The session's own check can no longer find them.
    forced = Check(1, "gone", check.paused_at, settings.max_attempts, 0)
    assert check_resume(settings, forced, now=T0 + seconds(99),
                        last_activity_ms=None).campaign_ids == []

    early = resume_orphans(settings, now=T0 + seconds(settings.default_cooldown - 1),
                           last_activity={})
    on_time = resume_orphans(settings, now=T0 + seconds(settings.default_cooldown),
                             last_activity={})

    assert early.campaign_ids == [] and on_time.campaign_ids == [c.id for c in made]
    (event,) = on_time.events()
    assert (event.type, event.session_id, event.reason) == ("campaigns.resumed", "gone",
                                                            "quiet")
    assert [Campaign.get_by_id(c.id).status for c in made] == ["ongoing", "ongoing"]
    assert audit_reasons([made[0].id]) == [("paused", "mobile_activity"),
                                            ("resumed", "quiet")]


def test_an_orphans_cooldown_counts_from_its_sessions_last_activity(
        db, settings, account_factory):
    account, (campaign,) = account_factory(1, "gone")
    pause_session(settings, 1, "gone", now=T0, last_activity_ms=None)
    account.delete_instance()
    typed = {(1, "gone"): to_ms(T0 + seconds(10))}

    assert resume_orphans(settings, now=T0 + seconds(35), last_activity=typed).campaign_ids == []
    assert resume_orphans(settings, now=T0 + seconds(40),
                          last_activity=typed).campaign_ids == [campaign.id]


@pytest.mark.processes
def test_the_clock_adopts_and_resumes_stray_rows_and_keeps_serving_every_other_session(
        backend_stack):
    long_ago = utcnow() - seconds(60)
    lost = seed(1, "lost")  # paused, its check lost
    set_by_another_program([c.id for c in campaigns_of(lost)], status="paused_mobile",
                           paused_at=long_ago, pause_reason="mobile_activity", pause_count=1)
    bad = seed(2, "bad", count=1)
    set_by_another_program([c.id for c in campaigns_of(bad)], status="paused_mobile")
    gone, gone_too = seed(3, "gone", count=1), seed(3, "gone-too", count=1)
    (orphan,), (orphan_too,) = campaigns_of(gone), campaigns_of(gone_too)
    set_by_another_program([orphan.id], status="paused_mobile", paused_at=long_ago,
                           paused_by_session="gone")
    set_by_another_program([orphan_too.id], status="paused_mobile")  # and no paused_at
    gone.delete_instance()
    gone_too.delete_instance()
    stack = backend_stack()
    start_worker(stack)
    stack.start("clock")
    started = time.monotonic()

    waiting = {
        "lost check": lambda: statuses(lost) == ["ongoing", "ongoing"],
        "no paused_at": lambda: statuses(bad) == ["ongoing"],
        "orphan": lambda: Campaign.get_by_id(orphan.id).status == "ongoing",
        "orphan without paused_at": lambda: Campaign.get_by_id(orphan_too.id).status
        == "ongoing",
    }
    took = {}
    wait_until(stack, lambda: not resumed_meanwhile(waiting, took, started), 20,
               f"{', '.join(waiting)} resumed")
    print(f"\n[{backend(database.obj)}] resumed, seconds after the clock started (cooldown "
          f"{COOLDOWN} s, interval {INTERVAL} s): " + ", ".join(f"{k} {v:.1f}"
                                                             for k, v in took.items()))

    clock_log = stack.log_path("clock").read_text()
    assert "Traceback" not in clock_log
    assert clock_log.count("adopted ") == 1
    assert "whose account was deleted" in clock_log
    assert audit_reasons([c.id for c in campaigns_of(bad)]) == [
        ("paused", "adopted"), ("resumed", "quiet")]
    assert audit_reasons([orphan.id]) == [("resumed", "quiet")]
    assert audit_reasons([orphan_too.id]) == [("paused", "adopted"),
                                              ("resumed", "quiet")]


def resumed_meanwhile(waiting: dict, took: dict, started: float) -> dict:
    """Move each condition of `waiting` that holds now to `took`, with the seconds since
    `started`; what is still waiting."""
    for what, condition in list(waiting.items()):
        if condition():
            took[what] = time.monotonic() - started
            del waiting[what]
    return waiting
