"""POST /api/v1/whatsapp/webhook, row by row of the contract's status table, on a real Redis."""

import dataclasses
import json
import threading

import pytest
import redis
from falcon import testing

from tests.fixtures import node_event
from tests.signatures import encode
from tests.web_helpers import (
    QUEUED,
    WEBHOOK,
    activity_hash,
    conflict_keys,
    pause_jobs,
    post,
    unreachable_store,
)

MISSING_BOTH = "Missing required fields: workspace_id, session_id"


def test_a_phone_message_is_accepted_recorded_and_queues_one_pause(
        client, redis_client, stub_broker):
    response = post(client, node_event(device_type="android", message_id="m1"))

    assert response.status_code == 200
    assert response.json["success"] is True and response.json["message"] == QUEUED
    activity = activity_hash(redis_client, 1, "s1")
    assert (activity["device_type"], activity["message_count"], activity["last_message_id"]) \
        == ("android", "1", "m1")
    assert [job.args for job in pause_jobs(stub_broker)] == [(1, "s1", "android")]


def test_the_activity_key_lives_for_the_activity_ttl(client, redis_client, settings):
    post(client, node_event())
    assert 0 < redis_client.ttl("conflict:activity:1:s1") <= settings.activity_ttl


@pytest.mark.parametrize("device, reason", [
    ("unknown", "device_type_not_trigger"),
    ("tablet", "device_type_not_trigger"),
    ("web", "gateway_device"),
    ("api", "gateway_device"),
])
def test_a_message_from_a_device_that_does_not_pause_is_acknowledged_with_a_reason(
        client, stub_broker, device, reason):
    response = post(client, node_event(device_type=device))

    assert response.status_code == 200
    assert response.json["success"] is True and response.json["reason"] == reason
    assert response.json["message"] != QUEUED
    assert pause_jobs(stub_broker) == []


def test_a_non_trigger_device_is_recorded_but_a_gateway_send_is_not(client, redis_client):
    post(client, node_event(session_id="other", device_type="unknown"))
    post(client, node_event(session_id="gw", device_type="web"))

    assert activity_hash(redis_client, 1, "other")["device_type"] == "unknown"
    assert activity_hash(redis_client, 1, "gw") == {}


@pytest.mark.parametrize("body, reason", [
    ({"event": "messages.upsert", "instance": "s1",
      "data": {"key": {"fromMe": False, "id": "X"}, "source": "android"}}, "not_from_me"),
    ({"event": "message.any", "session": "s1",
      "payload": {"fromMe": False, "id": "X", "source": "app"}}, "not_from_me"),
    ({"event": "session.status", "session": "s1", "payload": {"status": "WORKING"}},
     "unknown_event"),
    ({"hello": "world"}, "unknown_event"),
])
def test_a_body_that_is_not_the_owners_message_is_acknowledged_with_a_reason(
        client, redis_client, stub_broker, body, reason):
    response = post(client, body)

    assert response.status_code == 200
    assert response.json["success"] is True and response.json["reason"] == reason
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_a_gateway_retry_is_counted_once(client, redis_client, stub_broker):
    first = post(client, node_event(message_id="m1"))
    again = post(client, node_event(message_id="m1"))

    assert first.json["message"] == QUEUED
    assert again.status_code == 200
    assert again.json["success"] is True and again.json["duplicate"] is True
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "1"
    assert len(pause_jobs(stub_broker)) == 1


def test_messages_without_an_id_are_each_counted(client, redis_client):
    post(client, node_event(message_id=None))
    post(client, node_event(message_id=None))
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "2"


def test_a_request_without_credentials_is_refused_and_records_nothing(client, redis_client):
    response = client.simulate_post(WEBHOOK, json=node_event())

    assert response.status_code == 401
    assert response.json["success"] is False and "X-Webhook-Token" in response.json["message"]
    assert conflict_keys(redis_client) == []


