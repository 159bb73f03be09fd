"""Events to the campaign sender: the delivery actor against a real HTTP receiver on
127.0.0.1 that verifies every signature with the standardwebhooks library. Each attempt runs
as a worker runs it (the current message set, then Dramatiq's own Retries middleware), on
the StubBroker; a retry is the very message Retries put on the delay queue."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import pytest
from dramatiq.broker import MessageProxy
from dramatiq.common import dq_name
from dramatiq.middleware import CurrentMessage, Retries
from standardwebhooks.webhooks import Webhook

from models.events import PAUSED, Event

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENT = Event(PAUSED, 1, "s1", (7, 8), "mobile_activity", 1_764_000_000_123, 1_764_000_060_123)


class Receiver:
    """A campaign sender's endpoint: answers each delivery with the next of `statuses`
    (then 204), or hangs while `hanging` is set; keeps what it verified."""

    def __init__(self, secret: str = SECRET):
        self.webhook = Webhook(secret)
        self.statuses: list[int] = []
        self.hanging = threading.Event()
        self.released = threading.Event()
        self.received: list[tuple[str, dict]] = []  # (webhook-id, verified body)
        self.refused = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/events"

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hanging.is_set():
                    receiver.released.wait(30)  # never answers while the test runs
                    return
                try:
                    verified = receiver.webhook.verify(body, dict(self.headers.items()))
                except Exception:
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append((self.headers["webhook-id"], verified))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, format, *args):
                pass

        return Handler

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def events_on(stub_broker, settings, receiver, monkeypatch):
    """The runtime's settings pointing at the receiver, which no delivery has failed on yet."""
    from actors import events, runtime

    monkeypatch.setattr(events, "_failing_until", 0.0)

    rt = runtime.current()
    monkeypatch.setattr(runtime, "_current", dataclasses.replace(rt, settings=dataclasses.replace(
        settings, events_url=receiver.url, events_secret=SECRET)))
    return runtime.current().settings


def queued(broker, queue: str) -> list[dramatiq.Message]:
    return [dramatiq.Message.decode(raw) for raw in list(broker.queues[queue].queue)]


def take_all(broker, queue: str) -> list[dramatiq.Message]:
    messages = queued(broker, queue)
    broker.queues[queue].queue.clear()
    return messages


def attempt(broker, message: dramatiq.Message) -> Exception | None:
    """One delivery attempt as a worker runs it: CurrentMessage set around the actor, then
    Dramatiq's Retries middleware deciding whether, and when, to retry."""
    current = next(m for m in broker.middleware if isinstance(m, CurrentMessage))
    retries = next(m for m in broker.middleware if isinstance(m, Retries))
    proxy = MessageProxy(message)
    current.before_process_message(broker, proxy)
    failure = None
    try:
        broker.get_actor(message.actor_name)(*message.args, **message.kwargs)
    except Exception as exc:  # what the worker hands to the middleware
        failure = exc
    finally:
        current.after_process_message(broker, proxy)
    retries.after_process_message(broker, proxy, exception=failure)
    return failure


def publish_one(broker, settings) -> dramatiq.Message:
    from actors.events import publish

    publish(lambda: [EVENT])
    (message,) = take_all(broker, settings.events_queue)
    return message


def test_an_event_arrives_signed_as_standard_webhooks_with_the_contracts_body(
        events_on, stub_broker, receiver):
    message = publish_one(stub_broker, events_on)

    assert attempt(stub_broker, message) is None

    ((webhook_id, body),) = receiver.received
    assert webhook_id == message.args[0] and webhook_id.startswith("msg_")
    assert body == {"type": "campaigns.paused", "timestamp": "2025-11-24T16:00:00.123Z",
                    "data": {"workspace_id": 1, "session_id": "s1", "campaign_ids": [7, 8],
                             "reason": "mobile_activity",
                             "next_check_at": "2025-11-24T16:01:00.123Z"}}
    assert receiver.refused == 0 and queued(stub_broker, dq_name(events_on.events_queue)) \
        == []


def test_a_failed_delivery_is_retried_on_its_schedule_with_the_same_webhook_id(
        events_on, stub_broker, receiver):
    receiver.statuses = [500, 503]
    message = publish_one(stub_broker, events_on)
    delayed_queue = dq_name(events_on.events_queue)
    delays = []

    for _ in range(3):
        receiver_left_alone_until(0.0)  # the retry comes 10 s later, past FAILING_PAUSE
        sent_at = time.time() * 1000
        failure = attempt(stub_broker, message)
        if failure is None:
            break
        (message,) = take_all(stub_broker, delayed_queue)
        delays.append(round((message.options["eta"] - sent_at) / 1000))

    assert delays == [10, 45]  # the first retry within 30 s, the second within a minute
    assert [webhook_id for webhook_id, _ in receiver.received] == [message.args[0]] * 3
    assert queued(stub_broker, delayed_queue) == []


