"""What a retried pause or resume check tells the campaign sender again: the commits of its
session that the audit trail holds since the failed delivery began.

A pause or a check commits, then queues its events: Redis failing in between sends the message
to its retry, which finds done what its failed delivery did. The events are made again from the
audit trail, with the webhook ids of their first making, so the receiver dedupes whichever it
already has.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

from models import events
from models.activity import from_ms, to_ms
from models.db import exactly
from models.tables import PAUSE_EVENT, CampaignPauseEvent


def or_committed(own: Callable[[], tuple[events.Event, ...]], workspace_id: int,
                 session_id: str, event: str, reasons: tuple[str, ...], *,
                 since_ms: int | None, next_due_ms: int | None):
    """`own`, the events of a first delivery's commit (made only when called); on a retry
    (`since_ms` given), every commit the audit trail holds from then on instead: the retry's
    own and what its failed delivery committed (committed_events)."""
    if since_ms is None:
        return own
    return partial(committed_events, workspace_id, session_id, event, reasons,
                   since_ms=since_ms, next_due_ms=next_due_ms)


def committed_events(workspace_id: int, session_id: str, event: str, reasons: tuple[str, ...],
                     *, since_ms: int, next_due_ms: int | None) -> tuple[events.Event, ...]:
    """The events of the session's pauses or resumes (`event`, for `reasons`) that the audit
    trail holds from `since_ms` on, one per commit and reason, as they were first made; only
    `next_check_at` is as known now."""
    audit = CampaignPauseEvent
    rows = (audit.select(audit.campaign_id, audit.reason, audit.occurred_at)
            .where((audit.workspace_id == workspace_id) & (audit.event == event)
                   & (audit.occurred_at >= from_ms(since_ms)) & audit.reason.in_(reasons)
                   & exactly(audit.session_id, session_id))
            .tuples())
    commits: dict[tuple[dt.datetime, str], list[int]] = {}
    for campaign_id, reason, occurred_at in rows:  # one commit: one `now`, to the microsecond
        commits.setdefault((audit.occurred_at.python_value(occurred_at), reason), []).append(
            campaign_id)
    kind = events.PAUSED if event == PAUSE_EVENT else events.RESUMED
    return tuple(events.Event(kind, workspace_id, session_id, tuple(sorted(ids)), reason,
                              to_ms(at), next_due_ms)
                 for (at, reason), ids in sorted(commits.items()))
