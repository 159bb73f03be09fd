"""Pausing a session's campaigns and checking them for resume: the heart of phoneguard.

Every function takes settings, time (`now`, naive UTC) and the session's last activity as
arguments, so the cooldown logic is tested without a broker and without sleeping. The
callers (actors, the clock, scripts) read Redis and enqueue the follow-up checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from peewee import fn

from models import events
from models import statements as sql
from models.activity import to_ms
from models.committed import or_committed
from models.db import Statement, database, write_locked
from models.settings import Settings
from models.tables import (
    ONGOING,
    PAUSE_EVENT,
    PAUSED_MOBILE,
    REASON_MOBILE,
    RESUME_EVENT,
    RESUMED_FORCED,
    RESUMED_QUIET,
    Campaign,
    WhatsappAccount,
)


@dataclass(frozen=True)
class Check:
    """A resume check to run at `due_ms` for the campaigns one pause stopped.

    `paused_at` is that pause's timestamp: the check never touches a campaign paused later,
    which has a check of its own.
    """

    workspace_id: int
    session_id: str
    paused_at: dt.datetime
    attempt: int
    due_ms: int

    def delay_ms(self, now: dt.datetime) -> int:
        return max(0, self.due_ms - to_ms(now))


@dataclass(frozen=True)
class Outcome:
    """What a pause, a check or an operator's action did, committed: the campaigns it changed,
    the check to schedule next, and the events to tell the campaign sender."""

    campaign_ids: list[int]
    next_check: Check | None = None
    # Built only when called: nothing is spent on events while no receiver is configured.
    events: Callable[[], tuple[events.Event, ...]] = tuple


def session_accounts(workspace_id: int, session_id: str) -> dict[int, int]:
    """{account id: tier} of the session's accounts in that workspace."""
    return dict(database.execute_sql(*sql.accounts(workspace_id, session_id)).fetchall())


def pause_session(
    settings: Settings, workspace_id: int, session_id: str, *,
    now: dt.datetime, last_activity_ms: int | None, since_ms: int | None = None,
) -> Outcome:
    """Pause every ongoing campaign of the session in one transaction and say which check
    should follow. Running it twice pauses nothing the second time. A retry gives `since_ms`:
    its events then include the pauses the audit trail holds from then on (what its failed
    delivery committed, see models.committed)."""
    accounts = session_accounts(workspace_id, session_id)
    if not accounts:
        return Outcome([])
    base_ms = last_activity_ms if last_activity_ms is not None else to_ms(now)

    def plan(rows: list[tuple]) -> _Writes:
        ongoing = [(cid, account) for cid, account, status in rows if status == ONGOING]
        ids = [cid for cid, _ in ongoing]
        if not ids:
            return _Writes([], [])
        cooldown = min(settings.cooldown_for(accounts[account]) for _, account in ongoing)
        return _Writes([
            sql.pause(ids, session_id, now),
            sql.audit(ids, PAUSE_EVENT, workspace_id, session_id, now),
        ], ids, base_ms + cooldown * 1000)

    writes = write_locked(sql.pausable(workspace_id, list(accounts)), plan)
    if not writes.ids:
        cooldown = min(settings.cooldown_for(tier) for tier in accounts.values())
        return Outcome([], events=or_committed(
            tuple, workspace_id, session_id, PAUSE_EVENT, (REASON_MOBILE,), since_ms=since_ms,
            next_due_ms=base_ms + cooldown * 1000))
    stored = stored_pause_time(writes.ids[0], now)
    own = partial(paused_events, workspace_id, session_id, writes.ids, REASON_MOBILE, now=now,
                  next_due_ms=writes.next_due_ms)
    return Outcome(writes.ids, Check(workspace_id, session_id, stored, 1, writes.next_due_ms),
                   or_committed(own, workspace_id, session_id, PAUSE_EVENT, (REASON_MOBILE,),
                                since_ms=since_ms, next_due_ms=writes.next_due_ms))


def stored_pause_time(campaign_id: int, now: dt.datetime) -> dt.datetime:
    """The paused_at the campaign just paused at `now` holds, for its check to carry.

    A check resumes what was paused at or before its time, compared with what the column
    holds: a column of whole seconds (the original design's TIMESTAMP) rounds `now` (up, half
    the time, on PostgreSQL)."""
    (raw,) = database.execute_sql(*sql.pause_time(campaign_id)).fetchone() or (None,)
    stored = Campaign.paused_at.python_value(raw)
    return stored if isinstance(stored, dt.datetime) else now