def receiver_left_alone_until(moment: float) -> None:
    from actors import events

    events._failing_until = moment


def test_after_a_failure_the_process_leaves_the_receiver_alone_until_the_next_retry(
        events_on, stub_broker, receiver):
    from actors.events import EVENT_BACKOFF, FAILING_PAUSE

    receiver.statuses = [500]
    first, second = publish_one(stub_broker, events_on), publish_one(stub_broker, events_on)
    attempt(stub_broker, first)

    failure = attempt(stub_broker, second)

    assert isinstance(failure, dramatiq.Retry) and len(receiver.received) == 1
    retries = queued(stub_broker, dq_name(events_on.events_queue))
    assert [m.args for m in retries] == [first.args, second.args]
    assert EVENT_BACKOFF[0] >= FAILING_PAUSE  # a retry always finds the receiver called again


def test_the_retries_back_off_over_more_than_an_hour(stub_broker):
    from actors.events import EVENT_BACKOFF  # declared once the stub runtime is set up

    assert EVENT_BACKOFF[0] <= 30 and EVENT_BACKOFF[1] <= 60
    assert list(EVENT_BACKOFF) == sorted(EVENT_BACKOFF) and sum(EVENT_BACKOFF) >= 3600


def test_a_410_from_the_receiver_ends_that_deliverys_retries(events_on, stub_broker, receiver):
    receiver.statuses = [410]
    message = publish_one(stub_broker, events_on)

    assert attempt(stub_broker, message) is None

    assert len(receiver.received) == 1
    assert queued(stub_broker, dq_name(events_on.events_queue)) == []


def test_a_receiver_that_is_down_is_retried(events_on, stub_broker, receiver):
    message = publish_one(stub_broker, events_on)
    receiver.server.server_close()  # nothing listens on the port any more

    failure = attempt(stub_broker, message)

    assert isinstance(failure, dramatiq.Retry)
    (retry,) = queued(stub_broker, dq_name(events_on.events_queue))
    assert retry.args == message.args and retry.options["retries"] == 1


def test_without_an_events_url_nothing_is_queued(stub_broker, settings):
    from actors.events import publish

    publish(lambda: [EVENT])

    assert queued(stub_broker, settings.events_queue) == []


def test_deliveries_to_a_hanging_receiver_never_take_more_than_their_share_of_threads(
        events_on, stub_broker, receiver):
    """MAX_IN_FLIGHT deliveries hang on the receiver; the next one does not wait for them:
    it is put back on the delay queue at once, keeping its webhook-id and retries used."""
    from actors.events import MAX_IN_FLIGHT

    receiver.hanging.set()
    stuck = [publish_one(stub_broker, events_on) for _ in range(MAX_IN_FLIGHT)]
    threads = [threading.Thread(target=attempt, args=(stub_broker, m), daemon=True)
               for m in stuck]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # let them reach the receiver
    message = publish_one(stub_broker, events_on)
    message.options["retries"] = 2

    started = time.monotonic()
    assert attempt(stub_broker, message) is None
    took = time.monotonic() - started

    (later,) = take_all(stub_broker, dq_name(events_on.events_queue))
    assert later.args == message.args and later.options["retries"] == 2
    assert took < 1.0, took  # not the receiver's timeout: it never went to the receiver
    receiver.released.set()
    with contextlib.suppress(Exception):
        for thread in threads:
            thread.join(10)


def test_the_receiver_command_verifies_and_prints_each_event(events_on, stub_broker, capsys):
    import io

    from scripts.events_receiver import make_server

    out = io.StringIO()
    server = make_server("127.0.0.1", 0, SECRET, out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from actors.events import post

        body = json.dumps(EVENT.body())
        assert post(f"http://127.0.0.1:{server.server_port}/events", SECRET, "msg_1", body) \
            == 204
        assert post(f"http://127.0.0.1:{server.server_port}/events", SECRET, "msg_1", body) \
            == 204
        wrong = "whsec_" + "A" * 32
        with pytest.raises(Exception, match="401"):
            post(f"http://127.0.0.1:{server.server_port}/events", wrong, "msg_2", body)
    finally:
        server.shutdown()
        server.server_close()

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["webhook_id"], line["retry"], line["type"]) for line in lines] == [
        ("msg_1", False, "campaigns.paused"), ("msg_1", True, "campaigns.paused")]
