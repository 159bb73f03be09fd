"""A pause or a resume check commits, then queues its events to the campaign sender. Redis
failing in between sends the message to its retry, which finds done what the failed delivery
did: the retry still tells what was committed, under the webhook ids the receiver may already
have. A first delivery tells only its own commit. The actors on Dramatiq's StubBroker with its
Retries middleware, a real Redis and every database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import dramatiq
import pytest
import redis
from dramatiq.common import current_millis, dq_name

from models.activity import to_ms
from models.committed import committed_events
from models.conflict import pause_session
from models.db import utcnow
from models.events import PAUSED, RESUMED, Event
from models.tables import Campaign, CampaignPauseEvent
from tests.test_events import attempt, take_all

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, events_url="http://127.0.0.1:9/events",
                               events_secret=SECRET)


@pytest.fixture
def events(stub_broker, settings):
    """The deliveries queued since the last call, as (webhook-id, body)."""
    def taken() -> list[tuple[str, dict]]:
        if settings.events_queue not in stub_broker.queues:
            return []
        return [(m.args[0], json.loads(m.args[1]))
                for m in take_all(stub_broker, settings.events_queue)]

    return taken


@pytest.fixture
def redis_fails_once_on_events(stub_broker, settings, monkeypatch):
    """Redis refuses the first event queued; returns the webhook ids it refused."""
    refused: list[str] = []
    enqueue = stub_broker.enqueue

    def failing(message, *, delay=None):
        if message.queue_name == settings.events_queue and not refused:
            refused.append(message.args[0])
            raise redis.ConnectionError("Connection reset by peer")
        return enqueue(message, delay=delay)

    monkeypatch.setattr(stub_broker, "enqueue", failing)
    return refused


def sent(broker, actor_name: str, *args) -> dramatiq.Message:
    """The pause message the web queues, taken off its queue."""
    message = broker.get_actor(actor_name).send(*args)
    take_all(broker, message.queue_name)
    return message


def scheduled(broker, check) -> dramatiq.Message:
    """The check's message as the pause schedules it, taken off the delay queue."""
    from actors.conflict import schedule

    message = schedule(check, now=utcnow())
    take_all(broker, dq_name(message.queue_name))
    return message


def retried(broker, message: dramatiq.Message) -> dramatiq.Message:
    """The same message, as Dramatiq's Retries put it on the delay queue."""
    (retry,) = [m for m in take_all(broker, dq_name(message.queue_name))
                if m.message_id == message.message_id]
    return retry


def statuses(campaigns):
    return [Campaign.get_by_id(c.id).status for c in campaigns]


def told(events) -> list[tuple[str, list[int], str]]:
    return [(body["type"], body["data"]["campaign_ids"], body["data"]["reason"])
            for _, body in events]


def test_a_pause_whose_events_redis_refused_after_the_commit_tells_them_on_its_retry(
        stub_broker, account_factory, events, redis_fails_once_on_events):
    _, campaigns = account_factory(campaigns=("ongoing", "ongoing"))
    message = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", current_millis())

    assert isinstance(attempt(stub_broker, message).__cause__, redis.ConnectionError)
    assert statuses(campaigns) == ["paused_mobile", "paused_mobile"]  # committed
    assert attempt(stub_broker, retried(stub_broker, message)) is None

    ((webhook_id, body),) = events()
    assert webhook_id == redis_fails_once_on_events[0]
    assert told([(webhook_id, body)]) == [
        ("campaigns.paused", [c.id for c in campaigns], "mobile_activity")]
    assert body["data"]["next_check_at"] is not None


def test_a_retry_that_pauses_more_still_tells_what_the_failed_delivery_paused(
        stub_broker, account_factory, events, redis_fails_once_on_events):
    account, (first,) = account_factory(campaigns=("ongoing",))
    message = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", current_millis())
    assert attempt(stub_broker, message) is not None
    later = Campaign.create(workspace_id=1, whatsapp_account_id=account.id, name="later",
                            status="ongoing")  # started by the sender before the retry

    assert attempt(stub_broker, retried(stub_broker, message)) is None

    sent_events = events()
    assert told(sent_events) == [("campaigns.paused", [first.id], "mobile_activity"),
                                 ("campaigns.paused", [later.id], "mobile_activity")]
    assert sent_events[0][0] == redis_fails_once_on_events[0]


