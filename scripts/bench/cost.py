"""What one pause and one resume check cost, in-process, on one database: the worker's part
without Redis, the broker or the other processes.

    python -m scripts.bench.cost --database postgresql://postgres@127.0.0.1:5432/postgres

Seeds `--sessions` sessions of three campaigns in a scratch database (dropped after), pauses
each session, then checks each for resume on its last attempt (so every one resumes), one
after the other on one connection; prints the mean per pause and per check, the median of
`--runs` runs, and the CPU each took: this process's, and the database server's (its
processes on this machine, read from /proc).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from models import conflict
from models.conflict import Check
from models.db import database, open_database, utcnow
from models.schema import migrate_up
from models.settings import Settings
from models.urls import redacted
from scripts.bench.database import scratch
from scripts.bench.stack import database_server_cpu_s, load_average, seed


@dataclass(frozen=True)
class Cost:
    """Means per operation, in ms: wall time, this process's CPU, the server's CPU."""

    wall: float
    cpu: float
    server: float


def measured(sessions: int, work: Callable[[], None]) -> Cost:
    server = database_server_cpu_s()  # read outside the timings: it walks /proc
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = database_server_cpu_s() - server
    return Cost(*(seconds / sessions * 1000 for seconds in (wall, cpu, server)))


def one_run(settings: Settings, workspace_id: int, sessions: int) -> tuple[Cost, Cost]:
    """What a pause and a resume check cost, each a mean over `sessions` fresh sessions."""
    seeded = seed(workspace_id, sessions, prefix=f"cost{workspace_id}", tiers=(2,))
    database.connect(reuse_if_open=True)
    now = utcnow()

    def pauses():
        for s in seeded:
            conflict.pause_session(settings, workspace_id, s.session_id, now=now,
                                   last_activity_ms=None)

    def checks():
        later = utcnow() + dt.timedelta(seconds=1)
        for s in seeded:
            check = Check(workspace_id, s.session_id, later, settings.max_attempts, 0)
            conflict.check_resume(settings, check, now=later, last_activity_ms=None)

    return measured(sessions, pauses), measured(sessions, checks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", metavar="URL", default="sqlite:",
                        help="the server to measure on (default: a fresh SQLite file)")
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    settings = Settings.from_env({"WEBHOOK_TOKEN": "bench"})
    print(f"load average {load_average()} at start")
    with scratch(args.database) as url:
        if url.startswith("sqlite"):
            url = f"sqlite:///{tempfile.mkdtemp(prefix='phoneguard-cost-')}/cost.db"
        open_database(url)
        migrate_up(database.obj)
        runs = [one_run(settings, 10 + i, args.sessions) for i in range(args.runs)]
        database.close()
    print(f"{redacted(args.database)}: means of {args.sessions} operations, median of "
          f"{args.runs} runs")
    for name, costs in zip(("pause", "resume check"), zip(*runs, strict=True), strict=True):
        wall, cpu, server = (statistics.median(getattr(c, f) for c in costs)
                             for f in ("wall", "cpu", "server"))
        print(f"  {name:<12} {wall:5.2f} ms; CPU {cpu:5.2f} ms here, {server:5.2f} ms in the "
              f"database server (runs: {', '.join(f'{c.wall:.2f}' for c in costs)} ms)")
    print(f"load average {load_average()} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
