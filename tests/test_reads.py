"""The read APIs (bearer API_TOKEN), health, metrics, and errors for routes that do not exist."""

import dataclasses
import datetime as dt

import pytest

from models.activity import to_ms
from models.conflict import Check, check_resume, pause_session
from tests.fixtures import node_event
from tests.web_helpers import (
    API,
    Clock,
    post,
    unreachable_store,
)

NOW = 1_764_000_000.0
LAST_ACTIVITY = "/api/internal/sessions/s1/last-activity"


def permission_url(workspace_id=1, session_id="s1"):
    return f"/api/v1/workspaces/{workspace_id}/sessions/{session_id}/send-permission"


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def timed_client(make_client, clock):
    return make_client(clock=clock)


@pytest.mark.parametrize("path", [
    LAST_ACTIVITY + "?workspace_id=1", permission_url(), "/api/v1/workspaces/1/conflict-stats",
])
@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": "api-token"},
    {"X-Webhook-Token": "gateway-token"},
], ids=["none", "wrong", "no-scheme", "webhook-token"])
def test_the_read_apis_need_the_api_token(client, path, headers):
    response = client.simulate_get(path, headers=headers)

    assert response.status_code == 401
    assert response.json == {"success": False, "message": "Send Authorization: Bearer <API_TOKEN>"}


def test_without_api_token_configured_the_read_apis_are_closed(make_client, settings):
    closed = make_client(settings=dataclasses.replace(settings, api_token=None))

    response = closed.simulate_get(LAST_ACTIVITY, params={"workspace_id": 1}, headers=API)

    assert response.status_code == 401 and "API_TOKEN is not set" in response.json["message"]


def test_last_activity_is_all_null_but_the_session_when_there_was_none(client):
    response = client.simulate_get(LAST_ACTIVITY, params={"workspace_id": 1}, headers=API)

    assert response.status_code == 200
    assert response.json == {"success": True, "data": {
        "session_id": "s1", "last_activity": None, "device_type": None,
        "seconds_since_activity": None, "message_count": None}}


def test_last_activity_reports_the_latest_phone_message(timed_client, clock):
    clock.now = NOW + 0.25
    post(timed_client, node_event(message_id="m1"))
    post(timed_client, node_event(message_id="m2", device_type="ios"))
    clock.now = NOW + 12.75

    response = timed_client.simulate_get(LAST_ACTIVITY, params={"workspace_id": 1}, headers=API)

    assert response.json["data"] == {
        "session_id": "s1", "last_activity": "2025-11-24T16:00:00.250Z", "device_type": "ios",
        "seconds_since_activity": 12.5, "message_count": 2}


def test_last_activity_needs_the_workspace(client):
    response = client.simulate_get(LAST_ACTIVITY, headers=API)
    assert response.status_code == 422
    assert response.json == {"success": False, "message": "Missing required fields: workspace_id"}


def test_a_sender_is_held_during_the_cooldown_and_let_go_after_it(
        timed_client, clock, account_factory):
    account_factory(workspace_id=1, session_id="s1", tier=2)  # 45 s
    post(timed_client, node_event())

    clock.now = NOW + 10
    held = timed_client.simulate_get(permission_url(), headers=API).json["data"]
    clock.now = NOW + 45
    free = timed_client.simulate_get(permission_url(), headers=API).json["data"]

    assert held == {"allowed": False, "retry_after_seconds": 35.0, "reason": "phone_active"}
    assert free["allowed"] is True and free["retry_after_seconds"] is None


def test_a_session_without_activity_may_send(client, account_factory):
    account_factory()
    response = client.simulate_get(permission_url(), headers=API)
    assert response.status_code == 200 and response.json["data"]["allowed"] is True


def test_one_workspaces_activity_is_invisible_to_another_with_the_same_session_id(
        client, account_factory):
    account_factory(workspace_id=1, session_id="s1")
    account_factory(workspace_id=2, session_id="s1")
    post(client, node_event(workspace_id=1, session_id="s1"))

    mine = client.simulate_get(LAST_ACTIVITY, params={"workspace_id": 1}, headers=API)
    theirs = client.simulate_get(LAST_ACTIVITY, params={"workspace_id": 2}, headers=API)

    assert mine.json["data"]["message_count"] == 1
    assert theirs.json["data"]["last_activity"] is None
    assert client.simulate_get(permission_url(1), headers=API).json["data"]["allowed"] is False
    assert client.simulate_get(permission_url(2), headers=API).json["data"]["allowed"] is True


T0 = dt.datetime(2025, 11, 24, 16, 0, 0)


def seconds(n):
    return dt.timedelta(seconds=n)


