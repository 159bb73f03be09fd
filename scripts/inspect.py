"""Show what phoneguard is doing right now, read-only: the phone-activity keys in Redis with
their fields and remaining TTLs, the pause-pending markers, the Dramatiq queue's depths and the
jobs waiting in it, and every campaign paused for mobile activity with when its resume check
will find the cooldown over (last activity, else paused_at, plus the account tier's cooldown).

Reads REDIS_URL, DATABASE_URL and the CAMPAIGN_CONFLICT_* settings.
Usage: python -m scripts.inspect [--workspace N] [--json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import redis
from dramatiq import Message
from dramatiq.common import dq_name, xq_name

from actors.runtime import redis_client
from models import keys
from models.activity import ActivityStore, iso_ms, to_ms
from models.conflict import paused_sessions
from models.db import database, open_database, utcnow
from models.reports import paused_campaigns
from models.settings import Settings
from scripts.cli import guarded

ACTIVITY_ORDER = ("last_activity", "device_type", "message_count", "first_activity",
                  "last_message_id", "last_activity_ms")
MAX_JOBS = 200  # listed; the depths above them count every one


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _scan(client: redis.Redis, pattern: str, parse, workspace_id: int | None) -> list[str]:
    found = []
    for raw in client.scan_iter(match=pattern, count=500):
        key = _text(raw)
        if workspace_id is None or parse(key)[0] == workspace_id:
            found.append(key)
    return sorted(found)


def activity_keys(client: redis.Redis, workspace_id: int | None = None) -> list[dict]:
    """Every activity hash (SCAN, never KEYS) with its fields and remaining TTL."""
    found = _scan(client, keys.activity_pattern(), keys.parse_activity, workspace_id)
    pipe = client.pipeline(transaction=False)
    for key in found:
        pipe.hgetall(key)
        pipe.pttl(key)
    replies = pipe.execute()
    rows = []
    for key, fields, ttl_ms in zip(found, replies[::2], replies[1::2], strict=True):
        if not fields:  # expired between SCAN and HGETALL
            continue
        ws, sid = keys.parse_activity(key)
        fields = {_text(k): _text(v) for k, v in fields.items()}
        ordered = {k: fields[k] for k in ACTIVITY_ORDER if k in fields} | fields
        rows.append({"key": key, "workspace_id": ws, "session_id": sid,
                     "ttl_seconds": _ttl(ttl_ms), "fields": ordered})
    return rows


def pause_pending(client: redis.Redis, workspace_id: int | None = None) -> list[dict]:
    """Every pause-pending marker: a pause job queued and not yet started."""
    found = _scan(client, keys.pause_pending_pattern(), keys.parse_pause_pending, workspace_id)
    pipe = client.pipeline(transaction=False)
    for key in found:
        pipe.pttl(key)
    rows = []
    for key, ttl_ms in zip(found, pipe.execute(), strict=True):
        ws, sid = keys.parse_pause_pending(key)
        if ttl_ms != -2:  # -2: gone since SCAN
            rows.append({"key": key, "workspace_id": ws, "session_id": sid,
                         "ttl_seconds": _ttl(ttl_ms)})
    return rows


def _ttl(ttl_ms: int) -> float | None:
    return None if ttl_ms < 0 else round(ttl_ms / 1000, 3)  # -1: no expiry (never ours)


def queue_keys(queue: str) -> dict[str, str]:
    """The RedisBroker's keys for `queue` (see dramatiq/brokers/redis/dispatch.lua): a list of
    waiting ids and a hash of every unacknowledged message, the same pair for the delay queue,
    and a sorted set of dead letters."""
    main, delayed = keys.broker_queue(queue), keys.broker_queue(dq_name(queue))
    return {"waiting": main, "messages": f"{main}.msgs", "delayed_waiting": delayed,
            "delayed_messages": f"{delayed}.msgs",
            "dead_letters": keys.broker_queue(xq_name(queue))}


def queue_depths(client: redis.Redis, queue: str) -> dict:
    """How many jobs wait, run (fetched by a worker, not yet acknowledged), wait for their
    time (workers hold delayed ones in memory, so the hash counts them, not the list), and
    died."""
    names = queue_keys(queue)
    pipe = client.pipeline(transaction=False)
    pipe.llen(names["waiting"]).hlen(names["messages"])
    pipe.hlen(names["delayed_messages"]).zcard(names["dead_letters"])
    waiting, unacked, delayed, dead = pipe.execute()
    return {"queue": queue, "keys": names, "waiting": waiting,
            "in_progress": max(0, unacked - waiting), "delayed": delayed, "dead_letters": dead}


def queued_jobs(client: redis.Redis, queue: str, workspace_id: int | None = None) -> list[dict]:
    """The pause jobs and resume checks not yet done, soonest first (at most MAX_JOBS)."""
    names = queue_keys(queue)
    jobs = []
    for hash_key in (names["messages"], names["delayed_messages"]):
        for _, data in client.hscan_iter(hash_key, count=500):
            job = _job(data)
            if job and (workspace_id is None or job["workspace_id"] == workspace_id):
                jobs.append(job)
            if len(jobs) >= MAX_JOBS:
                return sorted(jobs, key=lambda j: j["eta_ms"] or 0)
    return sorted(jobs, key=lambda j: j["eta_ms"] or 0)


def _job(data: bytes) -> dict | None:
    try:
        message = Message.decode(data)
        workspace_id, session_id = message.args[0], message.args[1]
    except Exception:  # not one of ours, or not decodable: depths still count it
        return None
    attempt = message.args[3] if len(message.args) > 3 else message.kwargs.get("attempt")
    return {"actor": message.actor_name, "workspace_id": workspace_id,
            "session_id": session_id, "attempt": attempt,
            "eta_ms": message.options.get("eta")}


def campaigns(settings: Settings, store: ActivityStore, workspace_id: int | None) -> list[dict]:
    """Paused campaigns with their due time, reading each session's last activity once."""
    sessions = [(r.workspace_id, r.session_id) for r in paused_sessions()
                if workspace_id is None or r.workspace_id == workspace_id]
    last = store.last_activity_ms(sessions) if sessions else {}
    return paused_campaigns(settings, last_activity=last, workspace_id=workspace_id)