def check_resume(
    settings: Settings, check: Check, *, now: dt.datetime,
    last_activity_ms: int | None | Callable[[], int | None], since_ms: int | None = None,
) -> Outcome:
    """Resume the check's campaigns whose session has been quiet for their cooldown, all of
    them on the last attempt; the rest get a next check at the moment they will be due.

    `last_activity_ms` is the session's last activity, or a callable that reads it: that is
    read once the campaigns are locked, so a phone message that arrives while the check waits
    for the lock keeps them paused. A retry gives `since_ms`, as pause_session's."""
    accounts = session_accounts(check.workspace_id, check.session_id)
    if not accounts:
        return Outcome([])
    account_ids = list(accounts)

    def plan(rows: list[tuple]) -> _Writes:
        latest = last_activity_ms() if callable(last_activity_ms) else last_activity_ms
        return _resume_plan(settings, check, accounts, now, latest, rows)

    writes = write_locked(
        sql.paused(check.workspace_id, account_ids, locked=True), plan)
    following = None
    if writes.held_from is not None:  # attempts count from 1 again once the hold ends
        following = Check(check.workspace_id, check.session_id,
                          max(check.paused_at, writes.held_from), 1, writes.next_due_ms)
    elif writes.next_due_ms is not None:
        following = Check(check.workspace_id, check.session_id, check.paused_at,
                          check.attempt + 1, writes.next_due_ms)
    own = partial(resumed_events, check.workspace_id, check.session_id, writes.reasons,
                  now=now, next_due_ms=writes.next_due_ms)
    return Outcome(writes.ids, following, or_committed(
        own, check.workspace_id, check.session_id, RESUME_EVENT, (RESUMED_QUIET, RESUMED_FORCED),
        since_ms=since_ms, next_due_ms=writes.next_due_ms))


def paused_events(workspace_id: int, session_id: str, campaign_ids: list[int], reason: str, *,
                  now: dt.datetime, next_due_ms: int | None) -> tuple[events.Event, ...]:
    """The campaigns.paused event of `campaign_ids`."""
    return (events.Event(events.PAUSED, workspace_id, session_id, tuple(campaign_ids), reason,
                         to_ms(now), next_due_ms),)


def resumed_events(workspace_id: int, session_id: str, reasons: dict[int, str], *,
                   now: dt.datetime, next_due_ms: int | None) -> tuple[events.Event, ...]:
    """One campaigns.resumed event per reason among `reasons` ({campaign id: reason})."""
    if not reasons:
        return ()
    by_reason: dict[str, list[int]] = {}
    for cid, reason in sorted(reasons.items()):
        by_reason.setdefault(reason, []).append(cid)
    at_ms = to_ms(now)
    return tuple(events.Event(events.RESUMED, workspace_id, session_id, tuple(ids), reason,
                              at_ms, next_due_ms) for reason, ids in by_reason.items())


@dataclass(frozen=True)
class _Writes:
    """What a pause or a resume check writes, and the campaigns and next due time it reports;
    a check held by an operator writes nothing and says from which pause to check again."""

    statements: list[Statement]
    ids: list[int]
    next_due_ms: int | None = None
    reasons: dict[int, str] = field(default_factory=dict)
    held_from: dt.datetime | None = None


def _held(rows: list[tuple], now: dt.datetime) -> _Writes | None:
    """The session is under an operator's hold: nothing resumes, whatever the phone did, and
    the check waits for the hold's end, covering every campaign paused until now."""
    ends = [Campaign.held_until.python_value(row[3]) for row in rows if row[3] is not None]
    end = max(ends, default=None)
    if end is None or end <= now:
        return None
    pauses = [Campaign.paused_at.python_value(row[2]) for row in rows]
    return _Writes([], [], to_ms(end), held_from=max(
        (p for p in pauses if isinstance(p, dt.datetime)), default=now))


