"""The operator page over Falcon's test client, on a real Redis and the real databases: the
sign-in cookie (signed, HttpOnly, SameSite=Strict, expiring, Secure over https), what the
page shows without it, escaping, and the control API taking the cookie.
tests/test_dashboard_browser.py drives the same page in a real Chromium."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from models.activity import ActivityEvent
from tests.web_helpers import API, Clock
from web import session_cookie

NOW = 1_800_000_000.0
HEADER = {session_cookie.HEADER: "1"}


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def page(make_client, clock, db):
    return make_client(clock=clock)


def sign_in(client, token="api-token", headers=None):
    return client.simulate_post("/dashboard/sign-in", body=f"token={token}",
                                headers={"Content-Type": "application/x-www-form-urlencoded",
                                         **(headers or {})})


def cookie_of(response) -> dict:
    return {"Cookie": f"{session_cookie.NAME}={response.cookies[session_cookie.NAME].value}"}


def typed(store, workspace_id, session_id, at_ms):
    store.record(ActivityEvent(workspace_id, session_id, "android", f"m{at_ms}"),
                 now_ms=at_ms, queue_pause=False)


def test_without_the_cookie_the_page_shows_only_the_sign_in_form(page, store, account_factory):
    account_factory(session_id="secret-shop")
    typed(store, 1, "secret-shop", int(NOW * 1000))

    response = page.simulate_get("/dashboard")

    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/html")
    assert 'action="/dashboard/sign-in"' in response.text
    assert "secret-shop" not in response.text and 'id="sessions"' not in response.text


def test_a_wrong_token_is_refused_with_a_clear_message_and_no_cookie(page):
    response = sign_in(page, "guess")

    assert response.status_code == 401
    assert "Wrong token" in response.text and 'action="/dashboard/sign-in"' in response.text
    assert session_cookie.NAME not in response.cookies


def test_the_right_token_sets_a_signed_httponly_strict_expiring_cookie(page):
    response = sign_in(page)

    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.cookies[session_cookie.NAME]
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/"
    assert cookie.max_age == session_cookie.LIFETIME_SECONDS
    assert not cookie.secure  # plain http here; see the next test
    assert "api-token" not in cookie.value


def test_the_cookie_is_secure_when_the_operator_came_over_https(page):
    response = sign_in(page, headers={"X-Forwarded-Proto": "https"})

    assert response.cookies[session_cookie.NAME].secure


def test_a_signed_in_page_lists_live_and_paused_sessions_with_countdowns(
        page, store, account_factory, stub_broker):
    account_factory(session_id="typing", campaigns=("ongoing",))
    typed(store, 1, "typing", int(NOW * 1000) - 5000)
    cookie = cookie_of(sign_in(page))

    response = page.simulate_get("/dashboard", headers=cookie)

    assert 'data-sid="typing"' in response.text
    assert "Resume now" in response.text and "Hold 30 min" in response.text
    assert re.search(r"<script nonce=\"([^\"]+)\">", response.text)
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_the_page_can_show_one_workspace(page, store, account_factory):
    account_factory(workspace_id=1, session_id="one")
    account_factory(workspace_id=2, session_id="two")
    typed(store, 1, "one", int(NOW * 1000))
    typed(store, 2, "two", int(NOW * 1000))
    cookie = cookie_of(sign_in(page))

    everything = page.simulate_get("/dashboard", headers=cookie).text
    second = page.simulate_get("/dashboard/sessions", params={"workspace_id": 2},
                               headers=cookie).text

    assert 'data-sid="one"' in everything and 'data-sid="two"' in everything
    assert 'data-sid="two"' in second and 'data-sid="one"' not in second
    assert "Workspace 2" in second and "Workspace 1" not in second


def test_everything_rendered_from_outside_is_escaped(page, store, account_factory):
    hostile = '<img src=x onerror="alert(1)">&'
    account_factory(session_id=hostile)
    typed(store, 1, hostile, int(NOW * 1000))
    cookie = cookie_of(sign_in(page))

    text = page.simulate_get("/dashboard/sessions", headers=cookie).text

    assert "<img" not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;" in text


@pytest.mark.parametrize("tamper", [
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # signature changed
    lambda v: str(int(v.split(".")[0]) + 3600) + "." + v.split(".")[1],  # expiry pushed back
    lambda v: "",
])
def test_a_tampered_cookie_is_not_signed_in(page, tamper):
    value = sign_in(page).cookies[session_cookie.NAME].value

    response = page.simulate_get("/dashboard/sessions",
                                 headers={"Cookie": f"{session_cookie.NAME}={tamper(value)}"})

    assert response.status_code == 401 and response.json["success"] is False


def test_the_cookie_expires(page, clock):
    cookie = cookie_of(sign_in(page))
    clock.now += session_cookie.LIFETIME_SECONDS + 1

    assert page.simulate_get("/dashboard/sessions", headers=cookie).status_code == 401
    assert 'action="/dashboard/sign-in"' in page.simulate_get("/dashboard", headers=cookie).text


def test_a_cookie_of_another_api_token_is_not_signed_in(make_client, settings, clock, db):
    import dataclasses

    old = cookie_of(sign_in(make_client(clock=clock)))
    rotated = make_client(settings=dataclasses.replace(settings, api_token="new-token"),
                          clock=clock)

    assert rotated.simulate_get("/dashboard/sessions", headers=old).status_code == 401


def test_the_control_api_takes_the_cookie_with_the_page_header(
        page, store, account_factory, stub_broker):
    account_factory(session_id="desk", campaigns=("ongoing",))
    cookie = cookie_of(sign_in(page))
    hold = "/api/v1/workspaces/1/sessions/desk/hold"

    without_header = page.simulate_post(hold, json={"minutes": 30}, headers=cookie)
    with_header = page.simulate_post(hold, json={"minutes": 30}, headers={**cookie, **HEADER})
    read = page.simulate_get("/api/v1/workspaces/1/sessions/desk", headers=cookie)

    assert without_header.status_code == 401
    assert with_header.status_code == 200 and with_header.json["data"]["held_until"]
    assert read.status_code == 200 and read.json["data"]["state"] == "held"


def test_the_bearer_token_still_works_beside_the_cookie(page):
    response = page.simulate_get("/api/v1/workspaces/1/conflict-stats", headers=API)

    assert response.status_code == 200


def test_signing_out_clears_the_cookie(page):
    cookie = cookie_of(sign_in(page))

    response = page.simulate_post("/dashboard/sign-out", headers=cookie)

    assert response.status_code == 303
    cleared = response.cookies[session_cookie.NAME]
    assert cleared.value == "" and cleared.expires <= dt.datetime.now(dt.UTC)


def test_a_signed_in_refresh_while_redis_is_down_is_a_json_503(
        make_client, settings, clock, db):
    from tests.web_helpers import unreachable_store

    cookie = cookie_of(sign_in(make_client(clock=clock)))
    down = make_client(store=unreachable_store(settings), clock=clock)

    response = down.simulate_get("/dashboard/sessions", headers=cookie)

    assert response.status_code == 503 and response.json["success"] is False


def test_with_no_api_token_configured_nobody_can_sign_in(make_client, settings, clock, db):
    import dataclasses

    closed = make_client(settings=dataclasses.replace(settings, api_token=None), clock=clock)

    assert "API_TOKEN is not set" in closed.simulate_get("/dashboard").text
    assert sign_in(closed, "").status_code == 401
    assert sign_in(closed, "None").status_code == 401
