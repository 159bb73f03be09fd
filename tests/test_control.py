"""Session state and control: the API on Falcon's test client, the hold rules with time
passed in, the checks and events they schedule read off Dramatiq's StubBroker; a real Redis
and every database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import dramatiq
import pytest
from dramatiq.common import dq_name

from models.activity import ActivityEvent, iso_ms, to_ms
from models.conflict import Check, check_resume, overdue_checks, pause_session
from models.tables import Campaign, CampaignPauseEvent
from tests.fixtures import node_event
from tests.web_helpers import API, Clock, post

START = float(int(time.time()))  # whole seconds: held_until compares exactly
EVENTS_URL = "http://127.0.0.1:9/events"


def at(clock: Clock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now, dt.UTC).replace(tzinfo=None)


def session_url(ws=1, sid="s1", action=""):
    return f"/api/v1/workspaces/{ws}/sessions/{sid}" + (f"/{action}" if action else "")


def hold(client, minutes, ws=1, sid="s1"):
    return client.simulate_post(session_url(ws, sid, "hold"), headers=API,
                                body=json.dumps({"minutes": minutes}))


def rows(campaigns):
    return [Campaign.get_by_id(c.id) for c in campaigns]


def audit_trail():
    return [(e.campaign_id, e.event, e.reason) for e in
            CampaignPauseEvent.select().order_by(CampaignPauseEvent.id)]


def delayed(broker, actor="auto_resume_campaign", queue="campaign-conflict"):
    """Messages of `actor` waiting on the queue's delay queue (or the queue itself)."""
    found = []
    for name in (dq_name(queue), queue):
        if name in broker.queues:
            found += [dramatiq.Message.decode(raw) for raw in list(broker.queues[name].queue)]
    return [m for m in found if m.actor_name == actor]


def events_sent(broker, settings):
    return [json.loads(m.args[1]) for m in delayed(broker, "deliver_event",
                                                   settings.events_queue)]


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, events_url=EVENTS_URL,
                               events_secret="whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


@pytest.fixture
def clock():
    return Clock(START)


@pytest.fixture
def api(make_client, clock):
    return make_client(clock=clock)


# -- state ----------------------------------------------------------------------------------

def test_a_session_without_activity_or_pauses_is_idle(api, account_factory):
    account_factory()

    response = api.simulate_get(session_url(), headers=API)

    assert response.status_code == 200
    assert response.json == {"success": True, "data": {
        "session_id": "s1", "state": "idle", "last_activity": None, "paused_campaign_ids": [],
        "next_check_at": None, "held_until": None}}


def test_a_session_whose_phone_was_just_used_with_nothing_paused_is_active(
        api, store, clock, account_factory):
    account_factory(campaigns=())
    store.record(ActivityEvent(1, "s1", "android", "m1"), now_ms=int(clock.now * 1000),
                 queue_pause=False)
    clock.now += 10

    data = api.simulate_get(session_url(), headers=API).json["data"]

    assert data["state"] == "active" and data["last_activity"] == iso_ms(int(START * 1000))
    clock.now += 60
    assert api.simulate_get(session_url(), headers=API).json["data"]["state"] == "idle"


def test_a_paused_session_lists_its_campaigns_and_when_the_check_finds_them_due(
        api, settings, clock, account_factory):
    _, campaigns = account_factory(tier=2, campaigns=("ongoing", "ongoing", "paused"))
    pause_session(settings, 1, "s1", now=at(clock), last_activity_ms=None)

    data = api.simulate_get(session_url(), headers=API).json["data"]

    assert data["state"] == "paused"
    assert data["paused_campaign_ids"] == [campaigns[0].id, campaigns[1].id]
    assert data["next_check_at"] == iso_ms(int(START * 1000) + 45_000)
    assert data["held_until"] is None


@pytest.mark.parametrize("path, status, says", [
    (session_url(1, "nobody"), 404, "No account has session 'nobody' in workspace 1"),
    (session_url(2, "s1"), 404, "in workspace 2"),
    (session_url("x", "s1"), 422, "workspace_id"),
    (session_url(1, "s%00"), 422, "session_id"),
])
def test_an_unknown_session_is_404_and_a_malformed_one_422_naming_the_field(
        api, account_factory, path, status, says):
    account_factory()
    for method, action in (("GET", ""), ("POST", "/resume"), ("POST", "/hold")):
        response = api.simulate_request(method, path + action, headers=API,
                                        body=json.dumps({"minutes": 5}))
        assert response.status_code == status, (method, action, response.text)
        assert response.json["success"] is False and says in response.json["message"]


@pytest.mark.parametrize("path", [session_url(), session_url(action="resume"),
                                  session_url(action="hold"), "/api/v1/sessions"])
