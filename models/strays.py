"""Paused campaigns that no resume check reaches, because another program changed them.

A `paused_mobile` campaign without `paused_at` (its status set by another program) has no
time to count its cooldown from; one whose account was deleted has no session for a check to
find. The clock runs these each tick, so such campaigns still resume and none of them stops
the clock from serving the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

from peewee import SQL, fn

from models import statements as sql
from models.activity import to_ms
from models.conflict import Check, Outcome, due_at, resumed_events
from models.db import compiled, locking, write_locked
from models.settings import Settings
from models.tables import (
    PAUSE_EVENT,
    PAUSED_MOBILE,
    RESUME_EVENT,
    RESUMED_QUIET,
    Campaign,
    CampaignPauseEvent,
    WhatsappAccount,
)

# The audit-trail reason of a stray row the clock adopts: phoneguard did not pause it. An
# orphan's resume is an automatic one after a quiet cooldown, so it gets the contract's `quiet`
# (the campaign sender's events take a closed list of reasons).
ADOPTED = "adopted"


@dataclass(frozen=True)
class Stray:
    """A paused_mobile campaign, with its session as the account (or failing that the pause)
    names it; `paused_at` is None or not a time when another program wrote it so."""

    id: int
    workspace_id: int
    session_id: str | None
    tier: int | None
    paused_at: object
    held_until: dt.datetime | None = None


def adopt_unstamped(settings: Settings, *, now: dt.datetime) -> tuple[list[int], list[Check]]:
    """Take every paused_mobile campaign without paused_at as paused at `now` (the first
    moment phoneguard knows of it) and write that pause to the audit trail. Returns the
    campaigns' ids and, for those whose account exists, the check of each session, due one
    cooldown from now."""
    if not _rows(_unstamped()):
        return [], []

    def plan(rows: list[tuple]) -> _Writes:
        strays = [_stray(row) for row in rows]
        ids = [s.id for s in strays]
        if not ids:
            return _Writes([], [])
        update = Campaign.update(paused_at=now).where(Campaign.id.in_(ids))
        return _Writes([compiled(update), _audit(strays, PAUSE_EVENT, ADOPTED, now)], strays)

    writes = write_locked(compiled(locking(_unstamped())), plan)
    sessions = {(s.workspace_id, s.session_id): s.tier for s in writes.strays
                if s.tier is not None}
    checks = [Check(ws, sid, now, 1, due_at(settings, tier, now, None))
              for (ws, sid), tier in sorted(sessions.items())]
    return [s.id for s in writes.strays], checks


def orphans() -> list[Stray]:
    """The paused_mobile campaigns whose account no longer exists; session as paused."""
    return [_stray(row) for row in _rows(_orphaned())]


def resume_orphans(settings: Settings, *, now: dt.datetime,
                   last_activity: dict[tuple[int, str], int]) -> Outcome:
    """Resume the orphans that have been quiet for the default cooldown (the one for an
    account of no known tier), counted from the session's last activity, or from the pause
    where there is none, and not held; each resume goes to the audit trail and gets its
    event."""

    def plan(rows: list[tuple]) -> _Writes:
        ready = [s for s in map(_stray, rows) if _orphan_due(settings, s, last_activity)
                 <= to_ms(now)]
        if not ready:
            return _Writes([], [])
        durations = {s.id: to_ms(now) - to_ms(s.paused_at) for s in ready}
        return _Writes([sql.resume([s.id for s in ready], now),
                        _audit(ready, RESUME_EVENT, RESUMED_QUIET, now, durations)], ready)

    writes = write_locked(compiled(locking(_orphaned())), plan)
    return Outcome([s.id for s in writes.strays], None,
                   partial(_resumed_events, writes.strays, now=now))


def _resumed_events(strays: list[Stray], *, now: dt.datetime) -> tuple:
    sessions: dict[tuple[int, str], dict[int, str]] = {}
    for s in strays:
        sessions.setdefault((s.workspace_id, s.session_id or ""), {})[s.id] = RESUMED_QUIET
    return tuple(event for (ws, sid), reasons in sorted(sessions.items())
                 for event in resumed_events(ws, sid, reasons, now=now, next_due_ms=None))


@dataclass(frozen=True)
class _Writes:
    statements: list
    strays: list[Stray]


def _orphan_due(settings: Settings, stray: Stray, last_activity: dict) -> float:
    if not isinstance(stray.paused_at, dt.datetime):
        return float("inf")  # a pause time that is no time: adopt_unstamped's or a person's
    activity = last_activity.get((stray.workspace_id, stray.session_id))
    base_ms = max(to_ms(stray.paused_at), activity or 0)
    held_ms = to_ms(stray.held_until) if isinstance(stray.held_until, dt.datetime) else 0
    return max(base_ms + settings.default_cooldown * 1000, held_ms)


def _account_column(column):
    """The campaign's account's `column`, as a subquery: an outer join cannot be locked FOR
    UPDATE on PostgreSQL."""
    return (WhatsappAccount.select(column)
            .where(WhatsappAccount.id == Campaign.whatsapp_account_id))


def _unstamped():
    return (Campaign.select(Campaign.id, Campaign.workspace_id,
                            fn.COALESCE(_account_column(WhatsappAccount.session_id),
                                        Campaign.paused_by_session),
                            _account_column(WhatsappAccount.tier), Campaign.paused_at,
                            Campaign.held_until)
            .where((Campaign.status == PAUSED_MOBILE) & Campaign.paused_at.is_null())
            .order_by(Campaign.id))


def _orphaned():
    account = WhatsappAccount.alias()
    has_account = fn.EXISTS(account.select(account.id)
                            .where(account.id == Campaign.whatsapp_account_id))
    return (Campaign.select(Campaign.id, Campaign.workspace_id, Campaign.paused_by_session,
                            SQL("NULL"), Campaign.paused_at, Campaign.held_until)
            .where((Campaign.status == PAUSED_MOBILE) & Campaign.paused_at.is_null(False)
                   & ~has_account)
            .order_by(Campaign.id))


def _rows(query) -> list[tuple]:
    return list(query.tuples())


def _stray(row: tuple) -> Stray:
    cid, workspace_id, session_id, tier, paused_at, held_until = row
    return Stray(cid, workspace_id, session_id, tier, Campaign.paused_at.python_value(paused_at),
                 Campaign.held_until.python_value(held_until))


def _audit(strays: list[Stray], event: str, reason: str, now: dt.datetime,
           durations: dict[int, int] | None = None):
    durations = durations or {}
    rows = [{"workspace_id": s.workspace_id, "campaign_id": s.id,
             "session_id": s.session_id or "", "event": event, "reason": reason,
             "occurred_at": now, "pause_duration_ms": durations.get(s.id)} for s in strays]
    return compiled(CampaignPauseEvent.insert_many(rows))
