"""web's /metrics tells the truth for the deployment, on the Procfile's real processes: the
worker runs in a process of its own and shares nothing with web but Redis and the database,
as on two machines; web runs two gunicorn workers, and every scrape agrees."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts.stack import Stack
from tests import e2e_helpers as e2e
from tests import signatures
from tests.fixtures import node_event

pytestmark = pytest.mark.processes

COOLDOWN = 3
WORKSPACE, SESSION = 1, "metrics-e2e"


def scrape(stack: Stack) -> dict[str, float]:
    status, text = stack.get("/metrics")
    assert status == 200, text
    return {s.name: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if not s.labels}  # the gauges, each histogram's count and sum


def scrapes_agree(stack: Stack, times: int = 4) -> dict[str, float]:
    """Scrape several times (each may land on another gunicorn worker); the deployment's
    figures must not depend on which one answered."""
    taken = [scrape(stack) for _ in range(times)]
    names = [n for n in taken[0] if n.startswith(("phoneguard_campaigns", "phoneguard_sessions",
                                                  "phoneguard_resume", "phoneguard_pause"))]
    assert all({n: s.get(n) for n in names} == {n: taken[0][n] for n in names} for s in taken)
    return taken[-1]


def wait_for(stack: Stack, name: str, value: float, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while (samples := scrape(stack)).get(name) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {samples.get(name)}, not {value}\n{stack.logs()}")
        time.sleep(0.1)
    return samples


def test_metrics_on_web_count_what_the_worker_in_another_process_did(capsys):
    env = {"CAMPAIGN_CONFLICT_TIER_COOLDOWN": f"1:{COOLDOWN}", "WEB_CONCURRENCY": "2"}
    with Stack(env=env) as stack:
        stack.run_script("seed", "--workspace", str(WORKSPACE), "--session", SESSION,
                         "--tier", "1", "--campaigns", "2")
        stack.start("web")
        e2e.start_worker(stack)
        before = scrapes_agree(stack)

        status, reply = stack.post("/api/v1/whatsapp/webhook",
                                   node_event(SESSION, WORKSPACE, message_id="e2e-m1"),
                                   signatures.token_headers(stack.env["WEBHOOK_TOKEN"]))
        assert status == 200, reply
        e2e.wait_for_status(stack, WORKSPACE, SESSION, "paused_mobile", 10)
        paused = scrapes_agree(stack)
        resumed = wait_for(stack, "phoneguard_resume_lateness_seconds_count", 1, COOLDOWN + 15)
        rows = e2e.campaigns(stack, WORKSPACE, SESSION)

    with capsys.disabled():
        print(f"\n  [e2e] pause latency {paused['phoneguard_pause_latency_seconds_sum']:.3f} s, "
              f"resume lateness {resumed['phoneguard_resume_lateness_seconds_sum']:.3f} s "
              "(as the worker observed them; read on web)", end="")
    assert (before["phoneguard_campaigns_paused"], before["phoneguard_sessions_paused"]) == (0, 0)
    assert before["phoneguard_pause_latency_seconds_count"] == 0
    assert paused["phoneguard_campaigns_paused"] == 2
    assert paused["phoneguard_sessions_paused"] == 1
    assert paused["phoneguard_resume_checks_pending"] == 1
    assert paused["phoneguard_pause_latency_seconds_count"] == 1
    assert 0 < paused["phoneguard_pause_latency_seconds_sum"] < 10
    assert [row.status for row in rows] == ["ongoing", "ongoing"]
    assert resumed["phoneguard_campaigns_paused"] == 0
    assert resumed["phoneguard_resume_checks_pending"] == 0
    assert 0 <= resumed["phoneguard_resume_lateness_seconds_sum"] < 15
