"""The two actors of the contract, thin adapters over models.conflict.

Both take ids and primitives and are idempotent: a pause delivered twice finds nothing left
to pause, and a resume check delivered twice finds nothing left paused. What they committed
is followed up (the next check, the events to the campaign sender) by follow_up(), which the
operator's actions in web/control.py use too.
"""

from __future__ import annotations

import datetime as dt
import logging

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

from actors import events, runtime
from actors.backoff import GaveUp, retry_schedule
from models import deployment_metrics
from models.activity import to_ms
from models.conflict import Check, Outcome, check_resume, pause_session
from models.db import utcnow
from models.deployment_metrics import PAUSE_LATENCY, RESUME_LATENESS, Histogram

log = logging.getLogger("phoneguard.actors")

PAUSE_BACKOFF = (5, 30, 60)
RESUME_BACKOFF = (10, 60, 120)
# How far apart the clocks of the web and worker hosts may be for a retry to find what its
# failed delivery committed; a wider window only tells more events again, under their ids.
CLOCK_SKEW_MS = 5_000

_queue = runtime.current().settings.queue


@dramatiq.actor(queue_name=_queue, max_retries=len(PAUSE_BACKOFF), time_limit=30_000,
                throws=(GaveUp,))
@retry_schedule(*PAUSE_BACKOFF)
def handle_mobile_activity(workspace_id: int, session_id: str, device_type: str = "unknown",
                           received_ms: int | None = None):
    """Pause every ongoing campaign of the session, then schedule its resume check.
    `received_ms`: when web took the webhook (epoch ms), for the pause latency metric."""
    rt = runtime.current()
    # Cleared before reading the database: activity from here on queues a pause of its own.
    activity = rt.store.pause_started(workspace_id, session_id)
    now = utcnow()
    outcome = pause_session(
        rt.settings, workspace_id, session_id, now=now,
        last_activity_ms=activity.last_activity_ms if activity else None,
        since_ms=on_retry(received_ms),
    )
    # The delay counts from now, not from before the transaction: a pause that waited for
    # the database lock must still check at last activity + cooldown, not that much later.
    committed = utcnow()
    follow_up(outcome, now=committed)
    observe(PAUSE_LATENCY, outcome, since_ms=received_ms, now=committed)
    log.info("paused workspace=%s session=%s device=%s campaigns=%s", workspace_id,
             session_id, device_type, outcome.campaign_ids)


@dramatiq.actor(queue_name=_queue, max_retries=len(RESUME_BACKOFF), time_limit=60_000,
                throws=(GaveUp,))
@retry_schedule(*RESUME_BACKOFF)
def auto_resume_campaign(workspace_id: int, session_id: str, paused_at: str, attempt: int = 1,
                         due_ms: int | None = None):
    """Resume the session's campaigns paused at or before `paused_at` once the phone has been
    quiet for their cooldown; check again when it will be, or resume all on the last attempt.
    `due_ms`: when this check was due (epoch ms), for the resume lateness metric."""
    rt = runtime.current()
    check = Check(workspace_id, session_id, dt.datetime.fromisoformat(paused_at), attempt,
                  due_ms or 0)

    def last_activity_ms() -> int | None:
        # check_resume reads it once the campaigns are locked: a phone message that came
        # while the check waited for the lock counts.
        activity = rt.store.get(workspace_id, session_id)
        return activity.last_activity_ms if activity else None

    outcome = check_resume(rt.settings, check, now=utcnow(), last_activity_ms=last_activity_ms,
                           since_ms=on_retry(due_ms or to_ms(check.paused_at)))
    committed = utcnow()
    follow_up(outcome, now=committed)  # as above: due time, not lock wait later
    observe(RESUME_LATENESS, outcome, since_ms=due_ms, now=committed)
    if outcome.campaign_ids:
        log.info("resumed workspace=%s session=%s attempt=%s campaigns=%s", workspace_id,
                 session_id, attempt, outcome.campaign_ids)


def on_retry(since_ms: int | None) -> int | None:
    """On a retry, from when to tell again what the audit trail holds: the failed delivery
    may have committed and then met Redis down before queueing its events. `since_ms` is when
    that delivery's work began (the webhook taken, the check due) by the clock of another
    host, which CLOCK_SKEW_MS allows for. None on a first delivery: it tells only its own."""
    message = CurrentMessage.get_current_message()
    if since_ms is None or message is None or not message.options.get("retries"):
        return None
    return since_ms - CLOCK_SKEW_MS


def follow_up(outcome: Outcome, *, now: dt.datetime) -> None:
    """After a commit: schedule the check the outcome asks for and queue its events."""
    if outcome.next_check:
        schedule(outcome.next_check, now=now)
    events.publish(outcome.events)


def schedule(check: Check, *, now: dt.datetime) -> dramatiq.Message:
    """Enqueue `check` to run at its due time (at once when that has passed)."""
    delay = check.delay_ms(now) or None  # a zero delay would still go through the delay queue
    return auto_resume_campaign.send_with_options(
        args=(check.workspace_id, check.session_id, check.paused_at.isoformat(), check.attempt),
        kwargs={"due_ms": check.due_ms}, delay=delay,
    )


def observe(histogram: Histogram, outcome: Outcome, *, since_ms: int | None,
            now: dt.datetime) -> None:
    """Count the time from `since_ms` to the commit of a pause or resume that changed
    campaigns, where web's /metrics reads it. Never fails the job: the campaigns are
    committed, and a retry would find nothing to do and so observe nothing."""
    if since_ms is None or not outcome.campaign_ids:
        return
    try:
        deployment_metrics.observe(runtime.current().store.client, histogram,
                                   (to_ms(now) - since_ms) / 1000)
    except redis.RedisError as exc:
        log.warning("could not count %s (%s)", histogram.name, exc)