def test_a_first_delivery_tells_only_its_own_commit(stub_broker, account_factory, events):
    account_factory(campaigns=("ongoing",))
    # Two phone messages: the second webhook came in while the first one's pause ran.
    first = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", current_millis())
    second = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", current_millis())

    assert attempt(stub_broker, first) is None
    assert len(events()) == 1
    assert attempt(stub_broker, second) is None

    assert events() == []


def test_a_resume_check_whose_events_redis_refused_after_the_commit_tells_them_on_its_retry(
        stub_broker, settings, account_factory, events, redis_fails_once_on_events):
    _, campaigns = account_factory(tier=4, campaigns=("ongoing", "ongoing"))
    at = utcnow() - dt.timedelta(seconds=settings.cooldown_for(4) + 5)
    check = pause_session(settings, 1, "s1", now=at, last_activity_ms=to_ms(at)).next_check
    message = scheduled(stub_broker, check)

    assert isinstance(attempt(stub_broker, message).__cause__, redis.ConnectionError)
    assert statuses(campaigns) == ["ongoing", "ongoing"]  # committed
    assert attempt(stub_broker, retried(stub_broker, message)) is None

    ((webhook_id, body),) = events()
    assert webhook_id == redis_fails_once_on_events[0]
    assert told([(webhook_id, body)]) == [
        ("campaigns.resumed", [c.id for c in campaigns], "quiet")]


def test_a_retried_check_that_resumes_the_rest_still_tells_what_the_failed_delivery_resumed(
        stub_broker, settings, account_factory, events, redis_fails_once_on_events,
        monkeypatch):
    from actors import conflict as conflict_actors

    _, (quick,) = account_factory(tier=4, campaigns=("ongoing",))  # 20 s
    _, (slow,) = account_factory(tier=3, campaigns=("ongoing",))  # 30 s, same session
    at = utcnow() - dt.timedelta(minutes=5)
    check = pause_session(settings, 1, "s1", now=at, last_activity_ms=to_ms(at)).next_check
    message = scheduled(stub_broker, check)

    monkeypatch.setattr(conflict_actors, "utcnow", lambda: at + dt.timedelta(seconds=25))
    assert attempt(stub_broker, message) is not None
    assert statuses([quick, slow]) == ["ongoing", "paused_mobile"]
    monkeypatch.setattr(conflict_actors, "utcnow", lambda: at + dt.timedelta(seconds=35))
    assert attempt(stub_broker, retried(stub_broker, message)) is None

    sent_events = events()
    assert told(sent_events) == [("campaigns.resumed", [quick.id], "quiet"),
                                 ("campaigns.resumed", [slow.id], "quiet")]
    assert sent_events[0][0] == redis_fails_once_on_events[0]


def test_two_commits_in_one_millisecond_stay_two_events_with_their_own_ids(db):
    at = dt.datetime(2026, 11, 29, 12, 0, 0, 123_100)
    for campaign_id, occurred_at in ((7, at), (8, at + dt.timedelta(microseconds=500))):
        CampaignPauseEvent.create(workspace_id=1, campaign_id=campaign_id, session_id="s1",
                                  event="paused", reason="mobile_activity",
                                  occurred_at=occurred_at)

    found = committed_events(1, "s1", "paused", ("mobile_activity",),
                             since_ms=to_ms(at) - 1000, next_due_ms=None)

    made = [Event(PAUSED, 1, "s1", (cid,), "mobile_activity", to_ms(at), None) for cid in (7, 8)]
    assert [e.webhook_id() for e in found] == [e.webhook_id() for e in made]


def test_one_commit_makes_one_webhook_id_and_each_commit_its_own():
    event = Event(PAUSED, 1, "s1", (8, 7), "mobile_activity", 1_764_000_000_123, None)

    assert event.webhook_id() == dataclasses.replace(
        event, campaign_ids=(7, 8), next_check_ms=1_764_000_060_123).webhook_id()
    assert event.webhook_id().startswith("msg_")
    assert len({event.webhook_id(),
                dataclasses.replace(event, at_ms=event.at_ms + 1).webhook_id(),
                dataclasses.replace(event, session_id="s2").webhook_id(),
                dataclasses.replace(event, workspace_id=2).webhook_id(),
                dataclasses.replace(event, type=RESUMED, reason="quiet").webhook_id(),
                dataclasses.replace(event, reason="hold").webhook_id()}) == 6
