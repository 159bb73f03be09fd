"""Section 4: what phoneguard keeps, in Redis per active session and in the worker per pending
resume check.

Redis: `used_memory` before and after N sessions each post one phone activity webhook through
the real path (after the worker has run their pauses), divided by N: the activity hash plus
one `conflict:seen:...` marker (per message, for an hour). MEMORY USAGE of each key splits it;
what neither counts (slots in the key tables, TTL entries) is shared between the two keys.

Floor: MEMORY USAGE of sessions recorded through the store's own script with every value as
short as the contract allows (no message id, device `ios`, one message), plus the same key-table
and TTL share: the hash's six field names and its entries alone, which bounds what any tuning
of the values can reach with the contract's key layout.

Worker: RSS of the worker process before and after 30,000 resume checks are waiting, enqueued
through the actors' own `schedule()` as the pause actor does, due in 20 minutes.
"""

from __future__ import annotations

import itertools
import json
import time

from models import keys
from models.activity import ActivityEvent, ActivityStore, to_ms
from models.conflict import Check
from models.db import utcnow
from scripts.bench import stack as bs
from scripts.bench import traffic as tr

WORKSPACE = 7


def used_memory(client) -> int:
    time.sleep(1.0)  # let Redis finish incremental rehashing and lazy frees
    return int(client.info("memory")["used_memory"])


def settle(stack, client, settings) -> None:
    bs.drain(client, settings.queue)
    deadline = time.monotonic() + 30
    while any(client.scan_iter(keys.pause_pending("*", "*"), count=1000)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)


def per_session(stack, gen, settings, sessions: int) -> dict:
    """Bytes per session after one phone message each: the whole used_memory delta, and its
    split into the activity hash and the seen marker (MEMORY USAGE of each, plus an equal
    share of what neither counts: the key tables' slots and the TTL entries)."""
    client = stack.redis_client()
    gen.run(tr.phone(settings, WORKSPACE, [f"warm-{i}" for i in range(100)], 100), 60,
            cycle=False)
    settle(stack, client, settings)
    names = [f"mem-{i}" for i in range(sessions)]
    before = used_memory(client)
    result = gen.run(tr.phone(settings, WORKSPACE, names, sessions), 600, cycle=False)
    settle(stack, client, settings)
    total = (used_memory(client) - before) / max(result.ok, 1)
    hash_usage = _mean_usage(client, keys.activity(WORKSPACE, "mem-*"))
    seen_usage = _mean_usage(client, keys.seen_pattern(WORKSPACE, "mem-*"))
    share = (total - hash_usage - seen_usage) / 2
    alloc = client.info("memory").get("mem_allocator", "?")
    return {"total": total, "hash_usage": hash_usage, "seen_usage": seen_usage,
            "share": share, "hash": hash_usage + share, "seen": seen_usage + share,
            "redis": f"Redis {client.info('server')['redis_version']} ({alloc})"}


def contract_floor(stack, settings, sessions: int) -> dict:
    """Bytes per session for the smallest hash the contract's layout allows (see the module's
    docstring), with session ids as long as per_session's."""
    client = stack.redis_client()
    store = ActivityStore(client, activity_ttl=settings.activity_ttl, seen_ttl=settings.seen_ttl)
    now_ms = to_ms(utcnow())
    for i in range(sessions):
        store.record(ActivityEvent(WORKSPACE + 1, f"flo-{i}", "ios"), now_ms=now_ms,
                     queue_pause=False)
    # MEMORY USAGE plus the same key-table and TTL share as the measured sessions': a
    # used_memory delta here would depend on whether these keys made the key table grow.
    return {"usage": _mean_usage(client, keys.activity(WORKSPACE + 1, "flo-*"))}


def _mean_usage(client, pattern: str) -> float:
    """Mean MEMORY USAGE of (up to 500 of) the keys matching `pattern`."""
    names = client.scan_iter(pattern, count=1000)
    sizes = [client.memory_usage(n) or 0 for n in itertools.islice(names, 500)]
    return sum(sizes) / len(sizes) if sizes else float("nan")


def pending_checks(stack, settings, checks: int) -> dict:
    """Worker RSS with `checks` resume checks waiting, and Redis bytes per waiting check."""
    from actors import runtime

    runtime.setup(settings)
    from actors.conflict import schedule  # declares the actors on the broker just set up

    client = stack.redis_client()
    children = bs.worker_children(stack)
    rss_before = sum(bs.rss_bytes(p) for p in children)
    used_before = used_memory(client)
    now = utcnow()
    due = to_ms(now) + 20 * 60 * 1000
    for i in range(checks):
        schedule(Check(WORKSPACE, f"pending-{i}", now, 1, due), now=now)
    held = _held_when_still(client, settings.queue)
    sample = client.hrandfield(f"dramatiq:{settings.queue}.DQ.msgs", 1, withvalues=True)
    return {
        "checks": checks,
        "held": held,
        "rss_before": rss_before,
        "rss_after": sum(bs.rss_bytes(p) for p in children),
        "redis_per_check": (used_memory(client) - used_before) / checks,
        "message_bytes": len(sample[1]) if sample else 0,
        "message": json.loads(sample[1]) if sample else {},
    }


def _held_when_still(client, queue: str) -> int:
    """Wait until the worker stops fetching delayed messages; how many it holds."""
    dq = f"{queue}.DQ"
    last, still_since = -1, time.monotonic()
    while time.monotonic() - still_since < 2:
        _, held = bs.queued_and_taken(client, dq)
        if held != last:
            last, still_since = held, time.monotonic()
        time.sleep(0.2)
    return last


def lines(figures: dict, floor: dict, pending: dict | None) -> list[str]:
    f = figures
    verdict = "meets" if f["hash"] <= 300 else "MISSES"
    out = [
        f"    per active session (activity hash)  {f['hash']:5.0f} B  (MEMORY USAGE "
        f"{f['hash_usage']:.0f} B + {f['share']:.0f} B key table and TTL; target <= 300 B: "
        f"{verdict})",
        f"    floor of the contract's hash        {floor['usage'] + f['share']:5.0f} B  (MEMORY "
        f"USAGE {floor['usage']:.0f} B + {f['share']:.0f} B; the six field names, every value "
        "as short as allowed, no message id)",
        f"    per message (seen marker, 1 hour)   {f['seen']:5.0f} B  (MEMORY USAGE "
        f"{f['seen_usage']:.0f} B + {f['share']:.0f} B)",
        f"    session that sent one message       {f['total']:5.0f} B  (used_memory delta; "
        f"{f['redis']}; message ids of 20-46 characters)",
    ]
    if pending:
        p = pending
        mib = (p["rss_after"] - p["rss_before"]) / 2**20
        out.append(
            f"    worker RSS, {p['checks']} checks pending {p['rss_after'] / 2**20:6.1f} MiB  "
            f"(+{mib:.1f} MiB from {p['rss_before'] / 2**20:.1f}; {p['held']} held in the worker, "
            f"the rest wait in Redis; Redis {p['redis_per_check']:.0f} B per check, message "
            f"{p['message_bytes']} B)")
    return out
