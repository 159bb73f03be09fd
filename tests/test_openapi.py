"""Hostile input (issue 4): the OpenAPI description at /openapi.json checked with schemathesis
against the app, and bodies, headers and signatures a gateway would never send: always a 4xx
with a clear message, never a 5xx, a stack trace, or a changed row.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import re
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import falcon.inspect
import pytest
import schemathesis
from falcon import testing
from hypothesis import HealthCheck, settings

from models.db import open_database
from models.schema import migrate_up
from models.tables import Campaign, CampaignPauseEvent, WhatsappAccount
from scripts.stack import Stack
from tests.e2e_helpers import database_path, start_worker, wait_for_status
from tests.signatures import standard_headers
from tests.web_helpers import enqueue_pause, pause_jobs
from web.app import create_app
from web.openapi import SPEC

WEBHOOK_TOKEN = "gateway-token"
API_TOKEN = "api-token"
# Checks of the responses against the description. Left out: negative_data_rejection and
# positive_data_acceptance, because the webhook acknowledges any JSON object by design (a
# gateway retries every non-2xx) and answers a well-formed body for an unknown session 422.
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "ignored_auth"]


class AppUnderTest:
    """A WSGI entry point that forwards to the app the `app` fixture builds, so that the
    schema can be loaded (and its operations collected) before any fixture runs.

    schemathesis' own answer, schemathesis.pytest.from_fixture, fails under pytest 9 (it sets
    request.node._nodeid, which pytest no longer has).
    """

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


APP_UNDER_TEST = AppUnderTest()
# Loaded from the file the app serves (a test below checks they are the same).
schema = schemathesis.openapi.from_path(SPEC, config=schemathesis.Config.from_dict({
    "generation": {"mode": "all"},
    "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    "auth": {"openapi": {"webhookToken": {"api_key": WEBHOOK_TOKEN},
                         "apiToken": {"bearer": API_TOKEN}}},
}))
schema.app = APP_UNDER_TEST
schema.config.update(base_url="http://localhost")  # a host for the WSGI environ, no more


@pytest.fixture
def app(tmp_path, settings, store, stub_broker):
    """The real app on the test session's Redis and a migrated SQLite file of its own."""
    handle = open_database(f"sqlite:///{tmp_path / 'openapi.db'}")
    migrate_up(handle)
    APP_UNDER_TEST.app = create_app(settings, store, enqueue_pause)
    yield APP_UNDER_TEST.app
    APP_UNDER_TEST.app = None
    handle.close()


# A traceback's header, or one of its frame lines (quotes JSON-escaped or not).
TRACE = re.compile(r'Traceback \(most recent call last\)|File \\?"[^"]+", line \d+')


def no_stack_trace(ctx, response, case):
    """A check of our own: nothing of Python's internals leaks into a response body. What the
    request itself sent is not a leak: Hypothesis also tries the strings of this module, so a
    session id "Traceback" comes back in the body it is echoed in."""
    sent = " ".join(str(part) for part in (case.path_parameters, case.query, case.body))
    for match in TRACE.finditer(response.text):
        if match.group() not in sent:
            raise AssertionError("a stack trace leaked into the response body")


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_openapi_description_says_and_never_with_a_5xx(case, app):
    case.call_and_validate(additional_checks=[no_stack_trace])


def test_the_description_is_served_and_names_every_route_and_method_of_the_app(app):
    served = testing.TestClient(app).simulate_get("/openapi.json")
    described = {(path, method.upper()) for path, item in json.loads(served.text)["paths"].items()
                 for method in item}

    routes = {(route.path, method.method) for route in falcon.inspect.inspect_routes(app)
              for method in route.methods if not method.internal}
    assert served.status_code == 200 and served.content == SPEC.read_bytes()
    assert described == routes


