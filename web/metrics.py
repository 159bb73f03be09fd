"""GET /metrics: the web tier's own counters, and the deployment's figures read at scrape time.

Under gunicorn every worker is its own process; gunicorn.conf.py points
PROMETHEUS_MULTIPROC_DIR at a fresh directory so that /metrics adds up all of them. The
worker and the clock may run on other machines that nobody can scrape, so what they do is
read from the stores every process shares (models.deployment_metrics), on each scrape.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import falcon
import peewee
import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric

from models import deployment_metrics as shared
from models import keys
from models.db import database

WEBHOOKS = Counter("phoneguard_webhooks_total", "Webhooks taken, by outcome", ["outcome"])

log = logging.getLogger("phoneguard.metrics")


class DeploymentCollector:
    """A prometheus_client collector of the figures every process writes to Redis and the
    database. A store that does not answer leaves its figures out and says so in
    phoneguard_metrics_source_up, so the web tier's own counters are still scraped."""

    def __init__(self, client: redis.Redis, queue: str,
                 namespace: str = keys.BROKER_NAMESPACE):
        self.client = client
        self.queue = queue
        self.namespace = namespace

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("phoneguard_metrics_source_up",
                               "1 when this scrape read the store, 0 when it did not answer "
                               "and its figures are left out", labels=["source"])
        for source, read in (("database", self._database), ("redis", self._redis)):
            try:
                metrics = read()
            except (peewee.PeeweeException, redis.RedisError) as exc:
                log.warning("metrics: %s did not answer (%s); its figures are left out",
                            source, exc)
                metrics = None
            up.add_metric([source], 0 if metrics is None else 1)
            yield from metrics or []
        yield up

    def _database(self) -> list[Metric]:
        if database.obj is None:  # an app built for the Redis routes only (tests)
            raise peewee.InterfaceError("no database opened")
        campaigns, sessions = shared.paused_totals()
        return [
            _gauge("phoneguard_campaigns_paused",
                   "Campaigns now paused_mobile (by phone activity or a hold)", campaigns),
            _gauge("phoneguard_sessions_paused",
                   "Sessions with at least one campaign now paused_mobile", sessions),
        ]

    def _redis(self) -> list[Metric]:
        pending = shared.pending_checks(self.client, self.queue, self.namespace)
        snapshots = shared.snapshots(self.client)
        return [
            _gauge("phoneguard_resume_checks_pending",
                   "Delayed resume checks waiting in Redis or held by workers", pending),
            *(HistogramMetricFamily(h.name, h.documentation, buckets=snapshots[h.name].buckets,
                                    sum_value=snapshots[h.name].sum)
              for h in shared.HISTOGRAMS),
        ]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _ThisProcess:
    """The process's default registry, forwarded (a registry cannot hold another directly)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class MetricsResource:
    def __init__(self, deployment: DeploymentCollector | None = None):
        self.deployment = deployment

    def on_get(self, req: falcon.Request, resp: falcon.Response):
        registry = CollectorRegistry()
        # prometheus_client itself keys multiprocess mode on this variable.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(_ThisProcess())
        if self.deployment is not None:
            registry.register(self.deployment)
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(registry)
