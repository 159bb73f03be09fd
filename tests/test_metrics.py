"""The deployment's figures on /metrics: histograms kept in Redis, the broker's pending checks,
the paused gauges, on a real Redis and the real databases (the actors on the StubBroker).
tests/test_end_to_end_metrics.py reads them through the real processes."""

from __future__ import annotations

import math

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name
from prometheus_client.parser import text_string_to_metric_families

from models import deployment_metrics as shared
from models import keys
from models.activity import ActivityEvent
from models.tables import Campaign
from tests.fixtures import node_event
from tests.web_helpers import post, unreachable_store
from web.metrics import DeploymentCollector

QUEUE = "campaign-conflict"


def scrape(client) -> dict[str, float]:
    """/metrics as {sample name with labels: value}."""
    response = client.simulate_get("/metrics")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def bucket(histogram: str, le: str) -> str:
    return f'{histogram}_bucket{{le="{le}"}}'


def actor(name):
    return dramatiq.get_broker().get_actor(name)


# -- the histogram store ----------------------------------------------------------------------

def test_a_histogram_in_redis_reads_back_with_cumulative_buckets_and_its_sum(redis_client):
    for seconds in (0.003, 0.02, 0.02, 400):
        shared.observe(redis_client, shared.PAUSE_LATENCY, seconds)

    snapshot = shared.snapshots(redis_client)[shared.PAUSE_LATENCY.name]

    counts = dict(snapshot.buckets)
    assert (counts["0.005"], counts["0.01"], counts["0.025"], counts["120.0"]) == (1, 1, 3, 3)
    assert counts["+Inf"] == 4 and list(counts)[-1] == "+Inf"
    assert math.isclose(snapshot.sum, 400.043)


def test_a_negative_duration_from_two_machines_clocks_counts_as_zero(redis_client):
    shared.observe(redis_client, shared.RESUME_LATENESS, -0.2)

    snapshot = shared.snapshots(redis_client)[shared.RESUME_LATENESS.name]

    assert dict(snapshot.buckets)["0.01"] == 1 and snapshot.sum == 0


def test_a_bucket_no_longer_in_the_layout_still_counts_in_the_next_bound(redis_client):
    redis_client.hset(shared.RESUME_LATENESS.key, mapping={"0.2": 2, "sum": 0.3})

    counts = dict(shared.snapshots(redis_client)[shared.RESUME_LATENESS.name].buckets)

    assert (counts["0.1"], counts["0.25"], counts["+Inf"]) == (0, 2, 2)


# -- the broker's pending checks ---------------------------------------------------------------

def test_pending_checks_count_delayed_messages_waiting_and_held_by_a_worker(redis_client):
    broker = RedisBroker(client=redis_client, namespace=keys.BROKER_NAMESPACE, middleware=[])
    broker.declare_queue(QUEUE)
    for n in range(3):
        broker.enqueue(dramatiq.Message(QUEUE, "auto_resume_campaign", (1, f"s{n}"), {}, {}),
                       delay=60_000)
    broker.enqueue(dramatiq.Message(QUEUE, "handle_mobile_activity", (1, "s"), {}, {}))
    consumer = broker.consume(dq_name(QUEUE), prefetch=2, timeout=100)

    held = [next(consumer), next(consumer)]  # fetched, not acknowledged: a worker holds them

    assert all(held)
    assert redis_client.llen(keys.broker_queue(dq_name(QUEUE))) == 1
    assert shared.pending_checks(redis_client, QUEUE) == 3
    consumer.ack(held[0])
    assert shared.pending_checks(redis_client, QUEUE) == 2
    consumer.close()


def test_the_broker_key_names_follow_the_namespace_they_are_given(redis_client):
    broker = RedisBroker(client=redis_client, namespace="elsewhere", middleware=[])
    broker.declare_queue(QUEUE)
    broker.enqueue(dramatiq.Message(QUEUE, "auto_resume_campaign", (), {}, {}), delay=60_000)

    assert shared.pending_checks(redis_client, QUEUE, namespace="elsewhere") == 1
    assert shared.pending_checks(redis_client, QUEUE) == 0


# -- the actors observe ------------------------------------------------------------------------