def pause_and_resume(settings, workspace_id, session_id, paused, resumed):
    check = pause_session(settings, workspace_id, session_id, now=paused,
                          last_activity_ms=None).next_check
    forced = Check(workspace_id, session_id, check.paused_at, settings.max_attempts, 0)
    check_resume(settings, forced, now=resumed, last_activity_ms=to_ms(paused))


def test_conflict_stats_add_up_the_workspaces_pauses_and_resumes(
        make_client, settings, account_factory):
    account_factory(5, "s1", campaigns=("ongoing", "ongoing"))
    account_factory(5, "s2")
    account_factory(6, "s1")
    pause_and_resume(settings, 5, "s1", T0, T0 + seconds(60))
    pause_session(settings, 5, "s1", now=T0 + seconds(100), last_activity_ms=None)
    pause_and_resume(settings, 5, "s2", T0 + seconds(100), T0 + seconds(130))
    pause_session(settings, 6, "s1", now=T0, last_activity_ms=None)
    client = make_client(clock=Clock(to_ms(T0 + seconds(200)) / 1000))

    response = client.simulate_get("/api/v1/workspaces/5/conflict-stats", headers=API)

    assert response.json == {"success": True, "data": {
        "total_paused": 2, "total_resumed_today": 3, "average_pause_duration": 50.0,
        "campaigns_paused_multiple_times": 2, "total_held": 0}}


def test_resumes_before_midnight_utc_are_not_counted_today(
        make_client, settings, account_factory):
    account_factory(5, "s1")
    pause_and_resume(settings, 5, "s1", T0, T0 + seconds(60))
    next_day = make_client(clock=Clock(to_ms(T0 + dt.timedelta(days=1)) / 1000))

    data = next_day.simulate_get("/api/v1/workspaces/5/conflict-stats", headers=API).json["data"]

    assert data["total_resumed_today"] == 0 and data["average_pause_duration"] == 60.0


def test_conflict_stats_of_a_quiet_workspace_are_zero(client, db):
    data = client.simulate_get("/api/v1/workspaces/9/conflict-stats", headers=API).json["data"]
    assert data == {"total_paused": 0, "total_resumed_today": 0, "average_pause_duration": 0.0,
                    "campaigns_paused_multiple_times": 0, "total_held": 0}


def test_healthz_answers_without_credentials(client):
    response = client.simulate_get("/healthz")
    assert response.status_code == 200 and response.json["success"] is True


def test_readyz_is_200_when_redis_and_the_database_answer(client, db):
    response = client.simulate_get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"redis": "ok", "database": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(make_client, settings, db):
    response = make_client(store=unreachable_store(settings)).simulate_get("/readyz")

    assert response.status_code == 503 and response.json["success"] is False
    assert response.json["checks"]["redis"].startswith("unreachable")
    assert response.json["checks"]["database"] == "ok"


def test_the_read_apis_are_503_when_redis_is_unreachable(make_client, settings):
    down = make_client(store=unreachable_store(settings))
    response = down.simulate_get(LAST_ACTIVITY, params={"workspace_id": 1}, headers=API)
    assert response.status_code == 503 and response.json["success"] is False


def webhook_count(client, outcome: str) -> float:
    prefix = f'phoneguard_webhooks_total{{outcome="{outcome}"}} '
    lines = client.simulate_get("/metrics").text.splitlines()
    return next((float(line[len(prefix):]) for line in lines if line.startswith(prefix)), 0.0)


def test_metrics_count_webhooks_by_outcome_in_prometheus_text(client):
    before = {o: webhook_count(client, o) for o in ("accepted", "duplicate", "gateway_device")}
    post(client, node_event(message_id="m1"))
    post(client, node_event(message_id="m1"))
    post(client, node_event(message_id="m2", device_type="web"))

    response = client.simulate_get("/metrics")

    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE phoneguard_webhooks_total counter" in response.text
    after = {o: webhook_count(client, o) for o in before}
    assert {o: after[o] - before[o] for o in before} == \
        {"accepted": 1, "duplicate": 1, "gateway_device": 1}


def test_an_unknown_route_is_a_json_404(client):
    response = client.simulate_get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json == {"success": False,
                             "message": "No such endpoint: GET /api/v1/nothing-here"}


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/api/v1/whatsapp/webhook", "POST"),
    ("DELETE", "/healthz", "GET"),
])
def test_a_wrong_method_is_a_json_405_that_says_which_to_use(client, method, path, allowed):
    response = client.simulate_request(method, path)

    assert response.status_code == 405 and response.json["success"] is False
    assert allowed in response.headers["Allow"] and allowed in response.json["message"]
