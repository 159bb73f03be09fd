"""What web's /metrics reads to tell the truth for the whole deployment, whichever machine
each process runs on: histograms the worker observes, kept in Redis hashes; the resume checks
Dramatiq holds; the campaigns and sessions paused, from the database.

A platform routes HTTP to `web` only, so a worker's own registry could never be scraped; the
shared stores can. Reads are a few round trips, never a SCAN; the two counts walk the paused
rows through the status index (docs/operating.md has what a scrape costs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis
from dramatiq.common import dq_name

from models import keys
from models.tables import PAUSED_MOBILE, Campaign, WhatsappAccount


@dataclass(frozen=True)
class Histogram:
    """A histogram kept in one Redis hash: one field per bucket upper bound (the count of
    observations that fell in that bucket, not cumulative) and `sum`."""

    name: str
    documentation: str
    buckets: tuple[float, ...]  # upper bounds, ascending; +Inf is implied

    @property
    def key(self) -> str:
        return keys.histogram(self.name)

    def bucket_of(self, seconds: float) -> str:
        """The hash field counting `seconds`: the smallest bound it does not exceed."""
        return bound_name(next((b for b in self.buckets if seconds <= b), math.inf))


PAUSE_LATENCY = Histogram(
    "phoneguard_pause_latency_seconds",
    "Webhook received by web to the session's campaigns committed paused, one per pause",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RESUME_LATENESS = Histogram(
    "phoneguard_resume_lateness_seconds",
    "Resume check's due time to its campaigns committed ongoing, one per check that resumed",
    (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300),
)
HISTOGRAMS = (PAUSE_LATENCY, RESUME_LATENESS)


@dataclass(frozen=True)
class Snapshot:
    buckets: list[tuple[str, float]]  # cumulative, as Prometheus exposes them, +Inf last
    sum: float


def bound_name(bound: float) -> str:
    """A bucket bound as Prometheus writes it in `le` (1.0, 0.25, +Inf)."""
    return "+Inf" if bound == math.inf else repr(float(bound))


def observe(client: redis.Redis, histogram: Histogram, seconds: float) -> None:
    """Count one observation. Clocks of two machines can disagree by a little: a negative
    duration is counted as 0, so the sum never goes down."""
    seconds = max(0.0, seconds)
    pipe = client.pipeline(transaction=True)  # a scrape never sees the bucket without the sum
    pipe.hincrby(histogram.key, histogram.bucket_of(seconds), 1)
    pipe.hincrbyfloat(histogram.key, "sum", seconds)
    pipe.execute()


def snapshots(client: redis.Redis) -> dict[str, Snapshot]:
    """Every histogram as it stands, by metric name, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for histogram in HISTOGRAMS:
        pipe.hgetall(histogram.key)
    return {h.name: _snapshot(h, raw) for h, raw in zip(HISTOGRAMS, pipe.execute(), strict=True)}


def _snapshot(histogram: Histogram, raw: dict) -> Snapshot:
    fields = {k.decode(): v for k, v in raw.items()}
    total = float(fields.pop("sum", 0))
    bounds = [*histogram.buckets, math.inf]
    counts = dict.fromkeys(bounds, 0)
    for name, value in fields.items():
        # A bound no longer in the layout (buckets changed between releases) still counts,
        # in the first bucket that holds it.
        observed = math.inf if name == "+Inf" else float(name)
        counts[next(b for b in bounds if observed <= b)] += int(value)
    cumulative, running = [], 0
    for bound in bounds:
        running += counts[bound]
        cumulative.append((bound_name(bound), float(running)))
    return Snapshot(cumulative, total)


def pending_checks(client: redis.Redis, queue: str,
                   namespace: str = keys.BROKER_NAMESPACE) -> int:
    """Delayed messages of `queue` (resume checks, and the odd pause retry waiting out its
    backoff) waiting in Dramatiq's delay queue or fetched by a worker that holds them until
    their time: its list plus the unacknowledged set of each worker in Dramatiq's heartbeat
    set (two round trips, never a SCAN of the keyspace)."""
    delayed = dq_name(queue)
    workers = client.zrange(keys.broker_heartbeats(namespace), 0, -1)
    pipe = client.pipeline(transaction=False)
    pipe.llen(keys.broker_queue(delayed, namespace))
    for worker_id in workers:
        pipe.scard(keys.broker_acks(worker_id.decode(), delayed, namespace))
    return sum(pipe.execute())


def paused_totals() -> tuple[int, int]:
    """(campaigns now paused_mobile, sessions with at least one), from the status index."""
    paused = Campaign.status == PAUSED_MOBILE
    campaigns = Campaign.select().where(paused).count()
    sessions = (Campaign.select(Campaign.workspace_id, WhatsappAccount.session_id)
                .join(WhatsappAccount, on=(Campaign.whatsapp_account_id == WhatsappAccount.id))
                .where(paused).distinct().count())
    return campaigns, sessions
