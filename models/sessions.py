"""What an operator sees of a session: its state, paused campaigns, next check and hold; and
the workspace of a session id, for gateways that cannot say.

A session is `held` while an operator's hold on its campaigns lasts, `paused` while campaigns
are paused otherwise, `active` when the phone was used within the account's cooldown and
nothing is paused, else `idle`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models import statements as sql
from models.activity import iso_ms, to_ms
from models.conflict import due_at, session_accounts
from models.db import database, exactly
from models.errors import SessionNotFound, UnknownSession
from models.settings import Settings
from models.tables import PAUSED_MOBILE, Campaign, WhatsappAccount


@dataclass(frozen=True)
class PausedCampaign:
    id: int
    tier: int
    paused_at: dt.datetime | None
    held_until: dt.datetime | None


def session_state(settings: Settings, workspace_id: int, session_id: str, *,
                  last_activity_ms: int | None, now: dt.datetime) -> dict:
    """The state API's body for one session; SessionNotFound when no account has it."""
    accounts = session_accounts(workspace_id, session_id)
    if not accounts:
        raise SessionNotFound(f"No account has session {session_id!r} in workspace "
                              f"{workspace_id}")
    rows = database.execute_sql(*sql.paused(workspace_id, list(accounts))).fetchall()
    paused = [PausedCampaign(cid, accounts[account], Campaign.paused_at.python_value(at),
                             Campaign.held_until.python_value(until))
              for cid, account, at, until in rows]
    return describe(settings, session_id, list(accounts.values()), paused,
                    last_activity_ms=last_activity_ms, now=now)


def workspace_of_session(session_id: str) -> int:
    """The workspace of the one account with this session id, for gateways that cannot say."""
    rows = (WhatsappAccount.select(WhatsappAccount.workspace_id)
            .where(exactly(WhatsappAccount.session_id, session_id)).distinct().limit(2))
    workspaces = [row.workspace_id for row in rows]
    if len(workspaces) == 1:
        return workspaces[0]
    found = "no account has" if not workspaces else "several workspaces have"
    raise UnknownSession(
        f"Cannot tell the workspace: {found} session {session_id!r}. Post to "
        f"/api/v1/workspaces/{{workspace_id}}/whatsapp/webhook, or send data.workspace_id"
    )


def list_sessions(settings: Settings, last_activity: dict[tuple[int, str], int], *,
                  now: dt.datetime, workspace_id: int | None = None) -> list[dict]:
    """Every session with live activity (`last_activity`: {(workspace, session): epoch ms},
    from the activity keys) or paused campaigns, each as the state API describes it, with its
    workspace_id; ordered by workspace and session."""
    paused = paused_by_session(workspace_id)
    sessions = sorted(set(paused) | {s for s in last_activity
                                     if workspace_id is None or s[0] == workspace_id})
    listed = []
    for ws, sid in sessions:
        tiers = list(session_accounts(ws, sid).values())
        state = describe(settings, sid, tiers, paused.get((ws, sid), []),
                         last_activity_ms=last_activity.get((ws, sid)), now=now)
        listed.append({"workspace_id": ws, **state})
    return listed


def paused_by_session(workspace_id: int | None = None) -> dict[tuple[int, str],
                                                               list[PausedCampaign]]:
    """Every paused_mobile campaign (of one workspace, or all), by (workspace, session)."""
    query = (
        Campaign.select(Campaign.workspace_id, WhatsappAccount.session_id, Campaign.id,
                        WhatsappAccount.tier, Campaign.paused_at, Campaign.held_until)
        .join(WhatsappAccount, on=(Campaign.whatsapp_account_id == WhatsappAccount.id))
        .where(Campaign.status == PAUSED_MOBILE)
        .order_by(Campaign.id)
    )
    if workspace_id is not None:
        query = query.where(Campaign.workspace_id == workspace_id)
    found: dict[tuple[int, str], list[PausedCampaign]] = {}
    for ws, sid, cid, tier, paused_at, held_until in query.tuples():
        found.setdefault((ws, sid), []).append(PausedCampaign(cid, tier, paused_at, held_until))
    return found


def describe(settings: Settings, session_id: str, tiers: list[int],
             paused: list[PausedCampaign], *, last_activity_ms: int | None,
             now: dt.datetime) -> dict:
    """The state of a session whose accounts have `tiers` and whose paused campaigns are
    `paused`; next_check_at is when a check will find the earliest of them due."""
    now_ms = to_ms(now)
    ends = [c.held_until for c in paused if c.held_until is not None]
    held_until = max(ends) if ends and max(ends) > now else None
    due = [max(due_at(settings, c.tier, c.paused_at, last_activity_ms),
               to_ms(held_until) if held_until else 0)
           for c in paused if c.paused_at is not None or last_activity_ms is not None]
    cooldown = min((settings.cooldown_for(t) for t in tiers), default=settings.cooldown_for(None))
    recent = last_activity_ms is not None and now_ms - last_activity_ms < cooldown * 1000
    state = ("held" if held_until else "paused" if paused else "active" if recent else "idle")
    return {
        "session_id": session_id,
        "state": state,
        "last_activity": iso_ms(last_activity_ms) if last_activity_ms is not None else None,
        "paused_campaign_ids": [c.id for c in paused],
        "next_check_at": iso_ms(min(due)) if due else None,
        "held_until": iso_ms(to_ms(held_until)) if held_until else None,
    }