def _resume_plan(settings: Settings, check: Check, accounts: dict[int, int], now: dt.datetime,
                 last_activity_ms: int | None, rows: list[tuple]) -> _Writes:
    held = _held(rows, now)
    if held is not None:
        return held
    force = check.attempt >= settings.max_attempts
    now_ms = to_ms(now)
    paused, due = {}, {}
    for cid, account, raw_paused_at, _ in rows:
        paused_at = Campaign.paused_at.python_value(raw_paused_at)
        # None or not a time: another program's row, which the clock adopts (models.strays).
        if isinstance(paused_at, dt.datetime) and paused_at <= check.paused_at:
            paused[cid] = paused_at
            due[cid] = due_at(settings, accounts[account], paused_at, last_activity_ms)
    ready = sorted(cid for cid in due if force or due[cid] <= now_ms)
    waiting = [due[cid] for cid in due.keys() - set(ready)]
    if not ready:
        return _Writes([], [], min(waiting, default=None))
    durations = {cid: now_ms - to_ms(paused[cid]) for cid in ready}
    reasons = {cid: RESUMED_QUIET if due[cid] <= now_ms else RESUMED_FORCED for cid in ready}
    return _Writes([
        sql.resume(ready, now),
        sql.audit(ready, RESUME_EVENT, check.workspace_id, check.session_id, now,
                  durations=durations, attempt=check.attempt, reasons=reasons),
    ], ready, min(waiting, default=None), reasons)


def overdue_checks(
    settings: Settings, *, now: dt.datetime, last_activity: dict[tuple[int, str], int],
    grace_seconds: int, rows: Iterable | None = None,
) -> list[Check]:
    """Checks for sessions whose paused campaigns are past due by more than the grace: their
    delayed message was lost (a worker killed with -9, Redis restarted empty). A held session
    is due no earlier than its hold's end. `rows` are paused_sessions() rows (read here when
    not given); a row without readable pause times is skipped."""
    now_ms = to_ms(now)
    checks = []
    for row in paused_sessions() if rows is None else rows:
        if not readable(row):
            continue
        session = (row.workspace_id, row.session_id)
        cooldown = settings.cooldown_for(row.tier)
        base_ms = last_activity.get(session, to_ms(row.latest_pause))
        held_ms = to_ms(row.held_until) if row.held_until is not None else None
        due_ms = max(base_ms + cooldown * 1000, held_ms or 0)
        if now_ms < due_ms + grace_seconds * 1000:
            continue
        # The lost chain would have made one check per cooldown since the first pause, or
        # since the hold ended: a hold's end counts attempts from 1 again.
        elapsed = (now_ms - (held_ms or to_ms(row.first_pause))) // 1000
        attempt = min(settings.max_attempts, 1 + elapsed // max(cooldown, 1))
        checks.append(Check(row.workspace_id, row.session_id, row.latest_pause, attempt, due_ms))
    return checks


def readable(row) -> bool:
    """Whether a paused_sessions() row has pause times to count from: another program may
    have set the status without paused_at, or written something that is no time."""
    return isinstance(row.first_pause, dt.datetime) and isinstance(row.latest_pause, dt.datetime)


def paused_sessions():
    """One row per session with paused_mobile campaigns: workspace_id, session_id, tier,
    first_pause, latest_pause, held_until (the latest hold's end, or None)."""
    return (
        Campaign.select(
            Campaign.workspace_id, WhatsappAccount.session_id, WhatsappAccount.tier,
            fn.MIN(Campaign.paused_at).alias("first_pause"),
            fn.MAX(Campaign.paused_at).alias("latest_pause"),
            fn.MAX(Campaign.held_until).alias("held_until"),
        )
        .join(WhatsappAccount, on=(Campaign.whatsapp_account_id == WhatsappAccount.id))
        .where(Campaign.status == PAUSED_MOBILE)
        .group_by(Campaign.workspace_id, WhatsappAccount.session_id, WhatsappAccount.tier)
        .objects()
    )


def due_at(settings: Settings, tier: int, paused_at: dt.datetime,
            last_activity_ms: int | None) -> int:
    # Cooldown counts from the last activity; with the activity key gone (expired, or Redis
    # restarted empty) it counts from the pause.
    base_ms = last_activity_ms if last_activity_ms is not None else to_ms(paused_at)
    return base_ms + settings.cooldown_for(tier) * 1000