@pytest.mark.parametrize("raw", [
    b"not json",
    b"",
    b'[{"event": "mobile_activity_detected"}]',
    b'"a string"',
    b'{"event": "mobile_activity_detected", "session_id": NaN}',
    b'{"x": Infinity}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"x": ' * 100_000 + b"1" + b"}" * 100_000,
    b'{"event": "mobile_\xff\xfe"}',
    b'{"n": ' + b"9" * 100_000 + b"}",
], ids=["text", "empty", "array", "string", "nan", "infinity", "deep-array", "deep-object",
        "bad-utf8", "huge-number"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client, redis_client, raw):
    response = post(client, raw)

    assert response.status_code == 400
    assert response.json["success"] is False and "JSON" in response.json["message"]
    assert conflict_keys(redis_client) == []


def test_a_body_over_sixteen_mebibytes_is_too_large_and_one_just_under_is_read(client):
    body = node_event()
    body["padding"] = ""
    room = 16 * 1024 * 1024 - len(encode(body))

    exact = post(client, {**body, "padding": "x" * room})
    over = post(client, {**body, "padding": "x" * (room + 1)})

    assert exact.status_code == 200 and exact.json["message"] == QUEUED
    assert over.status_code == 413 and over.json["success"] is False


def test_the_body_limit_follows_webhook_max_body_bytes(make_client, settings):
    raw = json.dumps(node_event()).encode()
    exact = make_client(settings=dataclasses.replace(settings, webhook_max_body_bytes=len(raw)))
    short = make_client(
        settings=dataclasses.replace(settings, webhook_max_body_bytes=len(raw) - 1))

    assert post(exact, raw).status_code == 200
    assert post(short, raw).status_code == 413


def test_a_body_without_workspace_and_session_names_both_fields(client, redis_client):
    response = post(client, {"event": "mobile_activity_detected", "data": {}})

    assert response.status_code == 422
    assert response.json == {"success": False, "message": MISSING_BOTH}
    assert conflict_keys(redis_client) == []


def test_a_node_event_without_its_data_object_names_both_fields(client):
    response = post(client, {"event": "mobile_activity_detected"})
    assert (response.status_code, response.json["message"]) == (422, MISSING_BOTH)


def test_a_missing_session_is_named_alone_when_the_workspace_is_known(client):
    response = post(client, node_event(session_id=None, workspace_id=1))
    assert response.json["message"] == "Missing required fields: session_id"


@pytest.mark.parametrize("workspace_id, session_id, named", [
    ("abc", "s1", ["workspace_id"]),
    (-3, "s1", ["workspace_id"]),
    (True, "s1", ["workspace_id"]),
    (1.5, "s1", ["workspace_id"]),
    (1, 42, ["session_id"]),
    (1, "x" * 256, ["session_id"]),
    (1, "bad\nid", ["session_id"]),
    ("abc", None, ["workspace_id", "session_id"]),
    ("abc", ["s1"], ["workspace_id", "session_id"]),
])
def test_a_malformed_workspace_or_session_is_unprocessable_and_named(
        client, redis_client, workspace_id, session_id, named):
    body = node_event(workspace_id=workspace_id)
    body["session_id"] = session_id

    response = post(client, body)

    assert response.status_code == 422 and response.json["success"] is False
    assert [f for f in ("workspace_id", "session_id") if f in response.json["message"]] == named
    assert conflict_keys(redis_client) == []


def test_a_malformed_workspace_in_the_url_is_unprocessable(client):
    response = post(client, node_event(workspace_id=None),
                    path="/api/v1/workspaces/abc/whatsapp/webhook")
    assert response.status_code == 422 and "workspace_id" in response.json["message"]


def test_a_device_type_that_is_not_text_is_not_a_server_error(client, redis_client):
    raw = b'{"event": "mobile_activity_detected", "session_id": "s1", ' \
          b'"data": {"workspace_id": 1, "device_type": "\\ud800", "message_id": "m1"}}'

    response = post(client, raw)

    assert response.status_code == 200 and response.json["reason"] == "device_type_not_trigger"
    assert activity_hash(redis_client, 1, "s1")["device_type"] == "unknown"


def test_an_unreachable_redis_is_a_503_and_nothing_is_queued(
        make_client, settings, redis_client, stub_broker):
    client = make_client(store=unreachable_store(settings))

    response = post(client, node_event())

    assert response.status_code == 503 and response.json["success"] is False
    assert response.headers["Retry-After"]
    assert pause_jobs(stub_broker) == [] and conflict_keys(redis_client) == []


def broker_down(*args, **kwargs):
    raise redis.ConnectionError("broker unreachable")


def test_a_broker_outage_is_a_503_and_the_retry_is_taken_afresh(
        make_client, redis_client, stub_broker):
    down = make_client(enqueue=broker_down)

    failed = post(down, node_event(message_id="m1"))
    leftovers = [k for k in conflict_keys(redis_client) if not k.startswith("conflict:activity")]
    retried = post(make_client(), node_event(message_id="m1"))

    assert failed.status_code == 503
    assert leftovers == []
    assert retried.status_code == 200 and retried.json["message"] == QUEUED
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "1"
    assert len(pause_jobs(stub_broker)) == 1


def post_at_once(make_client, bodies) -> list[testing.Result]:
    """Post every body from its own thread, released together by a barrier."""
    clients = [make_client() for _ in bodies]
    start = threading.Barrier(len(bodies))
    results = [None] * len(bodies)

    def send(i):
        start.wait()
        results[i] = post(clients[i], bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_simultaneous_copies_of_one_delivery_count_once(
        make_client, redis_client, stub_broker):
    responses = post_at_once(make_client, [node_event(message_id="same")] * 20)

    assert [r.status_code for r in responses] == [200] * 20
    assert sum(r.json.get("duplicate", False) for r in responses) == 19
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "1"
    assert len(pause_jobs(stub_broker)) == 1


def test_a_burst_of_typing_while_the_pause_is_queued_queues_one_pause(
        make_client, redis_client, stub_broker):
    bodies = [node_event(message_id=f"m{i}") for i in range(10)]

    responses = post_at_once(make_client, bodies)

    assert {r.json["message"] for r in responses} == {QUEUED}
    assert activity_hash(redis_client, 1, "s1")["message_count"] == "10"
    assert len(pause_jobs(stub_broker)) == 1


def test_activity_after_the_pause_job_started_queues_the_next_pause(
        client, store, stub_broker):
    post(client, node_event(message_id="m1"))
    store.pause_started(1, "s1")  # what handle_mobile_activity does first
    post(client, node_event(message_id="m2"))

    assert len(pause_jobs(stub_broker)) == 2


def test_a_stale_event_is_acknowledged_but_records_and_pauses_nothing(
        make_client, settings, redis_client, stub_broker):
    now = 1_764_000_000.0
    client = make_client(clock=lambda: now)
    body = {**node_event(), "timestamp": "2025-11-24T15:58:59.000Z"}  # 61 s before `now`

    response = post(client, body)

    assert settings.activity_ttl == 60
    assert response.status_code == 200 and response.json["reason"] == "stale_event"
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_an_event_just_inside_the_activity_ttl_still_pauses(make_client, stub_broker):
    client = make_client(clock=lambda: 1_764_000_000.0)
    body = {**node_event(), "timestamp": "2025-11-24T15:59:01.000Z"}  # 59 s before the clock

    assert post(client, body).json["message"] == QUEUED


def test_with_the_feature_switched_off_nothing_is_recorded(
        make_client, settings, redis_client, stub_broker):
    client = make_client(settings=dataclasses.replace(settings, enabled=False))

    response = post(client, node_event())

    assert response.status_code == 200 and response.json["reason"] == "feature_disabled"
    assert conflict_keys(redis_client) == [] and pause_jobs(stub_broker) == []


def test_the_pause_job_goes_to_the_campaign_conflict_queue(client, stub_broker):
    post(client, node_event())
    assert [job.queue_name for job in pause_jobs(stub_broker)] == ["campaign-conflict"]

