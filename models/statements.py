"""The statements a pause and a resume check run, each compiled by Peewee once per shape.

A check runs four statements; compiling them anew each time cost more than running them, on a
worker that must keep up with thousands of checks due in the same seconds. Each function builds
its Peewee query (the one tests/test_query_plans.py asks every backend to plan) and hands
models.db.shaped() the parameters in the order that query's SQL takes them; the SQL text is
compiled on the first call of each shape. tests/test_statements.py checks every one against
Peewee's own compiling on every backend.
"""

from __future__ import annotations

import datetime as dt

from peewee import Value

from models.db import Statement, exactly, exactly_params, locking, shaped
from models.tables import (
    ONGOING,
    PAUSED_MOBILE,
    REASON_HOLD,
    REASON_MOBILE,
    Campaign,
    CampaignPauseEvent,
    WhatsappAccount,
)


def accounts_of(workspace_id: int, session_id: str):
    """The session's accounts (id, tier): the lookup both the pause and the resume begin with."""
    return WhatsappAccount.select(WhatsappAccount.id, WhatsappAccount.tier).where(
        exactly(WhatsappAccount.session_id, session_id)
        & (WhatsappAccount.workspace_id == workspace_id)
    )


def pausable_of(workspace_id: int, account_ids: list[int]):
    """The pause query: the session's ongoing campaigns, and its paused_mobile ones.

    Locking the paused ones too makes a pause wait for a resume check that holds them: on
    PostgreSQL a pause that read only `ongoing` rows in the moment before the check commits
    would find nothing to pause, and the check would then resume them while the phone is in
    use. Waiting, it reads them as the check left them (ongoing) and pauses them.
    """
    return Campaign.select(Campaign.id, Campaign.whatsapp_account_id, Campaign.status).where(
        Campaign.whatsapp_account_id.in_(account_ids)
        & Campaign.status.in_([ONGOING, PAUSED_MOBILE]) & _in_workspace(workspace_id)
    )


def paused_of(workspace_id: int, account_ids: list[int]):
    """The resume query: the paused_mobile campaigns of the session's accounts.

    Shaped as the pause query, so that every backend reaches the session's rows through
    idx_campaigns_account_status. SQLite without statistics (as most SQLite files are) plans
    a join on the session through idx_campaigns_workspace_status (every paused campaign of
    the workspace) and a `paused_at <=` range through idx_campaigns_status_paused (of every
    workspace), so the caller picks out which pause stopped which campaign: a session has a
    handful of rows.
    """
    return Campaign.select(Campaign.id, Campaign.whatsapp_account_id, Campaign.paused_at,
                           Campaign.held_until).where(
        Campaign.whatsapp_account_id.in_(account_ids) & (Campaign.status == PAUSED_MOBILE)
        & _in_workspace(workspace_id)
    )


def _in_workspace(workspace_id: int):
    """`workspace_id = ?` as a filter the planner cannot take an index for.

    The account ids already pick the session's few rows. Left indexable, the condition lets
    a planner whose statistics have not yet seen the workspace (a new one, thousands of
    campaigns created since the last ANALYZE) estimate it at one row and read the session's
    campaigns through idx_campaigns_workspace_status: every campaign of the workspace, on
    each pause. `+ 0` makes it an expression no index holds, on every backend; the value is
    converted as the column's own would be, since Peewee converts only beside a bare column."""
    return (Campaign.workspace_id + 0) == Value(workspace_id,
                                                converter=Campaign.workspace_id.db_value)


def accounts(workspace_id: int, session_id: str) -> Statement:
    """The session's accounts (id, tier)."""
    return shaped(("accounts",), lambda: accounts_of(workspace_id, session_id),
                  (*exactly_params(session_id), workspace_id))