def test_a_pause_counts_its_latency_from_when_web_received_the_webhook(
        stub_broker, store, redis_client, account_factory):
    account_factory(campaigns=("ongoing", "ongoing"))
    received_ms = current_millis() - 1500

    actor("handle_mobile_activity")(1, "s1", "android", received_ms=received_ms)

    snapshot = shared.snapshots(redis_client)[shared.PAUSE_LATENCY.name]
    counts = dict(snapshot.buckets)
    assert (counts["1.0"], counts["2.5"], counts["+Inf"]) == (0, 1, 1)
    assert 1.5 <= snapshot.sum < 2.5


@pytest.mark.parametrize("kwargs, campaigns", [
    ({}, ("ongoing",)),  # a message queued before received_ms existed
    ({"received_ms": 1}, ("paused",)),  # nothing ongoing: nothing was paused
])
def test_a_pause_that_has_no_receive_time_or_paused_nothing_counts_nothing(
        stub_broker, redis_client, account_factory, kwargs, campaigns):
    account_factory(campaigns=campaigns)

    actor("handle_mobile_activity")(1, "s1", "android", **kwargs)

    assert not redis_client.exists(shared.PAUSE_LATENCY.key)


def test_a_scheduled_check_carries_its_due_time_and_counts_its_lateness_when_it_resumes(
        stub_broker, store, redis_client, account_factory):
    _, (campaign,) = account_factory(tier=1)
    actor("handle_mobile_activity")(1, "s1", "android", received_ms=current_millis())
    (check,) = [dramatiq.Message.decode(m) for m in stub_broker.queues[f"{QUEUE}.DQ"].queue]
    due_ms = check.kwargs["due_ms"]
    assert abs(check.options["eta"] - due_ms) <= 50
    stub_broker.flush_all()

    # The check ran 3 s after its due time (attempt 5 resumes whatever it finds).
    actor("auto_resume_campaign")(*check.args[:3], 5, due_ms=current_millis() - 3000)

    assert Campaign.get_by_id(campaign.id).status == "ongoing"
    counts = dict(shared.snapshots(redis_client)[shared.RESUME_LATENESS.name].buckets)
    assert (counts["2.5"], counts["5.0"], counts["+Inf"]) == (0, 1, 1)


# -- /metrics ---------------------------------------------------------------------------------

def test_metrics_show_the_paused_campaigns_sessions_and_pending_checks(
        client, stub_broker, store, redis_client, account_factory):
    account_factory(session_id="a", campaigns=("ongoing", "ongoing", "completed"))
    account_factory(session_id="b", campaigns=("ongoing",))
    account_factory(session_id="c", campaigns=("ongoing",))
    for session in ("a", "b"):
        store.record(ActivityEvent(1, session, "android", "m"), now_ms=current_millis(),
                     queue_pause=True)
        actor("handle_mobile_activity")(1, session, "android", received_ms=current_millis())
    # The StubBroker keeps its delay queue in memory; the gauge reads Dramatiq's Redis keys.
    RedisBroker(client=redis_client, middleware=[]).enqueue(
        dramatiq.Message(QUEUE, "auto_resume_campaign", (), {}, {}), delay=60_000)

    samples = scrape(client)

    assert samples["phoneguard_campaigns_paused"] == 3
    assert samples["phoneguard_sessions_paused"] == 2
    assert samples["phoneguard_resume_checks_pending"] == 1
    assert samples["phoneguard_pause_latency_seconds_count"] == 2
    assert samples[bucket("phoneguard_resume_lateness_seconds", "+Inf")] == 0
    assert samples['phoneguard_metrics_source_up{source="database"}'] == 1
    assert samples['phoneguard_metrics_source_up{source="redis"}'] == 1


def test_metrics_without_redis_leave_its_figures_out_and_still_answer(
        make_client, settings, db):
    client = make_client(store=unreachable_store(settings))
    post(make_client(), node_event())  # a webhook counted by this process

    samples = scrape(client)

    assert samples['phoneguard_metrics_source_up{source="redis"}'] == 0
    assert samples['phoneguard_metrics_source_up{source="database"}'] == 1
    assert "phoneguard_resume_checks_pending" not in samples
    assert samples["phoneguard_campaigns_paused"] == 0
    assert any(name.startswith("phoneguard_webhooks_total") for name in samples)


def test_the_collector_has_no_workspace_or_session_labels(stub_broker, redis_client, db):
    shared.observe(redis_client, shared.PAUSE_LATENCY, 0.1)

    families = list(DeploymentCollector(redis_client, QUEUE).collect())

    labels = {name for family in families for s in family.samples for name in s.labels}
    assert labels <= {"le", "source"}
