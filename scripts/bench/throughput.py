"""Section 1: webhook throughput, each kind of traffic beside /healthz of the same server.

Windows alternate H, kind, H, kind, ..., H, and each kind's ratio is its rate over the mean of
the two /healthz windows around it, so a neighbour's burst on the shared machine moves both
sides of a ratio. Before every window the worker's backlog is drained, so a window carries
only the work it caused (the drain time after phone activity says whether the worker keeps
up). CPU per request is read from /proc for each process group: steadier than rates on a
noisy machine, and it tells where the time goes.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from scripts.bench import stack as bs
from scripts.bench.load import LoadGenerator
from scripts.bench.traffic import HEALTHZ


@dataclass
class Window:
    kind: str
    rate: float
    cpu_us: dict[str, float]
    errors: int
    ratio: float = float("nan")
    drain_s: float = 0.0


@dataclass
class Series:
    windows: list[Window] = field(default_factory=list)

    def of(self, kind: str) -> list[Window]:
        return [w for w in self.windows if w.kind == kind]

    def summary(self, kind: str) -> dict:
        ws = self.of(kind)
        groups = ws[0].cpu_us if ws else {}
        return {
            "rate": bs.median([w.rate for w in ws]),
            "ratio": bs.median([w.ratio for w in ws]),
            "ratio_range": (min((w.ratio for w in ws), default=float("nan")),
                            max((w.ratio for w in ws), default=float("nan"))),
            "cpu_us": {g: bs.median([w.cpu_us[g] for w in ws]) for g in groups},
            "errors": sum(w.errors for w in ws),
            "drain_s": bs.median([w.drain_s for w in ws]),
            "windows": len(ws),
        }


@dataclass(frozen=True)
class Kind:
    """A kind of traffic: `build` makes its requests afresh for each window (and whether they
    may be repeated); `during` is held around its windows."""

    build: Callable[[], tuple[list[bytes], bool]]
    during: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


def alternate(gen: LoadGenerator, kinds: dict[str, Kind], *, rounds: int, seconds: float,
              groups: dict[str, list[int]], settle: Callable[[], float] = lambda: 0.0) -> Series:
    """Run H, k1, H, k2, ..., H for `rounds` rounds; `settle` runs before each window and
    returns the seconds it waited."""
    series = Series()
    order = [kind for _ in range(rounds) for kind in kinds]
    windows = ["healthz"] + [k for kind in order for k in (kind, "healthz")]
    for name in windows:
        kind = Kind(lambda: ([HEALTHZ], True)) if name == "healthz" else kinds[name]
        requests, cycle = kind.build()
        waited = settle()
        if series.windows:
            series.windows[-1].drain_s = waited
        before = {g: bs.cpu_seconds(p) for g, p in groups.items()}
        with kind.during():
            result = gen.run(requests, seconds, cycle=cycle)
        after = {g: bs.cpu_seconds(p) for g, p in groups.items()}
        done = max(result.ok, 1)
        cpu = {g: (after[g] - before[g]) / done * 1e6 for g in groups}
        errors = result.completed - result.ok + result.failures + int(result.exhausted)
        series.windows.append(Window(name, result.rate, cpu, errors))
    for i, window in enumerate(series.windows):
        if window.kind != "healthz":
            around = [series.windows[i - 1].rate, series.windows[i + 1].rate]
            window.ratio = window.rate / (sum(around) / 2)
    return series


@contextlib.contextmanager
def stopped(*pids: int):
    """Hold these process groups stopped (SIGSTOP) for a window: the web tier measured alone,
    as it runs on a dyno of its own. Work they would have done waits in Redis meanwhile."""
    for pid in pids:
        os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.killpg(pid, signal.SIGCONT)


def lines(title: str, series: Series, kinds: list[str]) -> list[str]:
    h = series.summary("healthz")
    out = [f"  {title}", f"    {'healthz':<22} {h['rate']:8.0f} req/s  "
           f"({h['windows']} windows; cpu/req {_cpu(h['cpu_us'])})"]
    for kind in kinds:
        s = series.summary(kind)
        low, high = s["ratio_range"]
        extra = f", worker drained in {s['drain_s']:.1f} s" if s["drain_s"] > 0.05 else ""
        errors = f", {s['errors']} errors" if s["errors"] else ""
        out.append(f"    {kind:<22} {s['rate']:8.0f} req/s  ratio {s['ratio']:.2f} "
                   f"[{low:.2f}-{high:.2f}]  (cpu/req {_cpu(s['cpu_us'])}{extra}{errors})")
    return out


def _cpu(cpu_us: dict[str, float]) -> str:
    return " ".join(f"{g} {v:.0f}us" for g, v in cpu_us.items() if v >= 0.5)
