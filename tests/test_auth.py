"""The three ways a gateway proves itself, with the clock injected instead of slept on."""

import dataclasses

import pytest

from tests.fixtures import node_event
from tests.signatures import encode, standard_headers, standard_signature, waha_headers
from tests.web_helpers import (
    QUEUED,
    conflict_keys,
    post,
)

NOW = 1_764_000_000


@pytest.fixture
def signed_client(make_client):
    """An app whose clock stands at NOW."""
    return make_client(clock=lambda: NOW)


@pytest.fixture
def raw():
    return encode(node_event())


def test_a_standard_webhooks_signature_is_accepted(signed_client, settings, raw):
    headers = standard_headers(settings.webhook_secrets[0], raw, at=NOW)

    response = post(signed_client, raw, headers=headers)

    assert response.status_code == 200 and response.json["message"] == QUEUED


def test_any_one_of_several_space_separated_signatures_may_match(signed_client, settings, raw):
    good = standard_signature(settings.webhook_secrets[0], raw, "msg_1", NOW)
    old_key = standard_signature(b"rotated-out-key", raw, "msg_1", NOW)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW),
               "webhook-signature": f"v1a,ignored {old_key} {good}"}

    assert post(signed_client, raw, headers=headers).status_code == 200


@pytest.mark.parametrize("change", [
    {"secret": b"not-the-secret"},
    {"body": b'{"event": "mobile_activity_detected", "session_id": "other"}'},
    {"msg_id": "msg_2"},
], ids=["wrong-secret", "other-body", "other-id"])
def test_a_signature_that_does_not_match_is_refused(
        signed_client, settings, redis_client, raw, change):
    signed = standard_signature(change.get("secret", settings.webhook_secrets[0]),
                                change.get("body", raw), change.get("msg_id", "msg_1"), NOW)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW),
               "webhook-signature": signed}

    response = post(signed_client, raw, headers=headers)

    assert response.status_code == 401
    assert response.json == {"success": False,
                             "message": "webhook-signature does not match the body"}
    assert conflict_keys(redis_client) == []


@pytest.mark.parametrize("offset", [-301, 301], ids=["expired", "future"])
def test_a_timestamp_more_than_five_minutes_away_is_refused(
        signed_client, settings, raw, offset):
    headers = standard_headers(settings.webhook_secrets[0], raw, at=NOW + offset)

    response = post(signed_client, raw, headers=headers)

    assert response.status_code == 401 and "5 minutes" in response.json["message"]


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_just_within_five_minutes_is_accepted(signed_client, settings, raw, offset):
    headers = standard_headers(settings.webhook_secrets[0], raw, at=NOW + offset)
    assert post(signed_client, raw, headers=headers).status_code == 200


@pytest.mark.parametrize("stamp", ["", "soon", "1764000000.5", "9" * 5000])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(signed_client, settings, raw, stamp):
    headers = {"webhook-id": "msg_1", "webhook-timestamp": stamp,
               "webhook-signature": standard_signature(settings.webhook_secrets[0], raw, "m",
                                                       1)}

    response = post(signed_client, raw, headers=headers)

    assert response.status_code == 401 and response.json["success"] is False


def test_a_waha_hmac_of_the_raw_body_is_accepted(client, settings, raw):
    response = post(client, raw, headers=waha_headers(settings.waha_hmac_key, raw))
    assert response.status_code == 200 and response.json["message"] == QUEUED


def test_a_waha_hmac_in_upper_case_hex_is_accepted(client, settings, raw):
    headers = waha_headers(settings.waha_hmac_key, raw)
    headers["X-Webhook-Hmac"] = headers["X-Webhook-Hmac"].upper()
    assert post(client, raw, headers=headers).status_code == 200


def test_a_waha_hmac_made_with_another_key_is_refused(client, raw):
    response = post(client, raw, headers=waha_headers("another-key", raw))
    assert response.status_code == 401
    assert response.json["message"] == "X-Webhook-Hmac does not match the body"


def test_a_waha_hmac_of_another_body_is_refused(client, settings, raw):
    headers = waha_headers(settings.waha_hmac_key, raw + b" ")
    assert post(client, raw, headers=headers).status_code == 401


def test_a_waha_hmac_with_another_algorithm_is_refused(client, settings, raw):
    headers = {**waha_headers(settings.waha_hmac_key, raw), "X-Webhook-Hmac-Algorithm": "md5"}
    response = post(client, raw, headers=headers)
    assert response.status_code == 401 and "sha512" in response.json["message"]


@pytest.mark.parametrize("headers", [
    {"X-Webhook-Token": "gateway-token"},
    {"Authorization": "Bearer gateway-token"},
    {"Authorization": "bearer gateway-token"},
], ids=["token-header", "bearer", "bearer-lower-case"])
def test_the_static_token_is_accepted_in_either_header(client, raw, headers):
    assert post(client, raw, headers=headers).status_code == 200


@pytest.mark.parametrize("headers", [
    {"X-Webhook-Token": "wrong"},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Basic Z2F0ZXdheS10b2tlbg=="},
    {"X-Webhook-Token": ""},
    {},
], ids=["wrong-token", "wrong-bearer", "basic", "empty", "none"])
def test_a_wrong_or_absent_token_is_refused(client, redis_client, raw, headers):
    response = post(client, raw, headers=headers)

    assert response.status_code == 401 and response.json["success"] is False
    assert conflict_keys(redis_client) == []


def test_the_read_api_token_does_not_open_the_webhook(client, raw):
    assert post(client, raw, headers={"Authorization": "Bearer api-token"}).status_code == 401


def test_a_method_that_is_not_configured_is_not_accepted(make_client, settings, raw):
    token_only = make_client(settings=dataclasses.replace(
        settings, webhook_secrets=(), waha_hmac_key=None))
    signed = waha_headers(settings.waha_hmac_key, raw)

    assert post(token_only, raw, headers=signed).status_code == 401


def test_one_valid_method_is_enough_beside_a_failing_one(client, settings, raw):
    headers = {**waha_headers("another-key", raw), "X-Webhook-Token": "gateway-token"}
    assert post(client, raw, headers=headers).status_code == 200


def test_authentication_is_checked_before_the_body_is_parsed(client):
    assert post(client, b"not json", headers={}).status_code == 401
