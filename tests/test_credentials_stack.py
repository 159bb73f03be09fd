"""Per-workspace webhook credentials through the Procfile's processes, on SQLite, PostgreSQL
and MariaDB: web starting with no install-wide credential, a WAHA delivery of workspace 2
replayed to workspace 3 (both sessions named "default"), and revocation by the command."""

from __future__ import annotations

import time

import pytest

from models.tables import Campaign, WebhookCredential, WhatsappAccount
from scripts.stack import Stack
from tests import e2e_helpers as e2e
from tests import signatures
from tests.fixtures import gateway_body

pytestmark = pytest.mark.processes

SERVER_KEY = "stack-credentials-key-of-at-least-32-chars"
QUEUED = "Mobile activity queued for processing"


def url(workspace_id: int) -> str:
    return f"/api/v1/workspaces/{workspace_id}/whatsapp/webhook"


@pytest.fixture
def stack(db, database_url):
    """web and worker on the test's database, with workspace credentials only: no
    WEBHOOK_SECRET, WAHA_HMAC_KEY, WEBHOOK_TOKEN or EVOLUTION_JWT_KEY."""
    WebhookCredential.delete().execute()
    env = {"DATABASE_URL": database_url, "WEBHOOK_TOKEN": "", "WEBHOOK_SECRET": "",
           "WAHA_HMAC_KEY": "", "EVOLUTION_JWT_KEY": "",
           "WEBHOOK_CREDENTIALS_KEY": SERVER_KEY}
    with Stack(env=env) as running:
        yield running
    WebhookCredential.delete().execute()


def seed(workspace_id: int, session_id: str) -> WhatsappAccount:
    account = WhatsappAccount.create(workspace_id=workspace_id, session_id=session_id, tier=1)
    Campaign.create(workspace_id=workspace_id, whatsapp_account_id=account.id, name="c",
                    status="ongoing")
    return account


def status(account: WhatsappAccount) -> str:
    return Campaign.get(Campaign.whatsapp_account_id == account.id).status


def issue(stack: Stack, workspace_id: int, kind: str) -> str:
    return stack.run_script("credentials", "issue", "--workspace", str(workspace_id),
                            "--kind", kind).strip()


def wait_paused(stack: Stack, account: WhatsappAccount, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while status(account) != "paused_mobile":
        if time.monotonic() > deadline:
            pytest.fail(f"workspace {account.workspace_id} not paused\n{stack.logs()}")
        time.sleep(0.05)


def waha_delivery(message_id: str) -> bytes:
    body = gateway_body("waha_message_any_app")
    body["payload"]["id"] = f"true_5511999990001@c.us_{message_id}"
    return signatures.encode(body)


def test_a_waha_delivery_of_one_workspace_replayed_to_another_pauses_nothing_there(stack):
    two, three = seed(2, "default"), seed(3, "default")
    key_2, key_3 = issue(stack, 2, "waha-hmac"), issue(stack, 3, "waha-hmac")
    stack.start("web")
    e2e.start_worker(stack)
    captured = waha_delivery("3A0000000000000000A1")
    signed = signatures.waha_headers(key_2, captured)

    assert stack.post(url(2), captured, signed)[1]["message"] == QUEUED
    wait_paused(stack, two)
    replayed, answer = stack.post(url(3), captured, signed)
    fresh = waha_delivery("3A0000000000000000A2")
    forged, _ = stack.post(url(3), fresh, signatures.waha_headers(key_2, fresh))

    assert (replayed, forged) == (401, 401), answer
    time.sleep(1)  # a pause that was wrongly queued would have landed by now
    assert status(three) == "ongoing"
    assert stack.post(url(3), fresh, signatures.waha_headers(key_3, fresh))[0] == 200
    wait_paused(stack, three)


def test_a_revoked_workspace_token_is_refused_from_the_next_delivery(stack):
    seed(7, "shop-1")
    token = issue(stack, 7, "token")
    stack.start("web")
    body = gateway_body("evolution_messages_upsert_phone")

    assert stack.post(url(7), body, signatures.token_headers(token))[0] == 200
    credential_id = WebhookCredential.get(WebhookCredential.workspace_id == 7).id
    stack.run_script("credentials", "revoke", str(credential_id))
    body["data"]["key"]["id"] = "3A0000000000000000B2"

    refused, answer = stack.post(url(7), body, signatures.token_headers(token))
    assert refused == 401 and token not in str(answer)
    assert token not in stack.logs()


def test_web_refuses_to_start_with_no_credential_anywhere(stack):
    stack.start("web", wait=False)
    assert stack.wait_exit("web", 30) != 0
    assert "scripts.credentials issue" in stack.logs()
