"""Events to the campaign sender: each pause and resume posted to EVENTS_WEBHOOK_URL as a
Standard Webhooks delivery, by an actor on a queue of its own, after the database commit.

A receiver that is down, slow or hanging must never hold up a pause: deliveries have short
timeouts, their messages rank behind pauses and checks in a worker's work queue, and a
process runs at most MAX_IN_FLIGHT of them at once (the rest wait a moment on the delay
queue), so worker threads stay free for the conflict queue whatever the receiver does. After
a failed delivery the process leaves the receiver alone for FAILING_PAUSE seconds: the
deliveries it takes meanwhile fail at once and wait for their next retry, so a receiver that
is down costs each event its few scheduled attempts, not a bounce every second.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

import dramatiq
from dramatiq.middleware import CurrentMessage
from standardwebhooks.webhooks import Webhook

from actors import runtime
from actors.backoff import GaveUp, retry_schedule
from models.events import Event

log = logging.getLogger("phoneguard.events")

# Retries after 10 s, 45 s more, then 2, 5, 10, 20 and 30 minutes: 68 minutes in all.
EVENT_BACKOFF = (10, 45, 120, 300, 600, 1200, 1800)
CONNECT_AND_READ_TIMEOUT = 5  # seconds, per attempt
MAX_IN_FLIGHT = 2  # deliveries per worker process at once; the Procfile runs 4 threads
BUSY_DELAY_MS = 1000
FAILING_PAUSE = 10  # seconds; no longer than the first retry's delay
# Dramatiq takes lower numbers first; pauses and checks have the default, 0.
PRIORITY = 100

_in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)
_failing_until = 0.0  # time.monotonic() before which this process does not call the receiver


class DeliveryFailed(Exception):
    """Raised when the receiver cannot be reached or answers other than 2xx or 410."""


@dramatiq.actor(queue_name=runtime.current().settings.events_queue, priority=PRIORITY,
                max_retries=len(EVENT_BACKOFF), time_limit=60_000, throws=(GaveUp,))
@retry_schedule(*EVENT_BACKOFF)
def deliver_event(webhook_id: str, body: str) -> None:
    """Post one event, signed; every retry keeps its webhook-id so the receiver can dedupe.
    A 410 Gone from the receiver ends this delivery's retries."""
    settings = runtime.current().settings
    if not settings.events_url:
        return  # the variable was unset since the event was queued
    if time.monotonic() < _failing_until:
        raise DeliveryFailed("the receiver failed moments ago; not called this time")
    if not _in_flight.acquire(blocking=False):
        _later(webhook_id, body)
        return
    try:
        status = post(settings.events_url, settings.events_secret, webhook_id, body)
    except DeliveryFailed:
        _leave_alone()
        raise
    finally:
        _in_flight.release()
    if status == 410:
        log.warning("event %s: the receiver answered 410 Gone; not retrying", webhook_id)


def post(url: str, secret: str, webhook_id: str, body: str, *,
         now: dt.datetime | None = None) -> int:
    """Sign and post `body` once; the receiver's status, or DeliveryFailed."""
    now = now or dt.datetime.now(dt.UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "phoneguard-events",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=CONNECT_AND_READ_TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as error:
        if error.code == 410 or 200 <= error.code < 300:
            return error.code
        raise DeliveryFailed(f"{url} answered {error.code}") from None
    except (OSError, ValueError) as error:  # refused, reset, timed out, bad URL
        raise DeliveryFailed(f"{url} unreachable: {error}") from None


def publish(events: Callable[[], Iterable[Event]]) -> None:
    """Queue a delivery of each event `events()` makes, when a receiver is configured."""
    if not runtime.current().settings.events_url:
        return
    for event in events():
        deliver_event.send(event.webhook_id(), json.dumps(event.body()))


def _leave_alone() -> None:
    global _failing_until
    _failing_until = time.monotonic() + FAILING_PAUSE


def _later(webhook_id: str, body: str) -> None:
    # Not a failure: the same delivery again in a moment, keeping the retries it has used.
    message = CurrentMessage.get_current_message()
    retries = message.options.get("retries", 0) if message else 0
    deliver_event.send_with_options(args=(webhook_id, body), delay=BUSY_DELAY_MS,
                                    retries=retries)
