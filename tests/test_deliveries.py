"""Deliveries through the HTTP app on a real Redis: Standard Webhooks' webhook-id as an
idempotency key, seen keys that cannot collide or grow, Evolution's per-event URLs, and bodies
up to 16 MiB read in a bounded way."""

import io
import json
import re

import pytest

from models import keys
from models.errors import UnknownSession
from scripts.gateway_bodies import with_media
from tests.fixtures import gateway_body, node_event
from tests.signatures import encode, standard_headers
from tests.web_helpers import (
    API,
    QUEUED,
    WEBHOOK,
    activity_hash,
    conflict_keys,
    pause_jobs,
    post,
)

NOW = 1_764_000_000
SECRET = b"test-secret-key!"  # the `settings` fixture's WEBHOOK_SECRET


@pytest.fixture
def signed_client(make_client):
    return make_client(clock=lambda: NOW)


def signed_post(client, body, msg_id, *, at=NOW, path=WEBHOOK):
    raw = encode(body)
    return post(client, raw, path=path, headers=standard_headers(SECRET, raw, at=at,
                                                                 msg_id=msg_id))


# -- webhook-id ---------------------------------------------------------------------------------

def test_a_redelivered_webhook_id_without_a_message_id_counts_once(
        signed_client, redis_client, stub_broker):
    body = node_event(message_id=None)

    first = signed_post(signed_client, body, "msg_2f9a")
    again = signed_post(signed_client, body, "msg_2f9a", at=NOW + 60)  # re-signed later

    assert first.json["message"] == QUEUED
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "1"
    assert len(pause_jobs(stub_broker)) == 1


def test_deliveries_with_other_webhook_ids_each_count(signed_client, redis_client):
    for msg_id in ("msg_1", "msg_2"):
        signed_post(signed_client, node_event(message_id=None), msg_id)
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "2"


def test_a_webhook_id_beside_a_token_is_not_a_delivery_id(client, redis_client):
    """Only a signed webhook-id is the sender's word: an unsigned one could silence others."""
    headers = {"X-Webhook-Token": "gateway-token", "webhook-id": "msg_1"}
    for _ in range(2):
        post(client, node_event(message_id=None), headers=headers)
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "2"


def test_the_delivery_marker_lives_for_the_seen_ttl_under_a_digest(
        signed_client, redis_client, settings):
    signed_post(signed_client, node_event(message_id=None), "msg_" + "x" * 500)

    (marker,) = [k for k in conflict_keys(redis_client) if k.startswith("conflict:delivery:")]
    assert re.fullmatch(r"conflict:delivery:1:[0-9a-f]{32}", marker)
    assert 0 < redis_client.ttl(marker) <= settings.seen_ttl


def test_a_delivery_answered_422_is_not_remembered_and_its_retry_is_taken(
        make_client, redis_client):
    accounts = {}

    def resolve(session_id):
        if session_id not in accounts:
            raise UnknownSession(f"no account has session {session_id!r}")
        return accounts[session_id]

    client = make_client(clock=lambda: NOW, resolve_workspace=resolve)
    body = node_event(workspace_id=None, message_id=None)

    refused = signed_post(client, body, "msg_7")
    accounts["s1"] = 1  # the operator adds the account; the gateway retries
    retried = signed_post(client, body, "msg_7", at=NOW + 30)

    assert refused.status_code == 422
    assert retried.status_code == 200 and retried.json["message"] == QUEUED


def test_a_delivery_answered_503_is_not_remembered_and_its_retry_is_taken(
        make_client, redis_client, stub_broker):
    def broker_down(*args, **kwargs):
        import redis

        raise redis.ConnectionError("broker unreachable")

    body = node_event(message_id=None)
    failed = signed_post(make_client(clock=lambda: NOW, enqueue=broker_down), body, "msg_9")
    retried = signed_post(make_client(clock=lambda: NOW), body, "msg_9", at=NOW + 5)

    assert failed.status_code == 503
    assert retried.status_code == 200 and retried.json["message"] == QUEUED
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "1"


# -- seen keys ----------------------------------------------------------------------------------

def test_ids_with_colons_never_make_two_sessions_messages_one(client, redis_client, stub_broker):
    first = post(client, node_event(session_id="a", message_id="b:c"))
    second = post(client, node_event(session_id="a:b", message_id="c"))

    assert first.json["message"] == QUEUED and second.json["message"] == QUEUED
    assert keys.seen(1, "a", "b:c") != keys.seen(1, "a:b", "c")
    assert activity_hash(redis_client, 1, "a:b")["message_count"] == "1"


@pytest.mark.parametrize("message_id", [12345, 1.5, ["3A", 1], {"id": "x"}],
                         ids=["int", "float", "list", "object"])
def test_a_message_id_that_is_not_a_string_still_counts_a_retry_once(
        client, redis_client, stub_broker, message_id):
    for _ in range(2):
        response = post(client, node_event(message_id=message_id))
    assert response.json.get("duplicate") is True
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "1"


def test_a_seen_key_does_not_grow_with_the_message_id(client, redis_client):
    for message_id in ("m1", "m" * 10_000):
        post(client, node_event(message_id=message_id))

    seen = [k for k in conflict_keys(redis_client) if k.startswith("conflict:seen:")]
    assert len(seen) == 2 and len({len(k) for k in seen}) == 1
    assert all(re.fullmatch(r"conflict:seen:1:s1:[0-9a-f]{32}", k) for k in seen)
    assert len(activity_hash(redis_client, 1, "s1")["last_message_id"]) == 255


