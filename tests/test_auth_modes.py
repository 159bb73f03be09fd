"""The ways in that contract revision 2 adds, through the HTTP app on a real Redis:
`?token=`, Evolution's jwt_key bearer JWT, and Standard Webhooks secrets in rotation."""

import base64
import dataclasses
import time

import jwt
import pytest

from models.settings import Settings
from tests.fixtures import gateway_body
from tests.signatures import encode, standard_headers
from tests.web_helpers import (
    QUEUED,
    WEBHOOK,
    conflict_keys,
    post,
)

JWT_KEY = "evolution-jwt-key-of-32-characters"  # the `settings` fixture's EVOLUTION_JWT_KEY
EVOLUTION = "/api/v1/workspaces/7/whatsapp/webhook"


def evolution_jwt(key=JWT_KEY, *, issued=None, lifetime=600, algorithm="HS256", **claims):
    """The bearer token Evolution sends for an instance whose webhook headers hold jwt_key: its
    WebhookController signs {iat, exp: iat + 600, app, action} with jsonwebtoken, HS256."""
    iat = int(time.time()) if issued is None else issued
    exp = None if lifetime is None else iat + lifetime
    payload = {"iat": iat, "exp": exp, "app": "evolution", "action": "webhook",
               **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key,
                      algorithm=algorithm)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def evolution():
    return gateway_body("evolution_messages_upsert_phone")


# -- ?token= ----------------------------------------------------------------------------------

def test_the_webhook_token_in_the_query_is_accepted(client, evolution):
    response = post(client, evolution, path=f"{EVOLUTION}?token=gateway-token", headers={})
    assert response.status_code == 200 and response.json["message"] == QUEUED


def test_a_query_token_as_evolution_by_events_appends_the_event_to_it_is_accepted(
        client, evolution):
    # Evolution builds `${url}/${event}`: a URL ending in ?token=T becomes ?token=T/<event>.
    path = f"{EVOLUTION}?token=gateway-token/messages-upsert"
    assert post(client, evolution, path=path, headers={}).status_code == 200


@pytest.mark.parametrize("query", [
    "token=wrong-token", "token=gateway-token-and-more", "token=gateway-token/a/b",
    "token=other/messages-upsert", "token=", "token=%FF%FE", "Token=gateway-token",
], ids=["wrong", "longer", "two-segments", "wrong-with-event", "empty", "undecodable",
        "other-name"])
def test_a_wrong_query_token_is_refused_without_echoing_it(
        client, redis_client, evolution, query):
    response = post(client, evolution, path=f"{EVOLUTION}?{query}", headers={})

    assert response.status_code == 401 and response.json["success"] is False
    value = query.partition("=")[2]
    assert not value or value not in response.text
    assert conflict_keys(redis_client) == []


def test_a_query_token_is_refused_when_no_webhook_token_is_set(make_client, settings, evolution):
    no_token = make_client(settings=dataclasses.replace(settings, webhook_token=None))

    response = post(no_token, evolution, path=f"{EVOLUTION}?token=gateway-token", headers={})

    assert response.status_code == 401
    assert "WEBHOOK_TOKEN is not set" in response.json["message"]
    assert "gateway-token" not in response.text


def test_a_404_on_a_url_with_a_token_does_not_echo_it(client):
    response = client.simulate_post(f"{WEBHOOK}/a/b", query_string="token=s3cret-value",
                                    body=b"{}")
    assert response.status_code == 404 and "s3cret-value" not in response.text


# -- Evolution's jwt_key ---------------------------------------------------------------------

def test_an_evolution_jwt_is_accepted(client, evolution):
    response = post(client, evolution, path=EVOLUTION, headers=bearer(evolution_jwt()))
    assert response.status_code == 200 and response.json["message"] == QUEUED


def test_an_evolution_jwt_is_accepted_until_it_expires_and_a_few_seconds_after(client, evolution):
    # Evolution makes the token once per event and reuses it on every retry.
    just_expired = evolution_jwt(issued=int(time.time()) - 605)
    assert post(client, evolution, path=EVOLUTION, headers=bearer(just_expired)).status_code \
        == 200


@pytest.mark.parametrize("token, says", [
    (lambda: evolution_jwt(issued=int(time.time()) - 660), "expired"),
    (lambda: evolution_jwt("another-jwt-key-of-32-characters!!"), "EVOLUTION_JWT_KEY"),
    (lambda: evolution_jwt(lifetime=None), "exp claim"),
    (lambda: evolution_jwt(issued=None, iat=None), "iat claim"),
    (lambda: evolution_jwt(JWT_KEY * 2, algorithm="HS512"), "HS256"),
    (lambda: jwt.encode({"iat": int(time.time()), "exp": int(time.time()) + 600}, None,
                        algorithm="none"), "HS256"),
    (lambda: evolution_jwt(issued=int(time.time()) + 120), "future"),
    (lambda: evolution_jwt(exp="soon"), "not a well-formed JWT"),
    (lambda: evolution_jwt(iat="then"), "must be numbers"),
], ids=["expired", "other-key", "no-exp", "no-iat", "hs512", "alg-none", "issued-in-future",
        "iat-not-a-number",
        "exp-not-a-number"])