def test_state_and_control_need_the_api_token(api, account_factory, path):
    _, (campaign,) = account_factory()
    method = "POST" if path.endswith(("resume", "hold")) else "GET"

    response = api.simulate_request(method, path, body=json.dumps({"minutes": 5}),
                                    headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 401
    assert Campaign.get_by_id(campaign.id).status == "ongoing"


# -- hold -----------------------------------------------------------------------------------

def test_a_hold_pauses_the_ongoing_campaigns_and_holds_those_the_phone_paused(
        api, settings, clock, stub_broker, account_factory):
    _, campaigns = account_factory(campaigns=("ongoing", "ongoing", "completed"))
    _, (phone_paused,) = account_factory(session_id="s1")
    _, (other,) = account_factory(session_id="s2")
    phone_paused_at = at(clock) - dt.timedelta(seconds=5)
    Campaign.update(status="paused_mobile", paused_at=phone_paused_at, pause_count=1,
                    pause_reason="mobile_activity").where(Campaign.id == phone_paused.id).execute()

    response = hold(api, 30)

    until = at(clock) + dt.timedelta(minutes=30)
    assert response.status_code == 200
    assert response.json["data"] == {
        "held_until": iso_ms(to_ms(until)),
        "paused_campaign_ids": sorted([campaigns[0].id, campaigns[1].id, phone_paused.id])}
    first, second, completed, held, untouched = rows([*campaigns, phone_paused, other])
    assert (first.status, first.pause_reason, first.held_until, first.paused_at,
            first.pause_count) == ("paused_mobile", "hold", until, at(clock), 1)
    assert (held.status, held.pause_reason, held.held_until, held.paused_at,
            held.pause_count) == ("paused_mobile", "hold", until, phone_paused_at, 1)
    assert completed.status == "completed" and untouched.status == "ongoing"
    assert audit_trail() == [(campaigns[0].id, "paused", "hold"),
                             (campaigns[1].id, "paused", "hold")]
    state = api.simulate_get(session_url(), headers=API).json["data"]
    assert (state["state"], state["held_until"], state["next_check_at"]) == \
        ("held", iso_ms(to_ms(until)), iso_ms(to_ms(until)))


def test_a_hold_schedules_a_check_at_its_end_and_tells_the_sender(
        api, settings, clock, stub_broker, account_factory):
    _, (campaign,) = account_factory()

    hold(api, 10)

    (check,) = delayed(stub_broker)
    assert check.args == (1, "s1", at(clock).isoformat(), 1)
    (event,) = events_sent(stub_broker, settings)
    assert event == {"type": "campaigns.paused", "timestamp": iso_ms(int(START * 1000)),
                     "data": {"workspace_id": 1, "session_id": "s1",
                              "campaign_ids": [campaign.id], "reason": "hold",
                              "next_check_at": iso_ms(int(START * 1000) + 600_000)}}


def test_a_hold_whose_check_cannot_be_queued_is_503_and_its_retry_finds_it_placed(
        api, settings, stub_broker, account_factory, monkeypatch):
    _, (campaign,) = account_factory()

    def broker_down(message, *, delay=None):
        raise dramatiq.errors.ConnectionClosed(OSError("connection refused"))

    with monkeypatch.context() as broken:
        broken.setattr(stub_broker, "enqueue", broker_down)
        refused = hold(api, 30)

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert refused.json == {"success": False,
                            "message": "Redis or the broker is unreachable; retry shortly"}
    assert rows([campaign])[0].pause_reason == "hold"  # the hold committed before the enqueue
    assert hold(api, 30).status_code == 200


def test_the_same_hold_twice_pauses_and_counts_once_and_the_second_end_replaces_the_first(
        api, clock, account_factory):
    _, (campaign,) = account_factory()
    hold(api, 30)
    clock.now += 1

    response = hold(api, 5)

    until = at(clock) + dt.timedelta(minutes=5)
    assert response.json["data"]["held_until"] == iso_ms(to_ms(until))
    row = Campaign.get_by_id(campaign.id)
    assert (row.held_until, row.pause_count) == (until, 1)
    assert audit_trail() == [(campaign.id, "paused", "hold")]


@pytest.mark.parametrize("body, status, says", [
    ({"minutes": 0}, 422, "minutes must be a whole number from 1 to 1440"),
    ({"minutes": 1441}, 422, "minutes"),
    ({"minutes": "30"}, 422, "minutes"),
    ({"minutes": 2.5}, 422, "minutes"),
    ({"minutes": True}, 422, "minutes"),
    ({}, 422, "Missing required fields: minutes"),
    ([30], 400, "JSON object"),
    ("not json", 400, "not valid JSON"),
])
def test_a_hold_of_a_bad_length_is_refused_naming_minutes_and_changes_nothing(
        api, account_factory, stub_broker, body, status, says):
    _, (campaign,) = account_factory()
    raw = body if isinstance(body, str) else json.dumps(body)

    response = api.simulate_post(session_url(action="hold"), body=raw, headers=API)

    assert response.status_code == status and says in response.json["message"]
    assert Campaign.get_by_id(campaign.id).status == "ongoing" and audit_trail() == []
    assert delayed(stub_broker) == []


def test_phone_activity_during_a_hold_does_not_shorten_it(
        api, settings, clock, stub_broker, account_factory):
    """The owner types during the hold: nothing to pause; the check that finds the hold
    waits for its end, counting attempts from 1, and then the cooldown rule applies."""
    _, (campaign,) = account_factory(tier=1)
    hold(api, 10)
    (hold_check,) = delayed(stub_broker)
    until = at(clock) + dt.timedelta(minutes=10)
    clock.now += 9 * 60 + 50  # typing 10 s before the hold ends
    assert post(api, node_event(message_id="during-hold")).status_code == 200
    dramatiq.get_broker().get_actor("handle_mobile_activity")(1, "s1", "android")
    typed_ms = int(clock.now * 1000)

    # Even the last attempt resumes nothing while the hold lasts.
    last = Check(1, "s1", until, settings.max_attempts, 0)
    early = check_resume(settings, last, now=at(clock), last_activity_ms=typed_ms)
    at_end = check_resume(settings, Check(1, "s1", at(clock), 1, 0), now=until,
                          last_activity_ms=typed_ms)
    quiet = until + dt.timedelta(seconds=settings.cooldown_for(1) - 10)
    after = check_resume(settings, at_end.next_check, now=quiet, last_activity_ms=typed_ms)

    assert hold_check.args[3] == 1
    assert early.campaign_ids == [] and early.next_check == Check(
        1, "s1", max(until, at(clock) - dt.timedelta(seconds=590)), 1, to_ms(until))
    assert at_end.campaign_ids == [] and at_end.next_check.due_ms == to_ms(quiet)
    assert at_end.next_check.attempt == 2
    assert after.campaign_ids == [campaign.id]
    assert audit_trail()[-1] == (campaign.id, "resumed", "quiet")
    assert Campaign.get_by_id(campaign.id).pause_count == 1


def test_a_hold_survives_a_redis_restarted_empty(
        api, settings, clock, redis_client, stub_broker, account_factory):
    _, (campaign,) = account_factory(tier=4)
    hold(api, 10)
    until = at(clock) + dt.timedelta(minutes=10)
    redis_client.flushall()  # every activity key and marker gone
    stub_broker.flush_all()  # and the check at the hold's end lost with them
    halfway = at(clock) + dt.timedelta(minutes=5)

    from scripts.clock import reconcile  # the clock's job, once the runtime is set up

    early = check_resume(settings, Check(1, "s1", at(clock), 5, 0), now=halfway,
                         last_activity_ms=None)
    scheduled_at_end = reconcile(now=until)
    stub_broker.flush_all()
    after_end = overdue_checks(settings, now=until + dt.timedelta(seconds=16),
                               last_activity={}, grace_seconds=15)
    scheduled_after = reconcile(now=until + dt.timedelta(seconds=16))
    (check,) = delayed(stub_broker)
    resumed = check_resume(settings, after_end[0], now=until + dt.timedelta(seconds=16),
                           last_activity_ms=None)

    assert early.campaign_ids == [] and early.next_check.due_ms == to_ms(until)
    assert (scheduled_at_end, scheduled_after) == (0, 1)
    assert check.args[3] == 1 and [(c.attempt, c.due_ms) for c in after_end] == \
        [(1, to_ms(until))]
    assert resumed.campaign_ids == [campaign.id]
    assert audit_trail()[-1] == (campaign.id, "resumed", "quiet")


# -- resume now -----------------------------------------------------------------------------

def test_resume_now_resumes_every_paused_campaign_and_ends_the_hold(
        api, settings, clock, stub_broker, account_factory):
    _, campaigns = account_factory(campaigns=("ongoing", "ongoing", "paused"))
    hold(api, 60)
    clock.now += 30
    stub_broker.flush_all()

    response = api.simulate_post(session_url(action="resume"), headers=API)

    assert response.status_code == 200
    assert response.json["data"] == {"resumed_campaign_ids": [campaigns[0].id, campaigns[1].id]}
    first, _, manual = rows(campaigns)
    assert (first.status, first.auto_resume_at, first.held_until) == ("ongoing", at(clock), None)
    assert manual.status == "paused"  # paused by a person elsewhere: never resumed here
    assert [r for _, _, r in audit_trail()] == ["hold", "hold", "manual_resume", "manual_resume"]
    assert CampaignPauseEvent.get(CampaignPauseEvent.event == "resumed").pause_duration_ms \
        == 30_000
    (event,) = events_sent(stub_broker, settings)
    assert (event["type"], event["data"]["reason"], event["data"]["next_check_at"]) == \
        ("campaigns.resumed", "manual_resume", None)
    state = api.simulate_get(session_url(), headers=API).json["data"]
    assert (state["state"], state["held_until"]) == ("idle", None)


def test_resume_now_twice_resumes_and_counts_once(api, settings, stub_broker, account_factory):
    account_factory()
    hold(api, 60)
    first = api.simulate_post(session_url(action="resume"), headers=API)
    stub_broker.flush_all()

    second = api.simulate_post(session_url(action="resume"), headers=API)

    assert len(first.json["data"]["resumed_campaign_ids"]) == 1
    assert second.status_code == 200 and second.json["data"] == {"resumed_campaign_ids": []}
    assert [event for _, event, _ in audit_trail()] == ["paused", "resumed"]
    assert events_sent(stub_broker, settings) == []


def test_resume_now_while_a_check_is_pending_leaves_the_check_nothing_to_do(
        api, settings, clock, store, stub_broker, account_factory):
    _, (campaign,) = account_factory()
    store.record(ActivityEvent(1, "s1", "android", "m1"), now_ms=int(time.time() * 1000),
                 queue_pause=True)
    dramatiq.get_broker().get_actor("handle_mobile_activity")(1, "s1", "android")
    (pending,) = delayed(stub_broker)
    api.simulate_post(session_url(action="resume"), headers=API)
    trail = audit_trail()

    dramatiq.get_broker().get_actor("auto_resume_campaign")(*pending.args)

    assert Campaign.get_by_id(campaign.id).status == "ongoing"
    assert audit_trail() == trail == [(campaign.id, "paused", "mobile_activity"),
                                      (campaign.id, "resumed", "manual_resume")]
    assert len(delayed(stub_broker)) == 1  # the pending one only: nothing rescheduled


# -- automatic resumes say why ----------------------------------------------------------------

def test_automatic_resumes_are_audited_and_announced_as_quiet_or_forced(
        settings, stub_broker, account_factory, clock):
    _, (quiet,) = account_factory(session_id="quiet")
    _, (forced,) = account_factory(session_id="forced")
    now = at(clock)
    for sid in ("quiet", "forced"):
        pause_session(settings, 1, sid, now=now, last_activity_ms=to_ms(now))
    later = now + dt.timedelta(seconds=61)

    calm = check_resume(settings, Check(1, "quiet", now, 1, 0), now=later,
                        last_activity_ms=to_ms(now))
    typing = check_resume(settings, Check(1, "forced", now, settings.max_attempts, 0),
                          now=later, last_activity_ms=to_ms(later))

    assert audit_trail()[-2:] == [(quiet.id, "resumed", "quiet"),
                                  (forced.id, "resumed", "forced")]
    assert [(e.type, e.reason, e.campaign_ids) for e in calm.events() + typing.events()] == [
        ("campaigns.resumed", "quiet", (quiet.id,)),
        ("campaigns.resumed", "forced", (forced.id,))]


# -- the list -------------------------------------------------------------------------------

def test_the_list_shows_every_session_with_live_activity_or_paused_campaigns(
        api, settings, store, clock, account_factory):
    account_factory(1, "idle")
    account_factory(1, "typing", campaigns=())
    account_factory(1, "paused")
    account_factory(1, "held")
    account_factory(2, "elsewhere")
    store.record(ActivityEvent(1, "typing", "android", "m1"), now_ms=int(clock.now * 1000),
                 queue_pause=False)
    store.record(ActivityEvent(1, "no-account", "ios", "m2"), now_ms=int(clock.now * 1000),
                 queue_pause=False)
    pause_session(settings, 1, "paused", now=at(clock), last_activity_ms=None)
    pause_session(settings, 2, "elsewhere", now=at(clock), last_activity_ms=None)
    hold(api, 30, sid="held")

    everything = api.simulate_get("/api/v1/sessions", headers=API).json["data"]["sessions"]
    one = api.simulate_get("/api/v1/sessions", params={"workspace_id": 2},
                           headers=API).json["data"]["sessions"]

    assert [(s["workspace_id"], s["session_id"], s["state"]) for s in everything] == [
        (1, "held", "held"), (1, "no-account", "active"), (1, "paused", "paused"),
        (1, "typing", "active"), (2, "elsewhere", "paused")]
    assert [s["session_id"] for s in one] == ["elsewhere"]
    assert set(one[0]) == {"workspace_id", "session_id", "state", "last_activity",
                           "paused_campaign_ids", "next_check_at", "held_until"}
    bad = api.simulate_get("/api/v1/sessions", params={"workspace_id": "x"}, headers=API)
    assert bad.status_code == 422 and "workspace_id" in bad.json["message"]
