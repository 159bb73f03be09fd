"""`?token=<WEBHOOK_TOKEN>` is a credential: with the Procfile's real gunicorn, no value of the
`token` query parameter, accepted or refused, well-formed or not, appears in any log line or
in any response body. The access log format here adds the query string and the raw URI alone
(`%(q)s`, `%({raw_uri}e)s`) to gunicorn's default, as an operator might."""

from __future__ import annotations

import socket
import urllib.parse

import pytest

from models.settings import Settings
from scripts.stack import Stack
from tests import signatures
from tests.fixtures import gateway_body
from web.redact import MASK, redact

pytestmark = pytest.mark.processes

TOKEN = "Q7f-right-webhook-token"
WRONG = ["W1-wrong-token", "W2 spaced token", "W3%2Fslash", "W4\x01control"]
FORMAT = '%(h)s "%(r)s" %(s)s q=%(q)s raw=%({raw_uri}e)s "%(f)s"'


@pytest.fixture(scope="module")
def stack():
    env = {"WEBHOOK_TOKEN": TOKEN, "WEB_CONCURRENCY": "1",
           "GUNICORN_CMD_ARGS": f"--access-logformat='{FORMAT}'"}
    with Stack(env=env) as running:
        running.start("web")
        yield running


def raw_request(stack: Stack, request_line: bytes) -> bytes:
    """Send one request line as a client would, whatever it holds; gunicorn's answer."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as conn:
        conn.sendall(request_line + b"\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_query_token_accepted_or_refused_is_in_no_log_line_and_no_response(stack):
    body = signatures.encode(gateway_body("evolution_messages_upsert_contact"))
    answers = [
        stack.post(f"/api/v1/whatsapp/webhook?token={TOKEN}", body),
        stack.post(f"/api/v1/whatsapp/webhook?token={TOKEN}/messages-upsert", body),
        stack.post(f"/api/v1/whatsapp/webhook/messages-upsert?a=1&token={TOKEN}", body),
    ]
    refused = [stack.post("/api/v1/whatsapp/webhook?token="
                          + urllib.parse.quote(value, safe="%"), body) for value in WRONG]
    replies = [raw_request(stack, line) for line in (
        b"POST /api/v1/whatsapp/webhook?token=W5-raw-request-line HTTP/1.1",
        b"POST /api/v1/whatsapp/webhook?token=W6\x01control-in-line HTTP/1.1",
        b"POST /api/v1/whatsapp/webhook?token=W7 two spaces HTTP/1.1",
        b"POST /api/v1/whatsapp/webhook?%74oken=W8-percent-name HTTP/1.1",
    )]

    assert [status for status, _ in answers] == [200, 200, 200]
    assert [status for status, _ in refused] == [401] * len(WRONG)
    log = stack.log_path("web").read_text(errors="replace")
    texts = [str(reply) for _, reply in answers + refused] + [r.decode("latin-1") for r in replies]
    for secret in [TOKEN, "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8"]:
        assert secret not in log, f"{secret} is in the log:\n{log}"
        assert not any(secret in text for text in texts), secret
    assert log.count(MASK) >= len(answers) + len(refused)  # the lines are there, masked


def test_the_webhook_token_alone_is_enough_to_start_web(stack):
    assert Settings.from_env({"WEBHOOK_TOKEN": TOKEN}).webhook_token == TOKEN
    assert stack.get("/healthz")[0] == 200


@pytest.mark.parametrize("line, masked", [
    ("POST /w?token=abc HTTP/1.1", "POST /w?token=[redacted] HTTP/1.1"),
    ("x?a=1&token=abc&b=2", "x?a=1&token=[redacted]&b=2"),
    ("q=token=abc raw=/w?%74oken=abc", "q=token=[redacted] raw=/w?%74oken=[redacted]"),
    ("line: 'POST /w?TOKEN=a\\x01b HTTP/1.1'", "line: 'POST /w?TOKEN=[redacted] HTTP/1.1'"),
    ("x?tokens=1&my_token=2", "x?tokens=1&my_token=2"),
])
def test_redact_masks_every_token_parameter_and_nothing_else(line, masked):
    assert redact(line) == masked