def collect(settings: Settings, client: redis.Redis, workspace_id: int | None,
            now_ms: int) -> dict:
    """The whole report as plain JSON-ready data."""
    store = ActivityStore(client, activity_ttl=settings.activity_ttl, seen_ttl=settings.seen_ttl)
    return {
        "now": iso_ms(now_ms),
        "workspace_id": workspace_id,
        "activity": activity_keys(client, workspace_id),
        "pause_pending": pause_pending(client, workspace_id),
        "queue": queue_depths(client, settings.queue),
        "jobs": [_job_json(j, now_ms) for j in queued_jobs(client, settings.queue, workspace_id)],
        "paused_campaigns": [_campaign_json(c, now_ms)
                             for c in campaigns(settings, store, workspace_id)],
    }


def _job_json(job: dict, now_ms: int) -> dict:
    eta_ms = job.pop("eta_ms")
    return job | {"eta": iso_ms(eta_ms) if eta_ms else None,
                  "eta_in_seconds": _seconds(eta_ms - now_ms) if eta_ms else None}


def _campaign_json(row: dict, now_ms: int) -> dict:
    due_ms, last_ms, paused_at = row.pop("due_ms"), row.pop("last_activity_ms"), row["paused_at"]
    held_until = row["held_until"]
    return row | {
        "paused_at": iso_ms(to_ms(paused_at)) if paused_at else None,
        "held_until": iso_ms(to_ms(held_until)) if held_until else None,
        "last_activity": iso_ms(last_ms) if last_ms is not None else None,
        "check_due": iso_ms(due_ms) if due_ms is not None else None,
        "check_due_in_seconds": _seconds(due_ms - now_ms) if due_ms is not None else None,
    }


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)


def _when(seconds: float | None, past: str = "{}s ago") -> str:
    if seconds is None:
        return "now"
    return f"in {seconds:.1f}s" if seconds >= 0 else past.format(f"{-seconds:.1f}")


def render(report: dict) -> str:
    """The report for a terminal: one section per store, one line per item."""
    scope = f" (workspace {report['workspace_id']})" if report["workspace_id"] else ""
    q = report["queue"]
    return "\n".join([
        f"phoneguard at {report['now']}{scope}",
        *_section("Activity keys", report["activity"], _activity_line),
        *_section("Pause pending", report["pause_pending"],
                  lambda p: f"  {p['key']}  ttl {_ttl_text(p['ttl_seconds'])}"),
        "", f"Queue {q['queue']} ({q['keys']['waiting']})",
        f"  waiting {q['waiting']}  in progress {q['in_progress']}  delayed {q['delayed']}  "
        f"dead letters {q['dead_letters']}",
        *_section("Queued jobs", report["jobs"], _job_line),
        *_section("Paused campaigns", report["paused_campaigns"], _campaign_line),
    ])


def _section(title: str, items: list[dict], line: Callable[[dict], str]) -> list[str]:
    return ["", f"{title} ({len(items)})", *([line(i) for i in items] or ["  none"])]


def _activity_line(a: dict) -> str:
    fields = "  ".join(f"{k}={v}" for k, v in a["fields"].items())
    return f"  {a['key']}  ttl {_ttl_text(a['ttl_seconds'])}  {fields}"


def _job_line(j: dict) -> str:
    attempt = f"  attempt {j['attempt']}" if j["attempt"] is not None else ""
    eta = f" ({j['eta']})" if j["eta"] else ""
    return (f"  {j['actor']}  workspace {j['workspace_id']}  session {j['session_id']}"
            f"{attempt}  due {_when(j['eta_in_seconds'])}{eta}")


def _ttl_text(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.1f}s"


def _campaign_line(c: dict) -> str:
    when = _when(c["check_due_in_seconds"], past="overdue by {}s")
    due = (f"check due {c['check_due']} ({when})"
           if c["check_due"] else "check due: unknown (no paused_at, no activity)")
    since = "last activity" if c["last_activity"] else "paused_at"
    if c["held_until"]:
        since += f", held until {c['held_until']}"
    return (f"  #{c['campaign_id']} {c['name']!r}  workspace {c['workspace_id']}  "
            f"session {c['session_id']}  tier {c['tier']} ({c['cooldown']}s)  "
            f"paused_at {c['paused_at']}  pause_count {c['pause_count']}  {due}, from {since}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.inspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=int, metavar="N", help="only this workspace")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    args = parser.parse_args(argv)
    return guarded("inspect", lambda: _inspect(args.workspace, args.json))


def _inspect(workspace_id: int | None, as_json: bool) -> int:
    settings = Settings.from_env()
    open_database(settings.database_url)
    client = redis_client(settings)
    try:
        with database.connection_context():
            report = collect(settings, client, workspace_id, to_ms(utcnow()))
    finally:
        client.close()
    print(json.dumps(report, indent=2) if as_json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