def test_the_description_is_valid_openapi_3_1():
    # schemathesis ships OpenAPI's own JSON Schema; it is not public API, so a move skips.
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    validator = getattr(definitions, "OPENAPI_31_VALIDATOR", None)
    if validator is None:
        pytest.skip("this schemathesis keeps OpenAPI's schema elsewhere")
    errors = [str(error) for error in validator.iter_errors(json.loads(SPEC.read_text()))]
    assert errors == []


# -- explicit hostile input ---------------------------------------------------------------

SECRET = b"test-secret-key!"  # the key of the `settings` fixture's WEBHOOK_SECRET
WEBHOOK = "/api/v1/whatsapp/webhook"
TOKEN = {"X-Webhook-Token": WEBHOOK_TOKEN}
API = {"Authorization": f"Bearer {API_TOKEN}"}


def node(session_id='"s1"', workspace_id="1") -> bytes:
    """A mobile_activity_detected body as raw JSON text, the two values spliced in verbatim."""
    return (f'{{"event": "mobile_activity_detected", "session_id": {session_id}, "data": '
            f'{{"workspace_id": {workspace_id}, "device_type": "android", '
            f'"message_id": "m1"}}}}').encode()


def signed(body: bytes, *, at_offset=0, msg_id="msg_1", signed_body=None) -> dict:
    """Standard Webhooks headers, optionally stamped `at_offset` s away or signing another
    body than the one sent (a captured signature replayed onto new content)."""
    return standard_headers(SECRET, signed_body or body, at=time.time() + at_offset,
                            msg_id=msg_id)


def token(body: bytes) -> dict:
    return TOKEN


def api_token(body: bytes) -> dict:
    return API


@dataclass(frozen=True)
class Hostile:
    body: bytes
    status: int
    says: str  # part of the message, telling the sender what was wrong
    headers: Callable[[bytes], dict] = token
    path: str = WEBHOOK

    @property
    def method(self) -> str:
        return "POST" if self.path.endswith("/webhook") else "GET"


def read_api(path: str) -> Hostile:
    return Hostile(b"", 422, "workspace_id", api_token, path)


HOSTILE = {
    "random-bytes": Hostile(random.Random(4).randbytes(4096), 400, "not valid JSON"),
    "deep-nesting": Hostile(b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}", 400, "JSON"),
    "invalid-utf8": Hostile(b'{"event": "mobile_activity_detected", "session_id": "s\xc0\xaf",'
                            b' "data": {"workspace_id": 1}}', 400, "JSON"),
    "nested-session": Hostile(node("[" * 500 + "]" * 500), 422, "session_id"),
    "huge-workspace": Hostile(node(workspace_id="9" * 400), 422, "workspace_id"),
    "workspace-past-int64": Hostile(node(workspace_id=str(2**63)), 422, "workspace_id"),
    "infinite-workspace": Hostile(node(workspace_id="1e999"), 422, "workspace_id"),
    "digits-past-the-parser": Hostile(node(workspace_id="7" * 5000), 400, "JSON"),
    "nan-workspace": Hostile(node(workspace_id="NaN"), 400, "JSON"),
    "lone-surrogate-session": Hostile(node('"s\\ud800"'), 422, "session_id"),
    "rtl-override-session": Hostile(node('"s1\\u202egpj.exe"'), 422, "session_id"),
    "rtl-mark-session": Hostile(node('"\\u200fs1"'), 422, "session_id"),
    "nul-session": Hostile(node('"s1\\u0000"'), 422, "session_id"),
    "expired-signature": Hostile(node(), 401, "expired or replayed",
                                 lambda body: signed(body, at_offset=-301)),
    "future-signature": Hostile(node(), 401, "more than 5 minutes",
                                lambda body: signed(body, at_offset=301)),
    "signature-replayed-on-another-body": Hostile(
        node('"victim"'), 401, "does not match", lambda body: signed(body, signed_body=node())),
    "old-signature-restamped": Hostile(node(), 401, "does not match", lambda body: {
        **signed(body, at_offset=-3600), "webhook-timestamp": str(int(time.time()))}),
    "thousand-signatures": Hostile(node(), 401, "does not match", lambda body: {
        **signed(body), "webhook-signature": " ".join(["v1,AAAA"] * 1000)}),
    "huge-timestamp": Hostile(node(), 401, "webhook-timestamp",
                              lambda body: {**signed(body), "webhook-timestamp": "9" * 40}),
    "non-ascii-token": Hostile(node(), 401, "token",
                               lambda body: {"X-Webhook-Token": "gateway-tøken"}),
    "read-api-huge-workspace": read_api("/api/v1/workspaces/" + "9" * 40 + "/conflict-stats"),
    "read-api-nul-workspace": read_api("/api/internal/sessions/s1/last-activity?workspace_id=%00"),
    "read-api-fullwidth-digit": read_api("/api/v1/workspaces/%EF%BC%91/conflict-stats"),
}


