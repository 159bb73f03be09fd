"""The Procfile's processes over TLS-only Redis with a self-signed certificate, as Heroku's
Key-Value Store serves it: REDIS_SSL_CERT_REQS=none (or ssl_cert_reqs in the URL) lets web,
worker, clock and the operator commands in; the default refuses the certificate, and /readyz
says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from scripts.stack import ROOT, Stack
from tests import e2e_helpers as e2e
from tests import servers, signatures
from tests.conftest import REQUIRE_DATABASES
from tests.fixtures import gateway_body

pytestmark = pytest.mark.processes

COOLDOWN = 2
INTERVAL = 1
WORKSPACE, SESSION = 1, "ws1-acc3"  # the Node gateway's fixture names them
QUEUED = "Mobile activity queued for processing"


@pytest.fixture(scope="module")
def tls_url():
    problem = servers.tls_redis_problem()
    if problem:
        if REQUIRE_DATABASES:
            pytest.fail(f"a TLS redis-server is required here: {problem}")
        pytest.skip(problem)
    with servers.tls_redis() as url:
        yield url


@pytest.fixture(scope="module")
def stack(tls_url):
    env = {"REDIS_URL": tls_url, "REDIS_SSL_CERT_REQS": "none",
           "CAMPAIGN_CONFLICT_TIER_COOLDOWN": ",".join(f"{t}:{COOLDOWN}" for t in (1, 2, 3, 4)),
           "CAMPAIGN_CONFLICT_RECONCILE_INTERVAL": str(INTERVAL)}
    with Stack(env=env) as running:
        for session in (SESSION, "lost-check"):
            running.run_script("seed", "--workspace", str(WORKSPACE), "--session", session,
                               "--campaigns", "2")
        running.start("web")
        e2e.start_worker(running)
        running.start("clock", wait=False)
        yield running


def phone_message(stack: Stack, session: str) -> None:
    body = gateway_body("node_mobile_activity_detected")
    body["session_id"] = session
    status, reply = stack.post("/api/v1/whatsapp/webhook", signatures.encode(body),
                               signatures.token_headers(stack.env["WEBHOOK_TOKEN"]))
    assert (status, reply.get("message")) == (200, QUEUED), reply


def test_a_phone_message_pauses_and_the_cooldown_resumes_over_tls(stack):
    assert stack.get("/readyz")[0] == 200

    phone_message(stack, SESSION)
    e2e.wait_for_status(stack, WORKSPACE, SESSION, "paused_mobile", 10)
    e2e.wait_for_status(stack, WORKSPACE, SESSION, "ongoing", COOLDOWN + 15)

    assert e2e.pause_events(stack, WORKSPACE, SESSION) == [
        ("paused", None), ("paused", None), ("resumed", 1), ("resumed", 1)]


def test_the_clock_reschedules_a_lost_check_over_tls(stack):
    phone_message(stack, "lost-check")
    e2e.wait_for_status(stack, WORKSPACE, "lost-check", "paused_mobile", 10)
    time.sleep(0.5)  # the pause job schedules its check after the commit
    # The check is lost: the worker holding it dies, and Redis restarts empty.
    stack.signal("worker", signal.SIGKILL)
    stack.wait_exit("worker", 10)
    stack.redis_client().flushdb()
    e2e.start_worker(stack)

    e2e.wait_for_status(stack, WORKSPACE, "lost-check", "ongoing", COOLDOWN + 15 + 20)
    assert "rescheduled 1 overdue resume checks: [(1, 'lost-check')]" in \
        stack.log_path("clock").read_text()


@pytest.mark.parametrize("query", ["", "?ssl_cert_reqs=none"])
def test_operator_commands_reach_a_tls_redis_through_the_variable_or_the_url(
        stack, tls_url, query):
    env = {"REDIS_URL": tls_url + query}
    if not query:
        env["REDIS_SSL_CERT_REQS"] = "none"
    result = run_inspect(stack, env)
    assert result.returncode == 0, result.stderr
    assert "activity" in json.loads(result.stdout)


def test_the_default_refuses_a_self_signed_certificate_and_readyz_says_why(tls_url):
    with Stack(env={"REDIS_URL": tls_url}) as refused:
        refused.start("web")
        status, ready = refused.get("/readyz")
        webhook_status, _ = refused.post("/api/v1/whatsapp/webhook",
                                         gateway_body("node_mobile_activity_detected"),
                                         signatures.token_headers(refused.env["WEBHOOK_TOKEN"]))

    assert status == 503 and ready["checks"]["database"] == "ok"
    assert "certificate" in ready["checks"]["redis"]
    assert "REDIS_SSL_CERT_REQS=none" in ready["checks"]["redis"]
    assert webhook_status == 503


def run_inspect(stack: Stack, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m scripts.inspect --json` with the stack's environment and `env`."""
    base = {k: v for k, v in stack.env.items() if k != "REDIS_SSL_CERT_REQS"}
    return subprocess.run([sys.executable, "-m", "scripts.inspect", "--json"], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)