# -- event-suffix routes -----------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/whatsapp/webhook/messages-upsert",
    "/api/v1/workspaces/7/whatsapp/webhook/messages-upsert",
    "/api/v1/workspaces/7/whatsapp/webhook/send-message",  # the name is not read: the body is
    # Evolution appends the segment to the URL as configured, trailing slash and all.
    "/api/v1/workspaces/7/whatsapp/webhook//messages-upsert",
    "/api/v1/whatsapp/webhook/messages-upsert/",
    "/api/v1/workspaces/7/whatsapp/webhook/",
])
def test_evolutions_by_events_urls_take_the_delivery(make_client, redis_client, path):
    client = make_client(resolve_workspace=lambda session_id: 7)  # shop-1's one account

    response = post(client, gateway_body("evolution_messages_upsert_phone"), path=path)

    assert response.status_code == 200 and response.json["message"] == QUEUED
    assert activity_hash(redis_client, 7, "shop-1")["message_count"] == "1"


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/workspaces/1/sessions/s1%2F"),
    ("POST", "/api/v1/workspaces/1/sessions/s1%2F/resume"),
    ("POST", "/api/v1/workspaces/1/sessions/%2Fs1/resume"),
    ("GET", "/api/v1/workspaces/1/sessions/s1/"),
])
def test_only_webhook_paths_are_tidied_so_a_slash_never_names_another_session(
        client, account_factory, method, path):
    account_factory()  # session s1: tidied, each of these paths would name it

    response = client.simulate_request(method, path, headers=API)

    assert response.status_code == 404


@pytest.mark.parametrize("suffix", ["connection-update", "no-such-event", "QRCODE_UPDATED"])
def test_an_event_suffix_it_does_not_know_is_acknowledged_not_a_404(client, redis_client, suffix):
    body = {"event": "connection.update", "instance": "shop-1", "data": {"state": "open"}}

    response = post(client, body, path=f"{WEBHOOK}/{suffix}")

    assert response.status_code == 200 and response.json["reason"] == "unknown_event"
    assert conflict_keys(redis_client) == []


def test_the_event_suffix_routes_need_the_same_credentials(client):
    response = post(client, node_event(), path=f"{WEBHOOK}/messages-upsert", headers={})
    assert response.status_code == 401


# -- bodies --------------------------------------------------------------------------------------

class Stream:
    """A request body as a WSGI server hands it over, counting what the app reads."""

    def __init__(self, data: bytes, endless: bytes = b""):
        self.data, self.endless, self.read_bytes = io.BytesIO(data), endless, 0

    def read(self, size=-1):
        chunk = self.data.read(size)
        if self.endless and len(chunk) < size:
            chunk += (self.endless * (size // len(self.endless) + 1))[:size - len(chunk)]
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size=-1):  # the WSGI input interface; never called here
        raise AssertionError("the body is read with read()")

    readlines = __iter__ = readline


def post_stream(client, stream: Stream, headers=None, terminated=True):
    extras = {"wsgi.input": stream, "wsgi.input_terminated": terminated}
    return client.simulate_post(WEBHOOK, headers={"X-Webhook-Token": "gateway-token",
                                                  **(headers or {})}, extras=extras)


def test_a_chunked_body_without_content_length_is_read(client):
    response = post_stream(client, Stream(encode(node_event())))
    assert response.status_code == 200 and response.json["message"] == QUEUED


def test_an_endless_chunked_body_is_refused_after_the_limit_plus_one_byte(make_client, settings):
    import dataclasses

    client = make_client(settings=dataclasses.replace(settings, webhook_max_body_bytes=100_000))
    stream = Stream(b'{"padding": "', endless=b"x")

    response = post_stream(client, stream)

    assert response.status_code == 413 and response.json["success"] is False
    assert stream.read_bytes == 100_001


def test_a_content_length_over_the_limit_is_refused_before_reading(client):
    stream = Stream(b"", endless=b"x")
    response = post_stream(client, stream, headers={"Content-Length": str(16 * 1024 * 1024 + 1)})
    assert response.status_code == 413 and stream.read_bytes == 0


def test_a_content_length_shorter_than_the_body_reads_no_more_than_it_says(client):
    stream = Stream(encode(node_event()) + b" " * 1_000_000)
    response = post_stream(client, stream, headers={"Content-Length": "20"})
    assert response.status_code == 400 and stream.read_bytes == 20


def test_a_stream_that_says_no_length_and_may_not_end_is_not_read(client):
    stream = Stream(b"", endless=b"x")
    response = post_stream(client, stream, terminated=False)
    assert response.status_code == 400 and stream.read_bytes == 0


def test_a_photo_with_base64_media_from_the_phone_is_taken(client, redis_client, stub_broker):
    body = with_media(gateway_body("evolution_messages_upsert_phone"), 12 * 1024 * 1024)

    response = post(client, body, path="/api/v1/workspaces/7/whatsapp/webhook/messages-upsert",
                    headers={"X-Webhook-Token": "gateway-token"})

    assert len(json.dumps(body)) > 12 * 1024 * 1024 - 8
    assert response.status_code == 200 and response.json["message"] == QUEUED
    assert len(pause_jobs(stub_broker)) == 1
