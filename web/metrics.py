"""Prometheus counters of the web process, and the /metrics resource.

Under gunicorn every worker is its own process; gunicorn.conf.py points
PROMETHEUS_MULTIPROC_DIR at a fresh directory so that /metrics adds up all of them.
"""

from __future__ import annotations

import os

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)

WEBHOOKS = Counter("phoneguard_webhooks_total", "Webhooks taken, by outcome", ["outcome"])


class MetricsResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response):
        registry = CollectorRegistry()
        # prometheus_client itself keys multiprocess mode on this variable.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(registry)
        else:
            from prometheus_client import REGISTRY as registry
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(registry)