def pausable(workspace_id: int, account_ids: list[int]) -> Statement:
    """The session's ongoing and paused_mobile campaigns (id, account id, status), FOR
    UPDATE: what a pause locks."""
    return shaped(
        ("pausable", len(account_ids)),
        lambda: locking(pausable_of(workspace_id, account_ids)),
        (*account_ids, ONGOING, PAUSED_MOBILE, 0, workspace_id),  # 0: _in_workspace's
    )


def paused(workspace_id: int, account_ids: list[int], *, locked: bool = False) -> Statement:
    """The session's paused_mobile campaigns (id, account id, paused_at, held_until), FOR
    UPDATE if `locked`."""
    return shaped(
        ("paused", len(account_ids), locked),
        lambda: _locked_if(locked, paused_of(workspace_id, account_ids)),
        (*account_ids, PAUSED_MOBILE, 0, workspace_id),  # 0: _in_workspace's
    )


def pause_time(campaign_id: int) -> Statement:
    """The paused_at a campaign holds, as its column stored it."""
    return shaped(("pause_time",),
                  lambda: Campaign.select(Campaign.paused_at).where(Campaign.id == campaign_id),
                  (campaign_id,))


def pause(ids: list[int], session_id: str, now: dt.datetime, *, reason: str = REASON_MOBILE,
          held_until: dt.datetime | None = None) -> Statement:
    """Pause the campaigns `ids`, which the caller read as ongoing under the write lock; an
    operator's hold gives its reason and end.

    By id alone: a status condition beside the ids makes SQLite (without statistics) plan the
    update through idx_campaigns_status_paused, every campaign of that status."""
    return shaped(
        ("pause", len(ids)),
        lambda: Campaign.update(
            status=PAUSED_MOBILE, paused_at=now, pause_reason=reason,
            paused_by_session=session_id, pause_count=Campaign.pause_count + 1,
            held_until=held_until,
        ).where(Campaign.id.in_(ids)),
        (PAUSED_MOBILE, now, reason, 1, session_id, held_until, *ids),  # the table's order
    )


def hold(ids: list[int], held_until: dt.datetime) -> Statement:
    """Hold the campaigns `ids`, already paused_mobile, until `held_until`."""
    return shaped(
        ("hold", len(ids)),
        lambda: Campaign.update(pause_reason=REASON_HOLD, held_until=held_until)
        .where(Campaign.id.in_(ids)),
        (REASON_HOLD, held_until, *ids),
    )


def resume(ids: list[int], now: dt.datetime) -> Statement:
    """Resume the campaigns `ids`, which the caller read as paused_mobile under the lock; a
    hold they were under is over."""
    return shaped(
        ("resume", len(ids)),
        lambda: Campaign.update(status=ONGOING, auto_resume_at=now, held_until=None)
        .where(Campaign.id.in_(ids)),
        (ONGOING, now, None, *ids),
    )


_AUDIT_FIELDS = [
    CampaignPauseEvent.workspace_id, CampaignPauseEvent.campaign_id, CampaignPauseEvent.session_id,
    CampaignPauseEvent.event, CampaignPauseEvent.reason, CampaignPauseEvent.occurred_at,
    CampaignPauseEvent.pause_duration_ms, CampaignPauseEvent.attempt,
]


def audit(ids: list[int], event: str, workspace_id: int, session_id: str, now: dt.datetime,
          durations: dict[int, int] | None = None, attempt: int | None = None, *,
          reasons: str | dict[int, str] = REASON_MOBILE) -> Statement:
    """The audit trail's rows for `ids`: one per campaign paused or resumed, each with its
    reason (one for all, or per campaign id)."""
    durations = durations or {}
    reason_of = reasons.get if isinstance(reasons, dict) else (lambda cid: reasons)
    rows = [(workspace_id, cid, session_id, event, reason_of(cid), now, durations.get(cid),
             attempt) for cid in ids]
    return shaped(
        ("audit", len(ids)),
        lambda: CampaignPauseEvent.insert_many(rows, fields=_AUDIT_FIELDS),
        tuple(value for row in rows for value in row),
    )


def _locked_if(locked: bool, query):
    return locking(query) if locked else query