def test_an_evolution_jwt_that_does_not_hold_is_refused_saying_why(
        client, redis_client, evolution, token, says):
    given = token()

    response = post(client, evolution, path=EVOLUTION, headers=bearer(given))

    assert response.status_code == 401 and says in response.json["message"]
    assert given not in response.text and given.split(".")[1] not in response.text
    assert conflict_keys(redis_client) == []


def test_an_evolution_jwt_with_no_lifetime_limit_is_accepted(client, evolution):
    """The lifetime itself is not checked: only exp (and iat not in the future)."""
    long_lived = evolution_jwt(lifetime=30 * 24 * 3600)
    assert post(client, evolution, path=EVOLUTION, headers=bearer(long_lived)).status_code == 200


def test_a_bearer_token_that_is_not_a_jwt_is_still_tried_as_the_webhook_token(client, evolution):
    assert post(client, evolution, path=EVOLUTION,
                headers=bearer("gateway-token")).status_code == 200


def test_a_bearer_value_that_is_neither_says_both_checks_failed(client, evolution):
    response = post(client, evolution, path=EVOLUTION, headers=bearer("not-it"))

    assert response.status_code == 401
    assert "not the webhook token" in response.json["message"]
    assert "not a well-formed JWT signed with EVOLUTION_JWT_KEY" in response.json["message"]
    assert "not-it" not in response.text


def test_a_jwt_when_no_jwt_key_is_set_says_so(make_client, settings, evolution):
    no_jwt = make_client(settings=dataclasses.replace(settings, evolution_jwt_key=None))

    response = post(no_jwt, evolution, path=EVOLUTION, headers=bearer(evolution_jwt()))

    assert response.status_code == 401
    assert "EVOLUTION_JWT_KEY is not set" in response.json["message"]


def test_the_jwt_key_alone_is_enough_to_start_and_to_accept(make_client, evolution):
    jwt_only = Settings(evolution_jwt_key=JWT_KEY)
    jwt_only.require_webhook_auth()
    client = make_client(settings=jwt_only)

    assert post(client, evolution, path=EVOLUTION, headers=bearer(evolution_jwt())).status_code \
        == 200
    assert post(client, evolution, path=EVOLUTION, headers=bearer("x")).status_code == 401


# -- Standard Webhooks secrets in rotation -----------------------------------------------------

NOW = 1_764_000_000
OLD, NEW = b"old-signing-key-0123", b"new-signing-key-4567!"


def secrets_value(*keys: bytes, prefix="whsec_", padded=True) -> str:
    encoded = [base64.b64encode(key).decode() for key in keys]
    return " ".join(prefix + (e if padded else e.rstrip("=")) for e in encoded)


@pytest.mark.parametrize("value", [
    secrets_value(OLD, NEW), secrets_value(OLD, NEW, prefix=""),
    secrets_value(OLD, NEW, padded=False), secrets_value(NEW, OLD, prefix="", padded=False),
], ids=["whsec", "no-prefix", "unpadded", "bare-unpadded-other-order"])
def test_a_signature_made_with_any_of_the_rotated_secrets_is_accepted(make_client, value):
    settings = Settings.from_env({"WEBHOOK_SECRET": value})
    client = make_client(settings=settings, clock=lambda: NOW)
    body = encode(gateway_body("node_mobile_activity_detected", at=NOW))

    for n, key in enumerate((OLD, NEW)):
        headers = standard_headers(key, body, at=NOW, msg_id=f"msg_{n}")
        response = post(client, body, headers=headers)
        assert response.status_code == 200, response.json
        body = body.replace(b'"data": {', b'"data": {"x": 1, ', 1)  # a new message


def test_a_signature_made_with_a_retired_secret_is_refused(make_client):
    settings = Settings.from_env({"WEBHOOK_SECRET": secrets_value(NEW)})
    client = make_client(settings=settings, clock=lambda: NOW)
    body = encode(gateway_body("node_mobile_activity_detected", at=NOW))

    response = post(client, body, headers=standard_headers(OLD, body, at=NOW))

    assert response.status_code == 401
    assert response.json["message"] == "webhook-signature does not match the body"


def test_a_malformed_signature_list_is_a_401_not_a_server_error(signed_client):
    body = encode(gateway_body("node_mobile_activity_detected", at=NOW))
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(NOW),
               "webhook-signature": "v1 v1,@@@ ,x v2,abc"}

    response = post(signed_client, body, headers=headers)

    assert response.status_code == 401 and response.json["success"] is False


@pytest.fixture
def signed_client(make_client):
    return make_client(clock=lambda: NOW)
