"""Section 3: resume lateness with thousands of campaigns paused at once.

A morning rush: `sessions` fresh sessions of three ongoing campaigns each get one phone activity
webhook apiece, posted as fast as the service takes them. Each campaign is due to resume at
its session's last activity (as the service recorded it in Redis) plus its tier's cooldown;
its lateness is `auto_resume_at` minus that due time. A negative lateness is an early resume,
which must never happen.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from peewee import fn

from models import keys
from models.activity import to_ms
from models.tables import ONGOING, Campaign, WhatsappAccount
from scripts.bench import stack as bs
from scripts.bench import traffic as tr
from scripts.bench.load import LoadGenerator

SETTLE_SECONDS = 30  # after the last due time, how long a straggler may still take
# Whose CPU a session's webhook, pause and check take, printed per session.
CPU_GROUPS = ("web", "worker", "clock", "redis")


@dataclass
class Run:
    campaigns: int
    burst_s: float
    burst_rate: float
    lateness_ms: list[float]
    paused_ms: list[float]  # paused_at - the session's last activity as web recorded it
    early: int
    unpaused: int
    unresumed: int
    pending_peak: int
    worker_rss_peak: int
    cpu_ms: dict[str, float]  # per session, by process group, burst start to last resume

    def pct(self, p: float) -> float:
        return bs.percentile(self.lateness_ms, p)


def delayed(client, queue: str) -> int:
    """Resume checks waiting for their time: in Redis, or fetched by a worker and held."""
    return sum(bs.queued_and_taken(client, f"{queue}.DQ"))


def run(stack, gen: LoadGenerator, settings, workspace_id: int, sessions: int,
        tiers: tuple[int, ...], rate: float | None = None) -> Run:
    seeded = bs.seed(workspace_id, sessions, prefix=f"rush{workspace_id}", tiers=tiers)
    client = stack.redis_client()
    requests = tr.phone(settings, workspace_id, [s.session_id for s in seeded], len(seeded))
    groups = {name: pids for name, pids in bs.process_groups(stack).items()
              if name in CPU_GROUPS}
    cpu_before = bs.cpu_by_group(groups)
    gen.begin(requests, 3600, cycle=False, rate=rate)
    peak, rss = 0, 0
    while not gen.done():
        peak, rss = _sample(stack, client, settings, peak, rss)
        time.sleep(0.25)
    burst = gen.collect()
    last_ms = _last_activity(client, seeded)
    longest = max(settings.cooldown_for(t) for t in tiers)
    deadline = time.monotonic() + longest + SETTLE_SECONDS
    while time.monotonic() < deadline and _unresumed(workspace_id):
        for _ in range(4):  # counted once a second: the count reads every campaign of the rush
            peak, rss = _sample(stack, client, settings, peak, rss)
            time.sleep(0.25)
    cpu_after = bs.cpu_by_group(groups)
    cpu_ms = {name: (cpu_after[name] - cpu_before[name]) * 1000 / len(seeded)
              for name in cpu_after}
    return _measure(settings, workspace_id, seeded, last_ms, burst, peak, rss, cpu_ms)


def _sample(stack, client, settings, peak: int, rss: int) -> tuple[int, int]:
    worker_rss = sum(bs.rss_bytes(pid) for pid in bs.worker_children(stack))
    return max(peak, delayed(client, settings.queue)), max(rss, worker_rss)


def _last_activity(client, seeded: list[bs.Session]) -> dict[str, int]:
    pipe = client.pipeline(transaction=False)
    for s in seeded:
        pipe.hget(keys.activity(s.workspace_id, s.session_id), "last_activity_ms")
    return {s.session_id: int(v) for s, v in zip(seeded, pipe.execute(), strict=True) if v}


def _unresumed(workspace_id: int) -> int:
    return (Campaign.select(fn.COUNT(Campaign.id))
            .where((Campaign.workspace_id == workspace_id)
                   & ((Campaign.status != ONGOING) | Campaign.auto_resume_at.is_null()))
            .scalar())


def _measure(settings, workspace_id, seeded, last_ms, burst, peak, rss, cpu_ms) -> Run:
    rows = (Campaign.select(Campaign.auto_resume_at, Campaign.paused_at, Campaign.status,
                            WhatsappAccount.session_id, WhatsappAccount.tier)
            .join(WhatsappAccount, on=(Campaign.whatsapp_account_id == WhatsappAccount.id))
            .where(Campaign.workspace_id == workspace_id).objects())
    lateness, paused, early, unpaused, unresumed = [], [], 0, 0, 0
    for row in rows:
        if row.paused_at is None:
            unpaused += 1
            continue
        if row.session_id in last_ms:
            paused.append(_us(row.paused_at) / 1000 - last_ms[row.session_id])
        if row.auto_resume_at is None or row.status != ONGOING:
            unresumed += 1
            continue
        base = last_ms.get(row.session_id, to_ms(row.paused_at))
        due_us = (base + settings.cooldown_for(row.tier) * 1000) * 1000
        late_us = _us(row.auto_resume_at) - due_us
        early += late_us < 0
        lateness.append(late_us / 1000)
    return Run(len(seeded) * 3, burst.elapsed, burst.rate, lateness, paused, early, unpaused,
               unresumed, peak, rss, cpu_ms)


def _us(moment: dt.datetime) -> int:
    return round(moment.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)


def summary(runs: list[Run]) -> dict:
    return {
        "p50": bs.median([r.pct(50) for r in runs]),
        "p99": bs.median([r.pct(99) for r in runs]),
        "paused_p50": bs.median([bs.percentile(r.paused_ms, 50) for r in runs]),
        "paused_p99": bs.median([bs.percentile(r.paused_ms, 99) for r in runs]),
        "max": bs.median([max(r.lateness_ms, default=float("nan")) for r in runs]),
        "worst": max((max(r.lateness_ms, default=float("nan")) for r in runs),
                     default=float("nan")),
        "early": sum(r.early for r in runs),
        "unpaused": sum(r.unpaused for r in runs),
        "unresumed": sum(r.unresumed for r in runs),
        "burst_s": bs.median([r.burst_s for r in runs]),
        "burst_rate": bs.median([r.burst_rate for r in runs]),
        "pending_peak": bs.median([r.pending_peak for r in runs]),
        "rss_mib": bs.median([r.worker_rss_peak for r in runs]) / 2**20,
        "cpu_ms": {name: bs.median([r.cpu_ms[name] for r in runs]) for name in runs[0].cpu_ms},
        "runs": len(runs),
    }


def met(s: dict) -> bool:
    """The target: p99 at most 0.5 s late, none early, every campaign paused and resumed."""
    return s["p99"] <= 500 and not (s["early"] or s["unpaused"] or s["unresumed"])


def line(campaigns: int, s: dict) -> str:
    verdict = "meets" if met(s) else "MISSES"
    return (f"    {campaigns:>6} campaigns  p50 {s['p50'] / 1000:5.2f} s  p99 "
            f"{s['p99'] / 1000:5.2f} s  max {s['max'] / 1000:5.2f} s  early {s['early']}  "
            f"(webhooks {s['burst_rate']:.0f}/s over {s['burst_s']:.1f} s; checks pending at "
            f"peak {s['pending_peak']:.0f}; worker RSS peak {s['rss_mib']:.0f} MiB; "
            f"{s['runs']} runs{_problems(s)}; target p99 <= 0.5 s: {verdict})\n"
            f"{_cpu(s)}")


def _problems(s: dict) -> str:
    parts = [f"{s[k]} {k}" for k in ("unpaused", "unresumed") if s[k]]
    return "; " + ", ".join(parts) if parts else ""


def rush_met(s: dict) -> bool:
    """The morning rush's target: paused p99 <= 1 s after the webhook, and the resume's."""
    return s["paused_p99"] <= 1000 and met(s)


def rush_line(campaigns: int, s: dict) -> str:
    return (f"    {campaigns:>6} campaigns  paused p50 {s['paused_p50'] / 1000:5.2f} s  p99 "
            f"{s['paused_p99'] / 1000:5.2f} s after the webhook;  resumed late p50 "
            f"{s['p50'] / 1000:5.2f} s  p99 {s['p99'] / 1000:5.2f} s  early {s['early']}  "
            f"(webhooks {s['burst_rate']:.0f}/s over {s['burst_s']:.1f} s; {s['runs']} runs"
            f"{_problems(s)}; target paused p99 <= 1 s, resumed p99 <= 0.5 s: "
            f"{'meets' if rush_met(s) else 'MISSES'})\n{_cpu(s)}")


def _cpu(s: dict) -> str:
    # "database" is the server's processes: it includes the benchmark's own count of the
    # unresumed campaigns, once a second.
    parts = [f"{name} {ms:.2f}" for name, ms in s["cpu_ms"].items()]
    return (f"           CPU per session, burst start to last resume: {', '.join(parts)} ms "
            f"(total {sum(s['cpu_ms'].values()):.2f} ms)")
