"""The Procfile's processes on each test database (SQLite, PostgreSQL, MariaDB), for the
tests whose defect depends on the backend: `backend_stack` starts a Stack whose
DATABASE_URL is the `db` fixture's database, and the helpers read it through the tables."""

from __future__ import annotations

import time
import uuid

import pytest
from peewee import MySQLDatabase, PostgresqlDatabase

from models.tables import Campaign, CampaignPauseEvent, WhatsappAccount
from scripts.stack import Stack
from tests.fixtures import node_event

COOLDOWN = 2
INTERVAL = 1
SHORT = {
    "CAMPAIGN_CONFLICT_TIER_COOLDOWN": ",".join(f"{tier}:{COOLDOWN}" for tier in (1, 2, 3, 4)),
    "CAMPAIGN_CONFLICT_DEFAULT_COOLDOWN": str(COOLDOWN),
    "CAMPAIGN_CONFLICT_RECONCILE_INTERVAL": str(INTERVAL),
}
WEBHOOK = "/api/v1/whatsapp/webhook"
TOKEN = {"X-Webhook-Token": "stack-token"}
API = {"Authorization": "Bearer stack-api-token"}


def backend(handle) -> str:
    if isinstance(handle, PostgresqlDatabase):
        return "postgresql"
    return "mysql" if isinstance(handle, MySQLDatabase) else "sqlite"


@pytest.fixture
def backend_stack(db, database_url):
    """Start a Stack (private redis-server) on the test's database with 2 s cooldowns and a
    1 s clock; every process it started is stopped afterwards."""
    stacks = []

    def make(**env) -> Stack:
        stack = Stack(env={**SHORT, "DATABASE_URL": database_url, **env})
        stacks.append(stack)
        return stack.__enter__()

    yield make
    for stack in stacks:
        stack.stop()


def seed(workspace_id: int, session_id: str, *, tier: int = 1, count: int = 2,
         status: str = "ongoing") -> WhatsappAccount:
    account = WhatsappAccount.create(workspace_id=workspace_id, session_id=session_id,
                                     tier=tier)
    Campaign.insert_many([
        {"workspace_id": workspace_id, "whatsapp_account_id": account.id,
         "name": f"campaign {n}", "status": status} for n in range(count)
    ]).execute()
    return account


def campaigns_of(account) -> list[Campaign]:
    return list(Campaign.select().where(Campaign.whatsapp_account_id == account.id)
                .order_by(Campaign.id))


def statuses(account) -> list[str]:
    return [c.status for c in campaigns_of(account)]


def audit_reasons(campaign_ids) -> list[tuple[str, str]]:
    return list(CampaignPauseEvent.select(CampaignPauseEvent.event, CampaignPauseEvent.reason)
                .where(CampaignPauseEvent.campaign_id.in_(list(campaign_ids)))
                .order_by(CampaignPauseEvent.id).tuples())


def post_phone_message(stack: Stack, workspace_id: int | None, session_id: str,
                       message_id: str | None = None, path: str = WEBHOOK):
    """Post the Node gateway's phone message (a fresh message id unless given) to the stack."""
    body = node_event(session_id, workspace_id, message_id=message_id or uuid.uuid4().hex)
    return stack.post(path, body, TOKEN)


def wait_until(stack: Stack, condition, timeout: float, what: str) -> float:
    """Poll `condition` until true; the monotonic time it became true, or fail with the logs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s\n{stack.logs()}")
        time.sleep(0.02)
    return time.monotonic()
