"""The pause and resume rules, with time passed in: no broker, no sleeping."""

import datetime as dt

from models.activity import to_ms
from models.conflict import Check, check_resume, overdue_checks, pause_session
from models.tables import Campaign, CampaignPauseEvent

T0 = dt.datetime(2025, 11, 24, 16, 0, 0, 123000)


def seconds(n):
    return dt.timedelta(seconds=n)


def status_of(campaigns):
    return [Campaign.get_by_id(c.id).status for c in campaigns]


def test_pause_stops_every_ongoing_campaign_of_the_session_and_nothing_else(
        db, settings, account_factory):
    _, mine = account_factory(1, "s1", campaigns=("ongoing", "ongoing", "paused", "completed"))
    _, other_session = account_factory(1, "s2")
    _, other_workspace = account_factory(2, "s1")

    outcome = pause_session(settings, 1, "s1", now=T0, last_activity_ms=to_ms(T0))

    assert sorted(outcome.campaign_ids) == [mine[0].id, mine[1].id]
    assert status_of(mine) == ["paused_mobile", "paused_mobile", "paused", "completed"]
    assert status_of(other_session) == ["ongoing"]
    assert status_of(other_workspace) == ["ongoing"]
    paused = Campaign.get_by_id(mine[0].id)
    assert (paused.paused_at, paused.pause_reason, paused.paused_by_session, paused.pause_count) \
        == (T0, "mobile_activity", "s1", 1)


def test_pause_keeps_milliseconds_of_the_pause_time(db, settings, account_factory):
    _, (campaign,) = account_factory()
    pause_session(settings, 1, "s1", now=T0, last_activity_ms=None)
    assert Campaign.get_by_id(campaign.id).paused_at.microsecond == 123000


def test_pause_delivered_twice_pauses_and_counts_once(db, settings, account_factory):
    _, (campaign,) = account_factory()
    first = pause_session(settings, 1, "s1", now=T0, last_activity_ms=None)
    second = pause_session(settings, 1, "s1", now=T0 + seconds(1), last_activity_ms=None)

    assert first.campaign_ids == [campaign.id] and second.campaign_ids == []
    assert second.next_check is None
    assert Campaign.get_by_id(campaign.id).pause_count == 1
    assert CampaignPauseEvent.select().count() == 1


def test_first_check_is_due_one_tier_cooldown_after_the_last_activity(
        db, settings, account_factory):
    account_factory(tier=4)
    last = T0 - seconds(3)
    outcome = pause_session(settings, 1, "s1", now=T0, last_activity_ms=to_ms(last))
    assert outcome.next_check.due_ms == to_ms(last + seconds(20))
    assert outcome.next_check.attempt == 1


def test_check_resumes_once_the_phone_was_quiet_for_the_cooldown(db, settings, account_factory):
    _, (campaign,) = account_factory(tier=2)
    check = pause_session(settings, 1, "s1", now=T0, last_activity_ms=to_ms(T0)).next_check

    outcome = check_resume(settings, check, now=T0 + seconds(45), last_activity_ms=to_ms(T0))

    assert outcome.campaign_ids == [campaign.id] and outcome.next_check is None
    resumed = Campaign.get_by_id(campaign.id)
    assert resumed.status == "ongoing" and resumed.auto_resume_at == T0 + seconds(45)
    event = CampaignPauseEvent.get(CampaignPauseEvent.event == "resumed")
    assert event.pause_duration_ms == 45_000


def test_check_that_finds_recent_activity_checks_again_exactly_when_cooldown_ends(
        db, settings, account_factory):
    _, (campaign,) = account_factory(tier=1)
    check = pause_session(settings, 1, "s1", now=T0, last_activity_ms=to_ms(T0)).next_check
    typing_again = T0 + seconds(50)

    outcome = check_resume(settings, check, now=T0 + seconds(60),
                           last_activity_ms=to_ms(typing_again))

    assert outcome.campaign_ids == []
    assert outcome.next_check.due_ms == to_ms(typing_again + seconds(60))
    assert outcome.next_check.attempt == 2
    assert Campaign.get_by_id(campaign.id).status == "paused_mobile"


def test_last_attempt_resumes_even_while_the_owner_keeps_typing(db, settings, account_factory):
    _, (campaign,) = account_factory()
    check = pause_session(settings, 1, "s1", now=T0, last_activity_ms=to_ms(T0)).next_check
    last = Check(1, "s1", check.paused_at, settings.max_attempts, 0)

    outcome = check_resume(settings, last, now=T0 + seconds(300),
                           last_activity_ms=to_ms(T0 + seconds(299)))

    assert outcome.campaign_ids == [campaign.id] and outcome.next_check is None


def test_check_never_resumes_a_campaign_paused_after_it_was_scheduled(
        db, settings, account_factory):
    _, (campaign,) = account_factory()
    old = pause_session(settings, 1, "s1", now=T0, last_activity_ms=None).next_check
    Campaign.update(status="ongoing").execute()  # resumed by hand, then paused again
    pause_session(settings, 1, "s1", now=T0 + seconds(30), last_activity_ms=None)

    forced = Check(1, "s1", old.paused_at, settings.max_attempts, 0)
    outcome = check_resume(settings, forced, now=T0 + seconds(61), last_activity_ms=None)

    assert outcome.campaign_ids == []
    assert Campaign.get_by_id(campaign.id).status == "paused_mobile"


def test_check_never_resumes_a_campaign_paused_for_another_reason(
        db, settings, account_factory):
    _, (campaign,) = account_factory(campaigns=("paused",))
    Campaign.update(pause_reason="manual", paused_at=T0).execute()
    check = Check(1, "s1", T0 + seconds(1), settings.max_attempts, 0)

    assert check_resume(settings, check, now=T0 + seconds(999), last_activity_ms=None) \
        .campaign_ids == []
    assert Campaign.get_by_id(campaign.id).status == "paused"


def test_without_an_activity_key_the_cooldown_counts_from_the_pause(
        db, settings, account_factory):
    account_factory(tier=3)
    check = pause_session(settings, 1, "s1", now=T0, last_activity_ms=None).next_check

    early = check_resume(settings, check, now=T0 + seconds(29), last_activity_ms=None)
    on_time = check_resume(settings, early.next_check, now=T0 + seconds(30),
                           last_activity_ms=None)

    assert early.campaign_ids == [] and len(on_time.campaign_ids) == 1


def test_a_pause_that_lands_late_is_counted_and_resumed_by_the_next_check(
        db, settings, account_factory):
    _, (campaign,) = account_factory(tier=4)
    long_ago = to_ms(T0 - seconds(120))
    outcome = pause_session(settings, 1, "s1", now=T0, last_activity_ms=long_ago)

    assert outcome.campaign_ids == [campaign.id]
    assert outcome.next_check.delay_ms(T0) == 0
    resumed = check_resume(settings, outcome.next_check, now=T0, last_activity_ms=long_ago)
    assert resumed.campaign_ids == [campaign.id]


def test_overdue_checks_name_sessions_whose_check_was_lost(db, settings, account_factory):
    account_factory(1, "lost", tier=4)
    account_factory(1, "fresh", tier=4)
    pause_session(settings, 1, "lost", now=T0, last_activity_ms=None)
    pause_session(settings, 1, "fresh", now=T0 + seconds(30), last_activity_ms=None)

    checks = overdue_checks(settings, now=T0 + seconds(45), last_activity={}, grace_seconds=15)

    assert [(c.session_id, c.attempt) for c in checks] == [("lost", 3)]
