"""Issue 3: the bodies real gateways send (tests/fixtures), on both webhook URLs.

Only the owner's own phone message pauses; a customer's message and the gateway's own sends
pause nothing. The workspace comes from the body, else the URL, else the one account with the
session id; a body and a URL that disagree are refused rather than guessed between.
"""

import pytest

from tests.fixtures import gateway_body
from tests.web_helpers import (
    QUEUED,
    WEBHOOK,
    activity_hash,
    conflict_keys,
    pause_jobs,
    post,
)

SCOPED = "/api/v1/workspaces/7/whatsapp/webhook"
BOTH_URLS = pytest.mark.parametrize("path", [WEBHOOK, SCOPED], ids=["plain", "scoped"])
OWNER_MESSAGES = pytest.mark.parametrize("name, session, device", [
    ("evolution_messages_upsert_phone", "shop-1", "ios"),
    ("waha_message_any_app", "default", "app"),
    ("node_mobile_activity_detected", "ws1-acc3", "android"),
], ids=["evolution", "waha", "node"])


def without_workspace(body: dict) -> dict:
    """The body as a gateway that cannot name the workspace sends it (only the node
    gateway's has one)."""
    body.get("data", {}).pop("workspace_id", None)
    return body


@BOTH_URLS
@pytest.mark.parametrize("name, reason", [
    ("evolution_messages_upsert_contact", "not_from_me"),
    ("waha_message_any_api", "gateway_device"),
])
def test_a_customers_message_or_an_api_send_pauses_nothing(
        client, redis_client, stub_broker, path, name, reason):
    response = post(client, gateway_body(name), path=path)

    assert response.status_code == 200
    assert response.json["success"] is True and response.json["reason"] == reason
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


@OWNER_MESSAGES
def test_the_owners_phone_message_on_the_scoped_url_pauses_that_workspace(
        client, redis_client, stub_broker, name, session, device):
    response = post(client, without_workspace(gateway_body(name)), path=SCOPED)

    assert response.status_code == 200 and response.json["message"] == QUEUED
    assert activity_hash(redis_client, 7, session)["device_type"] == device
    assert [job.args for job in pause_jobs(stub_broker)] == [(7, session, device)]


@pytest.mark.parametrize("path", [WEBHOOK, "/api/v1/workspaces/1/whatsapp/webhook"],
                         ids=["plain", "same-workspace"])
def test_the_workspace_named_in_the_body_is_taken(client, redis_client, stub_broker, path):
    response = post(client, gateway_body("node_mobile_activity_detected"), path=path)

    assert response.json["message"] == QUEUED
    assert activity_hash(redis_client, 1, "ws1-acc3")["message_count"] == "1"
    assert [job.args[0] for job in pause_jobs(stub_broker)] == [1]


def test_a_body_naming_another_workspace_than_its_url_is_refused(
        client, redis_client, stub_broker):
    response = post(client, gateway_body("node_mobile_activity_detected"), path=SCOPED)

    assert response.status_code == 422
    assert response.json["message"] == "workspace_id 1 in the body does not match workspace 7 " \
                                       "of the URL"
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


@OWNER_MESSAGES
def test_on_the_plain_url_the_workspace_comes_from_the_sessions_account(
        client, redis_client, stub_broker, account_factory, name, session, device):
    account_factory(workspace_id=3, session_id=session)
    response = post(client, without_workspace(gateway_body(name)))

    assert response.status_code == 200 and response.json["message"] == QUEUED
    assert activity_hash(redis_client, 3, session)["message_count"] == "1"
    assert [job.args for job in pause_jobs(stub_broker)] == [(3, session, device)]


@pytest.mark.parametrize("workspaces, found", [
    ((), "no account has"),
    ((3, 4), "several workspaces have"),
])
def test_a_session_that_names_no_single_workspace_is_told_which_url_to_use(
        client, redis_client, stub_broker, account_factory, workspaces, found):
    for workspace in workspaces:
        account_factory(workspace_id=workspace, session_id="shop-1")

    response = post(client, gateway_body("evolution_messages_upsert_phone"))

    assert response.status_code == 422 and response.json["success"] is False
    assert found in response.json["message"]
    assert "/api/v1/workspaces/{workspace_id}/whatsapp/webhook" in response.json["message"]
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_two_accounts_of_one_workspace_sharing_a_session_are_not_ambiguous(
        client, stub_broker, account_factory):
    account_factory(workspace_id=3, session_id="default")
    account_factory(workspace_id=3, session_id="default")

    response = post(client, gateway_body("waha_message_any_app"))

    assert response.status_code == 200 and pause_jobs(stub_broker)[0].args[0] == 3


@OWNER_MESSAGES
def test_a_fixture_as_captured_in_2025_is_stale_and_pauses_nothing(
        client, redis_client, stub_broker, name, session, device):
    body = without_workspace(gateway_body(name, at=1_764_000_000))

    response = post(client, body, path=SCOPED)

    assert response.status_code == 200 and response.json["reason"] == "stale_event"
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


@pytest.mark.parametrize("first", [
    "evolution_messages_upsert_contact", "evolution_messages_upsert_call_reply",
    "evolution_messages_upsert_web", "evolution_messages_upsert_phone"])
def test_a_batch_of_a_chats_messages_pauses_when_the_owner_typed_any_of_them(
        client, redis_client, stub_broker, first):
    # As builds of Evolution that buffer a chat's messages post them.
    body = {**gateway_body("evolution_messages_upsert_phone"), "isBuffered": True, "count": 2}
    body["data"] = [gateway_body(first)["data"], body["data"]]

    response = post(client, body, path=SCOPED)

    assert response.json["message"] == QUEUED and response.json["data"]["device_type"] == "ios"
    assert activity_hash(redis_client, 7, "shop-1")["last_message_id"] == "3A5F1C2B9E0D4A7B8C11"


def test_in_a_batch_a_message_typed_on_whatsapp_web_outranks_the_gateways_own_reply(
        client, stub_broker):
    body = {**gateway_body("evolution_messages_upsert_phone"), "isBuffered": True, "count": 2,
            "data": [gateway_body(name)["data"] for name in
                     ("evolution_messages_upsert_call_reply", "evolution_messages_upsert_web")]}

    response = post(client, body, path=SCOPED)

    assert response.json["data"]["device_type"] == "web"  # a trigger only where web is listed
    assert "PENDING" not in response.json["message"]


@pytest.mark.parametrize("batch, reason", [
    ([], "unknown_event"),
    (["evolution_messages_upsert_contact"], "not_from_me"),
    (["evolution_messages_upsert_contact", "evolution_messages_upsert_call_reply"],
     "gateway_device"),
])
def test_a_batch_without_the_owners_typing_pauses_nothing_and_says_why(
        client, redis_client, stub_broker, batch, reason):
    body = {**gateway_body("evolution_messages_upsert_phone"), "isBuffered": True,
            "count": len(batch), "data": [gateway_body(name)["data"] for name in batch]}

    response = post(client, body, path=SCOPED)

    assert response.status_code == 200 and response.json["reason"] == reason
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_evolution_upper_case_event_names_are_understood(client, stub_broker):
    body = {**gateway_body("evolution_messages_upsert_phone"), "event": "MESSAGES_UPSERT"}
    assert post(client, body, path=SCOPED).json["message"] == QUEUED
