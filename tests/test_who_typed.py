"""Issue 10: who typed, through the HTTP app, with every gateway's body as its own code builds
it (tests/fixtures). A phone's message pauses; a gateway's own send pauses nothing whatever its
label says, and the answer says what was decided and why; WAHA's metadata names the workspace.
"""

import dataclasses

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


def url_of(fixture: str) -> tuple[str, int]:
    """Where the gateway posts, and the workspace that ends up named: the Node gateway names
    workspace 1 in its body, the others post to workspace 7's URL."""
    return (WEBHOOK, 1) if fixture.startswith("node_") else (SCOPED, 7)


def session_of(body: dict) -> str:
    return body.get("session_id") or body.get("instance") or body["session"]


@pytest.mark.parametrize("fixture, device, label, decided_by", [
    ("evolution_messages_upsert_phone", "ios", "ios", "label"),
    ("evolution_messages_upsert_android", "android", "android", "label"),
    ("evolution_messages_upsert_desktop", "desktop", "desktop", "label"),
    ("waha_message_any_app", "app", "app", "label"),
    ("waha_message_any_group", "app", "app", "label"),
    ("waha_message_any_no_source", "android", None, "message_id"),
    ("waha_message_any_gows_app", "app", "app", "label"),
    ("node_mobile_activity_detected", "android", "android", "label"),
    ("node_wwebjs_ios", "ios", "ios", "label"),
    ("node_mobile_activity_no_label", "desktop", None, "message_id"),
])
def test_a_message_typed_on_the_phone_pauses_and_says_what_was_decided(
        client, redis_client, stub_broker, fixture, device, label, decided_by):
    body = gateway_body(fixture)
    path, workspace = url_of(fixture)

    response = post(client, body, path=path)

    assert response.status_code == 200 and response.json["message"] == QUEUED
    assert response.json["data"] == {"workspace_id": workspace, "session_id": session_of(body),
                                     "device_type": device, "device_label": label,
                                     "decided_by": decided_by}
    assert activity_hash(redis_client, workspace, session_of(body))["device_type"] == device
    assert [job.args for job in pause_jobs(stub_broker)] == [(workspace, session_of(body), device)]


@pytest.mark.parametrize("fixture, label, bare_id", [
    ("node_wwebjs_own_send", "android", "3EB0C431D5B8C1F2A6E1F7"),
    ("node_wwebjs_group_own_send", "android", "3EB05E4D3C2B1A0F9E8D7C"),
    ("waha_message_any_app_own_send", "app", "3EB0C431D5B8C1F2A6E1F7"),
])
def test_a_gateways_own_send_labelled_as_a_phone_pauses_nothing_and_says_why(
        client, redis_client, stub_broker, fixture, label, bare_id):
    response = post(client, gateway_body(fixture), path=url_of(fixture)[0])

    assert response.status_code == 200 and response.json["reason"] == "gateway_device"
    assert response.json["data"] == {"device_type": "web", "device_label": label,
                                     "decided_by": "message_id"}
    assert bare_id in response.json["message"] and repr(label) in response.json["message"]
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_a_message_typed_on_whatsapp_web_carries_a_web_clients_id_whatever_waha_says(
        client, redis_client, stub_broker):
    # WAHA's GOWS engine says `app` for whatever another linked device sent; on WhatsApp Web
    # that id is shaped as every gateway's own sends are, so it is web (not a WAHA trigger).
    response = post(client, gateway_body("waha_message_any_gows_web_typed"), path=SCOPED)

    assert response.status_code == 200 and response.json["reason"] == "gateway_device"
    assert response.json["data"] == {"device_type": "web", "device_label": "app",
                                     "decided_by": "message_id"}
    assert "WhatsApp Web" in response.json["message"]
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


@pytest.mark.parametrize("fixture, reason", [
    ("waha_message_any_api", "gateway_device"),
    ("evolution_messages_upsert_web", "gateway_device"),
    ("evolution_messages_upsert_contact", "not_from_me"),
    ("waha_message_any_contact", "not_from_me"),
])
def test_an_api_send_web_and_a_contacts_message_pause_nothing_by_default(
        client, redis_client, stub_broker, fixture, reason):
    response = post(client, gateway_body(fixture), path=SCOPED)

    assert response.status_code == 200 and response.json["reason"] == reason
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


