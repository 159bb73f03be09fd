"""What the read APIs and the stats command answer: statistics and send permission."""

from __future__ import annotations

import datetime as dt

from peewee import fn

from models.activity import Activity, iso_ms, to_ms
from models.conflict import due_at, session_accounts
from models.settings import Settings
from models.tables import (
    PAUSED_MOBILE,
    RESUME_EVENT,
    Campaign,
    CampaignPauseEvent,
    WhatsappAccount,
)


def conflict_stats(workspace_id: int, *, now: dt.datetime) -> dict:
    """The contract's four figures for one workspace, and how many of the paused campaigns an
    operator's hold keeps paused now; the average comes from the audit trail, operators'
    resumes included."""
    in_workspace = Campaign.workspace_id == workspace_id
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    average_ms = (
        CampaignPauseEvent.select(fn.AVG(CampaignPauseEvent.pause_duration_ms))
        .where(
            (CampaignPauseEvent.workspace_id == workspace_id)
            & (CampaignPauseEvent.event == RESUME_EVENT)
        )
        .scalar()
    )
    return {
        "total_paused": Campaign.select().where(
            in_workspace & (Campaign.status == PAUSED_MOBILE)).count(),
        "total_resumed_today": Campaign.select().where(
            in_workspace & (Campaign.auto_resume_at >= midnight)).count(),
        "average_pause_duration": round(float(average_ms or 0) / 1000, 3),
        "campaigns_paused_multiple_times": Campaign.select().where(
            in_workspace & (Campaign.pause_count > 1)).count(),
        "total_held": Campaign.select().where(
            in_workspace & (Campaign.status == PAUSED_MOBILE) & (Campaign.held_until > now)
        ).count(),
    }


def last_activity(session_id: str, activity: Activity | None, *, now: dt.datetime) -> dict:
    """The last-activity API's body; every field but session_id is null without activity."""
    if activity is None:
        return {"session_id": session_id, "last_activity": None, "device_type": None,
                "seconds_since_activity": None, "message_count": None}
    return {
        "session_id": session_id,
        "last_activity": iso_ms(activity.last_activity_ms),
        "device_type": activity.device_type,
        "seconds_since_activity": _seconds(to_ms(now) - activity.last_activity_ms),
        "message_count": activity.message_count,
    }


def send_permission(
    settings: Settings, workspace_id: int, session_id: str, activity: Activity | None, *,
    now: dt.datetime,
) -> dict:
    """May a campaign sender send on this session now? No while the phone has been active
    within the account's cooldown; `retry_after_seconds` says when to ask again."""
    if not settings.enabled:
        return {"allowed": True, "retry_after_seconds": None, "reason": "feature_disabled"}
    if activity is None:
        return {"allowed": True, "retry_after_seconds": None, "reason": None}
    tiers = session_accounts(workspace_id, session_id).values()
    cooldown = min((settings.cooldown_for(t) for t in tiers), default=settings.cooldown_for(None))
    remaining_ms = activity.last_activity_ms + cooldown * 1000 - to_ms(now)
    if remaining_ms <= 0:
        return {"allowed": True, "retry_after_seconds": None, "reason": None}
    return {"allowed": False, "retry_after_seconds": _seconds(remaining_ms),
            "reason": "phone_active"}


def paused_campaigns(
    settings: Settings, *, last_activity: dict[tuple[int, str], int],
    workspace_id: int | None = None,
) -> list[dict]:
    """Every paused_mobile campaign (of one workspace, or all) with its session and tier, and
    `due_ms`: when a resume check will find its cooldown over, by the rule check_resume
    applies (no earlier than the end of a hold). `last_activity` maps (workspace_id,
    session_id) to epoch ms, as ActivityStore.last_activity_ms returns it."""
    query = (
        Campaign.select(Campaign.id, Campaign.workspace_id, Campaign.name, Campaign.paused_at,
                        Campaign.pause_count, Campaign.held_until, WhatsappAccount.session_id,
                        WhatsappAccount.tier)
        .join(WhatsappAccount, on=(Campaign.whatsapp_account_id == WhatsappAccount.id))
        .where(Campaign.status == PAUSED_MOBILE)
        .order_by(Campaign.workspace_id, WhatsappAccount.session_id, Campaign.id)
        .objects()
    )
    if workspace_id is not None:
        query = query.where(Campaign.workspace_id == workspace_id)
    return [_paused(settings, row, last_activity.get((row.workspace_id, row.session_id)))
            for row in query]


def _paused(settings: Settings, row, last_activity_ms: int | None) -> dict:
    # A row another program set to paused_mobile without paused_at has no base to count from.
    known = last_activity_ms is not None or row.paused_at is not None
    held_ms = to_ms(row.held_until) if row.held_until is not None else 0
    return {
        "campaign_id": row.id, "workspace_id": row.workspace_id, "name": row.name,
        "session_id": row.session_id, "tier": row.tier, "paused_at": row.paused_at,
        "pause_count": row.pause_count, "cooldown": settings.cooldown_for(row.tier),
        "last_activity_ms": last_activity_ms,
        "held_until": row.held_until,
        "due_ms": (max(due_at(settings, row.tier, row.paused_at, last_activity_ms), held_ms)
                   if known else None),
    }


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)
