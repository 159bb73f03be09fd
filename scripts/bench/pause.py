"""Section 2: pause latency, from the webhook's response to every campaign of the session being
`paused_mobile` in the database (a committed transaction, seen by another connection).

Each probe is a fresh session with three ongoing campaigns: post one phone activity webhook,
take the time when the response has arrived, then read the session's campaigns every
millisecond until all three are paused. Probes are spaced at random (150-350 ms idle, so the
worker's polling has backed off to its longest interval; 20-80 ms under load), so they do not
fall into step with it. Under load, the load generator sends gateway traffic
(mostly acknowledged only, some phone activity on other sessions) flat out while the probes
run.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from models.tables import PAUSED_MOBILE, Campaign
from scripts.bench import stack as bs
from scripts.bench import traffic as tr
from scripts.bench.load import exchange

CAMPAIGNS = 3
# Idle: long enough apart that Dramatiq's consumer has backed off to its longest poll
# interval (dramatiq_worker_timeout) between probes, as after any quiet spell.
IDLE_GAP = (0.15, 0.35)
LOADED_GAP = (0.02, 0.08)
POLL_SECONDS = 0.001
GIVE_UP_SECONDS = 10.0


@dataclass
class Batch:
    latencies_ms: list[float]
    lost: int

    @property
    def p50(self) -> float:
        return bs.percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return bs.percentile(self.latencies_ms, 99)

    @property
    def worst(self) -> float:
        return max(self.latencies_ms, default=float("nan"))


def paused(account_id: int) -> int:
    return (Campaign.select()
            .where((Campaign.whatsapp_account_id == account_id)
                   & (Campaign.status == PAUSED_MOBILE))
            .count())


def probe(port: int, request: bytes, account_id: int) -> float | None:
    """Milliseconds from the response to the last campaign paused; None when not 200 or lost."""
    status, _ = exchange(port, request)
    answered = time.monotonic()
    if status != 200:
        return None
    while paused(account_id) < CAMPAIGNS:
        if time.monotonic() - answered > GIVE_UP_SECONDS:
            return None
        time.sleep(POLL_SECONDS)
    return (time.monotonic() - answered) * 1000


def batch(port: int, settings, sessions: list[bs.Session], rng: random.Random,
          gap: tuple[float, float] = IDLE_GAP) -> Batch:
    requests = {s.account_id: tr.phone(settings, s.workspace_id, [s.session_id], 1, start=i)[0]
                for i, s in enumerate(sessions)}
    latencies, lost = [], 0
    for session in sessions:
        time.sleep(rng.uniform(*gap))
        ms = probe(port, requests[session.account_id], session.account_id)
        if ms is None:
            lost += 1
        else:
            latencies.append(ms)
    return Batch(latencies, lost)


def summary(batches: list[Batch]) -> dict:
    return {
        "p50": bs.median([b.p50 for b in batches]),
        "p99": bs.median([b.p99 for b in batches]),
        "max": max((b.worst for b in batches), default=float("nan")),
        "probes": sum(len(b.latencies_ms) for b in batches),
        "lost": sum(b.lost for b in batches),
        "batches": len(batches),
    }


def line(label: str, s: dict, target_ms: float) -> str:
    verdict = "meets" if s["p99"] <= target_ms and not s["lost"] else "MISSES"
    lost = f", {s['lost']} lost" if s["lost"] else ""
    return (f"    {label:<22} p50 {s['p50']:6.1f} ms  p99 {s['p99']:6.1f} ms  max "
            f"{s['max']:6.1f} ms  ({s['probes']} probes in {s['batches']} runs{lost}; "
            f"target p99 <= {target_ms:.0f} ms: {verdict})")
