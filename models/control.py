"""An operator's actions on a session: hold its campaigns until a given time, resume them now.

Rare and deliberate, unlike the pause and the resume check, so each runs straight through in
one write transaction on the session's rows read FOR UPDATE (models.db.write_transaction),
with the pause and resume statements of models.statements. The caller schedules the check
and sends the events the returned Outcome lists, after the commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

from models import statements as sql
from models.activity import to_ms
from models.conflict import (
    Check,
    Outcome,
    paused_events,
    resumed_events,
    session_accounts,
    stored_pause_time,
)
from models.db import database, write_transaction
from models.errors import SessionNotFound
from models.tables import (
    ONGOING,
    PAUSE_EVENT,
    PAUSED_MOBILE,
    REASON_HOLD,
    RESUME_EVENT,
    RESUMED_MANUALLY,
    Campaign,
)

MAX_HOLD_MINUTES = 1440


@dataclass(frozen=True)
class Held:
    """A hold placed: its end, and what it paused or held (`outcome.campaign_ids`)."""

    held_until: dt.datetime
    outcome: Outcome


def hold_session(workspace_id: int, session_id: str, *, minutes: int,
                 now: dt.datetime) -> Held:
    """Pause every ongoing campaign of the session and hold every paused one until `minutes`
    from now, whatever the phone does; a hold already there gets this end instead. Placing
    the same hold twice pauses and counts nothing the second time."""
    account_ids = _account_ids(workspace_id, session_id)
    until = now + dt.timedelta(minutes=minutes)
    with write_transaction():
        # One locked read of both, as a pause does: a check resuming some of them commits
        # before this reads them, so none slips between an ongoing and a paused read.
        rows = database.execute_sql(*sql.pausable(workspace_id, account_ids)).fetchall()
        ongoing = [cid for cid, _, status in rows if status == ONGOING]
        paused = [cid for cid, _, status in rows if status == PAUSED_MOBILE]
        if ongoing:
            database.execute_sql(*sql.pause(ongoing, session_id, now, reason=REASON_HOLD,
                                            held_until=until))
            database.execute_sql(*sql.audit(ongoing, PAUSE_EVENT, workspace_id, session_id,
                                            now, reasons=REASON_HOLD))
        if paused:
            database.execute_sql(*sql.hold(paused, until))
    held = sorted(ongoing + paused)
    if not held:
        return Held(until, Outcome([]))
    announce = partial(paused_events, workspace_id, session_id, held, REASON_HOLD, now=now,
                       next_due_ms=to_ms(until))
    paused_at = stored_pause_time(ongoing[0], now) if ongoing else now
    return Held(until, Outcome(held, Check(workspace_id, session_id, paused_at, 1, to_ms(until)),
                               announce))


def resume_session(workspace_id: int, session_id: str, *, now: dt.datetime) -> Outcome:
    """Resume every paused_mobile campaign of the session now, ending any hold; pending
    checks then find nothing to do. A second call resumes and counts nothing."""
    account_ids = _account_ids(workspace_id, session_id)
    now_ms = to_ms(now)
    with write_transaction():
        rows = database.execute_sql(*sql.paused(workspace_id, account_ids, locked=True))
        paused_at = {cid: Campaign.paused_at.python_value(at) for cid, _, at, _ in rows}
        ids = sorted(paused_at)
        if ids:
            durations = {cid: now_ms - to_ms(at) for cid, at in paused_at.items() if at}
            database.execute_sql(*sql.resume(ids, now))
            database.execute_sql(*sql.audit(ids, RESUME_EVENT, workspace_id, session_id, now,
                                            durations, reasons=RESUMED_MANUALLY))
    reasons = dict.fromkeys(ids, RESUMED_MANUALLY)
    return Outcome(ids, None, partial(resumed_events, workspace_id, session_id, reasons, now=now,
                                      next_due_ms=None))


def _account_ids(workspace_id: int, session_id: str) -> list[int]:
    accounts = session_accounts(workspace_id, session_id)
    if not accounts:
        raise SessionNotFound(f"No account has session {session_id!r} in workspace "
                              f"{workspace_id}")
    return list(accounts)
