"""A pause or a resume check commits, then queues its events to the campaign sender. A worker
killed in between, or Redis failing there, leaves the message to be delivered again: that
delivery finds nothing left to do, and still tells what was committed, under the webhook ids
the receiver may already have. The actors on Dramatiq's StubBroker, a real Redis and every
database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import dramatiq
import pytest
import redis
from dramatiq.common import current_millis, dq_name

from models.activity import to_ms
from models.conflict import pause_session
from models.db import utcnow
from models.events import PAUSED, RESUMED, Event
from models.tables import Campaign
from tests.test_events import attempt, take_all

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, events_url="http://127.0.0.1:9/events",
                               events_secret=SECRET)


@pytest.fixture
def events(stub_broker, settings):
    """The deliveries queued so far, as (webhook-id, body), taken off the events queue."""
    def taken() -> list[tuple[str, dict]]:
        queue = stub_broker.queues.get(settings.events_queue)
        found = []
        while queue is not None and not queue.empty():
            message = dramatiq.Message.decode(queue.get_nowait())
            queue.task_done()
            found.append((message.args[0], json.loads(message.args[1])))
        return found

    return taken


@pytest.fixture
def redis_fails_once_on_events(stub_broker, settings, monkeypatch):
    """Redis refuses the first event enqueued after the commit; returns the webhook ids that
    were refused."""
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
    """The message the web (or the pause, for a check) queues, taken off its queue."""
    message = broker.get_actor(actor_name).send(*args)
    take_all(broker, message.queue_name)
    return message


def retried(broker, message: dramatiq.Message) -> dramatiq.Message:
    """The same message, as Dramatiq's Retries put it on the delay queue."""
    (retry,) = [m for m in take_all(broker, dq_name(message.queue_name))
                if m.message_id == message.message_id]
    return retry


def checked(check) -> tuple:
    """The arguments of the check's message, as actors.conflict.schedule sends them."""
    return (check.workspace_id, check.session_id, check.paused_at.isoformat(), check.attempt,
            check.due_ms)


def statuses(campaigns):
    return [Campaign.get_by_id(c.id).status for c in campaigns]


def test_a_pause_whose_events_redis_refused_after_the_commit_tells_them_on_its_retry(
        stub_broker, account_factory, events, redis_fails_once_on_events):
    _, campaigns = account_factory(campaigns=("ongoing", "ongoing"))
    received_ms = current_millis()

    message = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", received_ms)

    assert isinstance(attempt(stub_broker, message).__cause__, redis.ConnectionError)
    assert statuses(campaigns) == ["paused_mobile", "paused_mobile"]  # committed
    assert attempt(stub_broker, retried(stub_broker, message)) is None

    ((webhook_id, body),) = events()
    assert webhook_id == redis_fails_once_on_events[0]
    assert (body["type"], body["data"]["campaign_ids"], body["data"]["reason"]) == (
        "campaigns.paused", [c.id for c in campaigns], "mobile_activity")
    assert body["data"]["next_check_at"] is not None


def test_a_pause_delivered_again_after_its_commit_tells_its_event_under_the_same_id(
        stub_broker, account_factory, events):
    _, campaigns = account_factory(campaigns=("ongoing",))
    received_ms = current_millis()

    message = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", received_ms)

    assert attempt(stub_broker, message) is None
    first = events()
    # The worker died before acknowledging it: Dramatiq hands the same message out again.
    assert attempt(stub_broker, message) is None

    assert [(i, b["type"]) for i, b in events()] == [(first[0][0], "campaigns.paused")]
    assert len(first) == 1


def test_phone_activity_received_after_the_pause_committed_tells_nothing_again(
        stub_broker, account_factory, events):
    account_factory(campaigns=("ongoing",))
    pause = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", current_millis())
    assert attempt(stub_broker, pause) is None
    assert len(events()) == 1
    time.sleep(0.002)  # a webhook received after the commit, not in the same millisecond

    typing_on = sent(stub_broker, "handle_mobile_activity", 1, "s1", "android", current_millis())
    assert attempt(stub_broker, typing_on) is None

    assert events() == []


def test_a_resume_check_whose_events_redis_refused_after_the_commit_tells_them_on_its_retry(
        stub_broker, settings, account_factory, events, redis_fails_once_on_events):
    _, campaigns = account_factory(tier=4, campaigns=("ongoing", "ongoing"))
    at = utcnow() - dt.timedelta(seconds=settings.cooldown_for(4) + 5)
    check = pause_session(settings, 1, "s1", now=at, last_activity_ms=to_ms(at)).next_check
    message = sent(stub_broker, "auto_resume_campaign", *checked(check))

    assert isinstance(attempt(stub_broker, message).__cause__, redis.ConnectionError)
    assert statuses(campaigns) == ["ongoing", "ongoing"]  # committed
    assert attempt(stub_broker, retried(stub_broker, message)) is None

    ((webhook_id, body),) = events()
    assert webhook_id == redis_fails_once_on_events[0]
    assert (body["type"], body["data"]["campaign_ids"], body["data"]["reason"]) == (
        "campaigns.resumed", [c.id for c in campaigns], "quiet")


def test_a_check_that_finds_the_phone_in_use_tells_no_earlier_resume(
        stub_broker, settings, account_factory, events, store):
    account_factory(tier=4, campaigns=("ongoing",))
    cooldown = settings.cooldown_for(4)
    at = utcnow() - dt.timedelta(seconds=cooldown + 5)
    first = pause_session(settings, 1, "s1", now=at, last_activity_ms=to_ms(at)).next_check
    assert attempt(stub_broker, sent(stub_broker, "auto_resume_campaign", *checked(first))) \
        is None
    assert [b["type"] for _, b in events()] == ["campaigns.resumed"]
    later = utcnow()
    again = pause_session(settings, 1, "s1", now=later, last_activity_ms=to_ms(later)).next_check
    events()  # what that pause told

    assert attempt(stub_broker, sent(stub_broker, "auto_resume_campaign", *checked(again))) \
        is None

    assert events() == []  # still within its cooldown; the first resume is not told again


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