@pytest.fixture
def web_listed(make_client, settings):
    """A phoneguard for an Evolution gateway, with web added to the trigger devices."""
    triggers = settings.trigger_device_types | {"web"}
    return make_client(settings=dataclasses.replace(settings, trigger_device_types=triggers))


def test_with_web_listed_a_person_on_whatsapp_web_pauses(web_listed, redis_client, stub_broker):
    response = post(web_listed, gateway_body("evolution_messages_upsert_web"), path=SCOPED)

    assert response.json["message"] == QUEUED and response.json["data"]["device_type"] == "web"
    assert activity_hash(redis_client, 7, "shop-1")["device_type"] == "web"
    assert [job.args for job in pause_jobs(stub_broker)] == [(7, "shop-1", "web")]


def test_with_web_listed_evolutions_own_auto_reply_to_a_call_pauses_nothing(
        web_listed, redis_client, stub_broker):
    # Evolution posts the reply it sends to a call as messages.upsert, from Baileys' own send
    # (status PENDING), where a message typed on another device arrives SERVER_ACK.
    response = post(web_listed, gateway_body("evolution_messages_upsert_call_reply"),
                    path=SCOPED)

    assert response.status_code == 200 and response.json["reason"] == "gateway_device"
    assert "PENDING" in response.json["message"]
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_with_web_or_api_listed_an_api_send_still_pauses_nothing(
        make_client, settings, redis_client, stub_broker):
    triggers = settings.trigger_device_types | {"web", "api"}
    client = make_client(settings=dataclasses.replace(settings, trigger_device_types=triggers))

    response = post(client, gateway_body("waha_message_any_api"), path=SCOPED)

    assert response.json["reason"] == "gateway_device"
    assert response.json["data"] == {"device_type": "api", "device_label": "api",
                                     "decided_by": "label"}
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_desktop_pauses_with_the_default_trigger_devices(settings):
    assert "desktop" in settings.trigger_device_types
    assert "web" not in settings.trigger_device_types


# -- WAHA's metadata names the workspace ----------------------------------------------------

def waha_with_metadata(workspace_id) -> dict:
    body = gateway_body("waha_message_any_metadata")
    body["metadata"]["workspace_id"] = workspace_id
    return body


@pytest.mark.parametrize("workspace_id", ["7", 7])
def test_wahas_metadata_workspace_is_taken_on_the_plain_url(
        client, redis_client, stub_broker, workspace_id):
    response = post(client, waha_with_metadata(workspace_id))

    assert response.json["message"] == QUEUED and response.json["data"]["workspace_id"] == 7
    assert [job.args for job in pause_jobs(stub_broker)] == [(7, "default", "app")]


def test_wahas_metadata_outranks_the_sessions_account(client, stub_broker, account_factory):
    account_factory(workspace_id=3, session_id="default")

    response = post(client, waha_with_metadata("7"))

    assert response.status_code == 200 and pause_jobs(stub_broker)[0].args[0] == 7


def test_without_a_metadata_workspace_the_url_decides(client, stub_broker):
    body = waha_with_metadata("")

    assert post(client, body, path="/api/v1/workspaces/5/whatsapp/webhook").status_code == 200
    assert pause_jobs(stub_broker)[0].args[0] == 5


def test_a_metadata_workspace_that_contradicts_the_url_is_refused(
        client, redis_client, stub_broker):
    response = post(client, waha_with_metadata("7"), path="/api/v1/workspaces/8/whatsapp/webhook")

    assert response.status_code == 422
    assert response.json["message"] == "workspace_id 7 in the body does not match workspace 8 " \
                                       "of the URL"
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


@pytest.mark.parametrize("workspace_id", ["seven", "-7", "0", True, 1.5, ["7"]])
@pytest.mark.parametrize("path", [WEBHOOK, SCOPED], ids=["plain", "scoped"])
def test_a_malformed_metadata_workspace_is_unprocessable_and_named(
        client, redis_client, stub_broker, account_factory, workspace_id, path):
    account_factory(workspace_id=7, session_id="default")

    response = post(client, waha_with_metadata(workspace_id), path=path)

    assert response.status_code == 422 and response.json["success"] is False
    assert response.json["message"].startswith("Malformed fields: metadata.workspace_id must be")
    assert "Missing" not in response.json["message"]
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_a_malformed_metadata_workspace_and_session_are_named_together(client):
    body = waha_with_metadata("seven")
    body["session"] = "bad\nsession"

    message = post(client, body).json["message"]

    assert "metadata.workspace_id must be" in message and "session_id must be" in message
