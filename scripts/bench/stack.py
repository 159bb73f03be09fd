"""The benchmark's hold on the real processes: a scripts.stack.Stack with signing keys, rows
seeded straight into its database, the worker's backlog, and each process's CPU and memory
read from /proc (Linux only, like the machine the figures are for)."""

from __future__ import annotations

import base64
import contextlib
import math
import os
import shutil
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from models import keys
from models.db import database, open_database
from models.settings import Settings
from models.tables import ONGOING, Campaign, WhatsappAccount
from scripts import stack as stack_module
from scripts.bench.database import scratch
from scripts.stack import Stack

# The benchmark's own keys; every gateway method is configured so each one is exercised.
BENCH_ENV = {
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"phoneguard-bench-secret").decode(),
    "WAHA_HMAC_KEY": "phoneguard-bench-waha",
}


@dataclass(frozen=True)
class Session:
    workspace_id: int
    session_id: str
    account_id: int
    tier: int


@dataclass(frozen=True)
class Setup:
    """What the benchmark's stacks run on: the Procfile, the redis-server binary and the
    database server (None: each a default of scripts.stack.Stack)."""

    procfile: str | None = None
    redis_server: str | None = None
    database: str | None = None


def procfile(setup: Setup) -> dict[str, str]:
    """The process commands the benchmark starts."""
    return stack_module.procfile(setup.procfile or stack_module.ROOT / "Procfile")


@contextlib.contextmanager
def running(setup: Setup, *processes: str, env: dict | None = None) -> Iterator[Stack]:
    """A private Redis, a fresh database (a SQLite file, or a scratch database on the server
    of `setup.database`), and the Procfile's `processes`, stopped (and the files and the
    scratch database removed) however the block ends."""
    with contextlib.ExitStack() as cleanup:
        url = cleanup.enter_context(scratch(setup.database)) if setup.database else None
        stack = Stack(env={**BENCH_ENV, **(env or {})}, procfile=setup.procfile,
                      redis_server=setup.redis_server, database_url=url)
        cleanup.callback(shutil.rmtree, stack.workdir, ignore_errors=True)
        cleanup.callback(stack.stop)
        cleanup.callback(_close_database)
        stack.__enter__()
        stack.start(*processes)
        open_database(stack.env["DATABASE_URL"])
        yield stack


def _close_database() -> None:
    with contextlib.suppress(Exception):
        database.close()


def settings_of(stack: Stack) -> Settings:
    return Settings.from_env(stack.env)


def seed(workspace_id: int, count: int, *, prefix: str, tiers=(1,), campaigns: int = 3,
         chunk: int = 200) -> list[Session]:
    """`count` sessions of one account each, with `campaigns` ongoing campaigns apiece."""
    names = [f"{prefix}-{i}" for i in range(count)]
    with database.atomic():
        for i in range(0, count, chunk):
            WhatsappAccount.insert_many([
                {"workspace_id": workspace_id, "session_id": name, "tier": tiers[j % len(tiers)]}
                for j, name in enumerate(names[i:i + chunk], start=i)
            ]).execute()
    rows = (WhatsappAccount.select(WhatsappAccount.id, WhatsappAccount.session_id,
                                   WhatsappAccount.tier)
            .where(WhatsappAccount.workspace_id == workspace_id))
    sessions = [Session(workspace_id, r.session_id, r.id, r.tier) for r in rows
                if r.session_id.startswith(prefix + "-")]
    made = [{"workspace_id": workspace_id, "whatsapp_account_id": s.account_id,
             "name": f"bench {n}", "status": ONGOING}
            for s in sessions for n in range(campaigns)]
    with database.atomic():
        for i in range(0, len(made), chunk):
            Campaign.insert_many(made[i:i + chunk]).execute()
    database.close()
    return sessions


# -- the worker's queue -----------------------------------------------------------------------
def queued_and_taken(client, queue: str) -> tuple[int, int]:
    """Messages of Dramatiq's `queue` waiting in Redis, and taken by a worker but not yet
    acknowledged (its unacked set, one per worker id of Dramatiq's heartbeat set: no SCAN of
    the keyspace, whose tens of thousands of activity keys made frequent sampling cost the
    worker it measures a fifth of a core)."""
    pipe = client.pipeline(transaction=False)
    pipe.llen(keys.broker_queue(queue))
    for worker_id in client.zrange(keys.broker_heartbeats(), 0, -1):
        pipe.scard(keys.broker_acks(worker_id.decode(), queue))
    waiting, *taken = pipe.execute()
    return waiting, sum(taken)


def backlog(client, queue: str) -> int:
    """Messages queued or being processed (not counting delayed ones held for later)."""
    return sum(queued_and_taken(client, queue))


def drain(client, queue: str, timeout: float = 60) -> float:
    """Wait for the worker to finish what is queued; seconds waited."""
    start = time.monotonic()
    while backlog(client, queue) and time.monotonic() - start < timeout:
        time.sleep(0.02)
    return time.monotonic() - start


# -- processes ------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _stat(path: Path) -> tuple[str, list[str]]:
    """A /proc/<pid>/stat file: the command's name and the fields after it."""
    head, _, rest = path.read_text().rpartition(")")
    return head.partition("(")[2], rest.split()


def _cpu_ticks(fields: list[str], *, children: bool = False) -> int:
    # utime and stime; with `children`, also what its exited children used (cutime, cstime).
    return sum(int(f) for f in fields[11:15 if children else 13])


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += _cpu_ticks(_stat(Path(f"/proc/{pid}/stat"))[1])
    return total / os.sysconf("SC_CLK_TCK")


DATABASE_SERVERS = ("postgres", "mariadbd", "mysqld")


def database_server_cpu_s() -> float:
    """CPU seconds used so far by the database servers on this machine (none for SQLite,
    which runs inside the processes that use it): each server process, and for PostgreSQL's
    postmaster the connection processes that have exited, whose time it collects."""
    servers = {}
    for path in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            name, fields = _stat(path)
            if name in DATABASE_SERVERS:
                servers[path.parent.name] = fields
    ticks = sum(_cpu_ticks(fields, children=fields[1] not in servers)  # fields[1]: parent
                for fields in servers.values())
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_by_group(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each group of processes, and of the database server."""
    return {**{name: cpu_seconds(pids) for name, pids in groups.items()},
            "database": database_server_cpu_s()}


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def process_groups(stack: Stack, extra: dict[str, list[int]] | None = None) -> dict:
    groups = {name: descendants(proc.pid) for name, proc in stack.processes.items()}
    if stack.redis:
        groups["redis"] = [stack.redis.pid]
    groups.update(extra or {})
    return groups


def worker_children(stack: Stack) -> list[int]:
    """The worker processes the dramatiq command forked (they hold the messages)."""
    main = stack.processes["worker"].pid
    return [pid for pid in descendants(main) if pid != main]


# -- figures --------------------------------------------------------------------------------
def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def cpu_summary() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} x {model}, {memory:.0f} GiB"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
