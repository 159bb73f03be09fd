"""Pausing a session's campaigns and checking them for resume: the heart of phoneguard.

Every function takes settings, time (`now`, naive UTC) and the session's last activity as
arguments, so the cooldown logic is tested without a broker and without sleeping. The
callers (actors, the clock, scripts) read Redis and enqueue the follow-up checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial

from peewee import fn

from models import statements as sql
from models.activity import to_ms
from models.db import Statement, database, write_planned
from models.settings import Settings
from models.tables import (
    PAUSE_EVENT,
    PAUSED_MOBILE,
    RESUME_EVENT,
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
    campaign_ids: list[int]
    next_check: Check | None = None


def session_accounts(workspace_id: int, session_id: str) -> dict[int, int]:
    """{account id: tier} of the session's accounts in that workspace."""
    return dict(database.execute_sql(*sql.accounts(workspace_id, session_id)).fetchall())


def pause_session(
    settings: Settings, workspace_id: int, session_id: str, *,
    now: dt.datetime, last_activity_ms: int | None,
) -> Outcome:
    """Pause every ongoing campaign of the session in one transaction and say which check
    should follow. Running it twice pauses nothing the second time."""
    accounts = session_accounts(workspace_id, session_id)
    if not accounts:
        return Outcome([])
    base_ms = last_activity_ms if last_activity_ms is not None else to_ms(now)

    def plan(rows: list[tuple]) -> _Writes:
        ids = [cid for cid, _ in rows]
        if not ids:
            return _Writes([], [])
        cooldown = min(settings.cooldown_for(accounts[account]) for _, account in rows)
        return _Writes([
            sql.pause(ids, session_id, now),
            sql.audit(ids, PAUSE_EVENT, workspace_id, session_id, now),
        ], ids, base_ms + cooldown * 1000)

    account_ids = list(accounts)
    writes = write_planned(sql.ongoing(workspace_id, account_ids),
                           sql.ongoing(workspace_id, account_ids, locked=True), plan)
    if not writes.ids:
        return Outcome([])
    return Outcome(writes.ids, Check(workspace_id, session_id, now, 1, writes.next_due_ms))


def check_resume(
    settings: Settings, check: Check, *, now: dt.datetime, last_activity_ms: int | None,
) -> Outcome:
    """Resume the check's campaigns whose session has been quiet for their cooldown, all of
    them on the last attempt; the rest get a next check at the moment they will be due."""
    accounts = session_accounts(check.workspace_id, check.session_id)
    if not accounts:
        return Outcome([])
    account_ids = list(accounts)
    writes = write_planned(
        sql.paused(check.workspace_id, account_ids),
        sql.paused(check.workspace_id, account_ids, locked=True),
        partial(_resume_plan, settings, check, accounts, now, last_activity_ms),
    )
    if writes.next_due_ms is None:
        return Outcome(writes.ids)
    following = Check(check.workspace_id, check.session_id, check.paused_at,
                      check.attempt + 1, writes.next_due_ms)
    return Outcome(writes.ids, following)


@dataclass(frozen=True)
class _Writes:
    """What a pause or a resume check writes, and the campaigns and next due time it reports."""

    statements: list[Statement]
    ids: list[int]
    next_due_ms: int | None = None


def _resume_plan(settings: Settings, check: Check, accounts: dict[int, int], now: dt.datetime,
                 last_activity_ms: int | None, rows: list[tuple]) -> _Writes:
    force = check.attempt >= settings.max_attempts
    now_ms = to_ms(now)
    paused, due = {}, {}
    for cid, account, raw_paused_at in rows:
        paused_at = Campaign.paused_at.python_value(raw_paused_at)
        if paused_at is not None and paused_at <= check.paused_at:
            paused[cid] = paused_at
            due[cid] = due_at(settings, accounts[account], paused_at, last_activity_ms)
    ready = sorted(cid for cid in due if force or due[cid] <= now_ms)
    waiting = [due[cid] for cid in due.keys() - set(ready)]
    if not ready:
        return _Writes([], [], min(waiting, default=None))
    durations = {cid: now_ms - to_ms(paused[cid]) for cid in ready}
    return _Writes([
        sql.resume(ready, now),
        sql.audit(ready, RESUME_EVENT, check.workspace_id, check.session_id, now,
                  durations=durations, attempt=check.attempt),
    ], ready, min(waiting, default=None))


def overdue_checks(
    settings: Settings, *, now: dt.datetime, last_activity: dict[tuple[int, str], int],
    grace_seconds: int,
) -> list[Check]:
    """Checks for sessions whose paused campaigns are past due by more than the grace: their
    delayed message was lost (a worker killed with -9, Redis restarted empty)."""
    now_ms = to_ms(now)
    checks = []
    for row in paused_sessions():
        session = (row.workspace_id, row.session_id)
        cooldown = settings.cooldown_for(row.tier)
        base_ms = last_activity.get(session, to_ms(row.latest_pause))
        due_ms = base_ms + cooldown * 1000
        if now_ms < due_ms + grace_seconds * 1000:
            continue
        # The lost chain would have made one check per cooldown since the first pause.
        elapsed = (now_ms - to_ms(row.first_pause)) // 1000
        attempt = min(settings.max_attempts, 1 + elapsed // max(cooldown, 1))
        checks.append(Check(row.workspace_id, row.session_id, row.latest_pause, attempt, due_ms))
    return checks


def paused_sessions():
    """One row per session with paused_mobile campaigns: workspace_id, session_id, tier,
    first_pause, latest_pause."""
    return (
        Campaign.select(
            Campaign.workspace_id, WhatsappAccount.session_id, WhatsappAccount.tier,
            fn.MIN(Campaign.paused_at).alias("first_pause"),
            fn.MAX(Campaign.paused_at).alias("latest_pause"),
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