def snapshot() -> list[tuple]:
    """Every row of the three tables, to compare before and after."""
    return [tuple(row.values()) for table in (WhatsappAccount, Campaign, CampaignPauseEvent)
            for row in table.select().order_by(table.id).dicts()]


def assert_refused(case: Hostile, status: int, text: str) -> None:
    """A 4xx with the contract's error body saying what was wrong; nothing of Python."""
    assert status == case.status, text[:300]
    body = json.loads(text)
    assert body["success"] is False and case.says in body["message"], body
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_refused_with_a_clear_4xx_and_changes_nothing(
        name, app, redis_client, stub_broker):
    account = WhatsappAccount.create(workspace_id=1, session_id="s1", tier=1)
    Campaign.create(workspace_id=1, whatsapp_account_id=account.id, name="c", status="ongoing")
    before = snapshot()
    case = HOSTILE[name]
    path, _, query = case.path.partition("?")

    result = testing.TestClient(app).simulate_request(
        case.method, path, query_string=query, body=case.body, headers=case.headers(case.body))

    assert_refused(case, result.status_code, result.text)
    assert snapshot() == before
    assert redis_client.keys("conflict:*") == [] and pause_jobs(stub_broker) == []


@pytest.mark.processes
def test_hostile_input_to_the_running_service_changes_no_row_and_a_replay_counts_once():
    env = {"WEBHOOK_SECRET": "whsec_" + base64.b64encode(SECRET).decode(),
           "WEBHOOK_TOKEN": WEBHOOK_TOKEN, "API_TOKEN": API_TOKEN}
    with Stack(env=env) as stack:
        stack.run_script("seed", "--workspace", "1", "--session", "s1", "--campaigns", "2")
        stack.start("web")
        start_worker(stack)
        before = stack_rows(stack)
        for name, case in HOSTILE.items():
            status, text = send_raw(stack, case.method, case.path, case.body,
                                    case.headers(case.body))
            assert_refused(case, status, text)
            assert "Traceback" not in stack.logs(), name
        time.sleep(1)  # anything wrongly queued would have run by now
        assert stack_rows(stack) == before
        assert stack.redis_client().keys("conflict:*") == []

        # The same signed delivery twice within five minutes is a gateway retry: counted once.
        body = node()
        headers = signed(body, msg_id="msg_replayed")
        answers = [send_raw(stack, "POST", WEBHOOK, body, headers) for _ in range(2)]
        assert [status for status, _ in answers] == [200, 200]
        assert json.loads(answers[1][1])["duplicate"] is True
        rows = wait_for_status(stack, 1, "s1", "paused_mobile", 10)
        assert [row.pause_count for row in rows] == [1, 1]


def stack_rows(stack: Stack) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(database_path(stack))) as conn:
        return [row for table in ("whatsapp_accounts", "campaigns", "campaign_pause_events")
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]


def send_raw(stack: Stack, method: str, path: str, body: bytes, headers: dict):
    """(status, body text) of one request to the stack's gunicorn, whatever it answers."""
    request = urllib.request.Request(
        stack.url(path), data=body if method == "POST" else None, method=method,
        headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
