"""Phone activity per (workspace, session), kept in Redis hashes that expire on their own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis

from models import keys
from models.errors import StoreUnavailable
from models.outages import redis_outage

# One round trip records an activity: the duplicate checks (by message id, and by the delivery's
# webhook-id when it has one), the hash update, its TTL and the "pause already queued" marker
# happen atomically, so twenty concurrent copies of one gateway retry count once and a burst of
# typing queues one pause job.
RECORD_SCRIPT = """
if ARGV[9] ~= '' and redis.call('EXISTS', KEYS[4]) == 1 then
  return {1, 0}
end
if ARGV[4] ~= '' and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[6]) then
  return {1, 0}
end
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[6])
end
local previous = tonumber(redis.call('HGET', KEYS[1], 'last_activity_ms') or '0')
if tonumber(ARGV[1]) >= previous then
  redis.call('HSET', KEYS[1], 'last_activity', ARGV[2], 'last_activity_ms', ARGV[1],
             'device_type', ARGV[3], 'last_message_id', ARGV[4])
end
redis.call('HSETNX', KEYS[1], 'first_activity', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'message_count', 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
local queue_pause = 0
if ARGV[8] == '1' and redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[7]) then
  queue_pause = 1
end
return {0, queue_pause}
"""

# Takes back one recorded delivery; an activity hash that expired meanwhile is not revived.
FORGET_SCRIPT = """
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'message_count', -1)
end
"""

# A queued pause job runs within this many seconds unless the workers are down; after that a
# new activity may queue another (pauses are idempotent, so an extra one costs nothing).
PAUSE_PENDING_TTL = 30
MAX_SHOWN_ID = 255


@dataclass(frozen=True)
class ActivityEvent:
    """One message the owner sent from a device, whatever gateway reported it."""

    workspace_id: int
    session_id: str
    device_type: str
    message_id: str = ""
    delivery_id: str = ""  # a Standard Webhooks delivery's webhook-id, when signed with one


@dataclass(frozen=True)
class Recorded:
    duplicate: bool
    pause_queued: bool


@dataclass(frozen=True)
class Activity:
    last_activity_ms: int
    device_type: str | None
    message_count: int

    @property
    def last_activity(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.last_activity_ms / 1000, dt.UTC)


def to_ms(moment: dt.datetime) -> int:
    """Epoch milliseconds of an aware or naive-UTC datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> dt.datetime:
    """The naive-UTC datetime of epoch milliseconds, as the tables store times."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(tzinfo=None)


def iso_ms(ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as 2025-11-24T16:00:00.123Z."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class ActivityStore:
    """Reads and writes the activity keys; the client is injected, tests hand in a real one."""

    def __init__(self, client: redis.Redis, *, activity_ttl: int, seen_ttl: int = 3600):
        self.client = client
        self.activity_ttl = activity_ttl
        self.seen_ttl = seen_ttl
        self._record = client.register_script(RECORD_SCRIPT)
        self._forget = client.register_script(FORGET_SCRIPT)

    def record(self, event: ActivityEvent, *, now_ms: int, queue_pause: bool) -> Recorded:
        """Record one activity; `queue_pause` asks for the pause-pending marker, and the
        result says whether this call set it (the caller then enqueues the pause job)."""
        ws, sid = event.workspace_id, event.session_id
        # The markers are unused by the script without a message id or a webhook-id.
        markers = [keys.seen(ws, sid, event.message_id), keys.pause_pending(ws, sid),
                   keys.delivery(ws, event.delivery_id)]
        args = [now_ms, iso_ms(now_ms), event.device_type, _shown_id(event.message_id),
                self.activity_ttl, self.seen_ttl, PAUSE_PENDING_TTL, int(queue_pause),
                "1" if event.delivery_id else ""]
        with _unavailable_as_error():
            duplicate, queued = self._record(
                keys=[keys.activity(ws, sid), *markers], args=args)
        return Recorded(duplicate=bool(duplicate), pause_queued=bool(queued))

    def forget_delivery(self, event: ActivityEvent) -> None:
        """Undo the markers and the count of a delivery that could not be queued, so the
        gateway's retry is taken again (not dropped as a duplicate) and counted once. The
        activity time stays: the phone was in use, and a sender asking meanwhile should hold."""
        ws, sid = event.workspace_id, event.session_id
        with _unavailable_as_error():
            self._forget(keys=[keys.activity(ws, sid), keys.pause_pending(ws, sid),
                               keys.seen(ws, sid, event.message_id),
                               keys.delivery(ws, event.delivery_id)])

    def pause_started(self, workspace_id: int, session_id: str) -> Activity | None:
        """A pause job has begun: later activity may queue the next one. Returns the session's
        activity, read in the same round trip (the pause job needs both)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(keys.pause_pending(workspace_id, session_id))
        pipe.hgetall(keys.activity(workspace_id, session_id))
        with _unavailable_as_error():
            _, fields = pipe.execute()
        return _activity(fields)

    def get(self, workspace_id: int, session_id: str) -> Activity | None:
        with _unavailable_as_error():
            fields = self.client.hgetall(keys.activity(workspace_id, session_id))
        return _activity(fields)

    def check_writable(self) -> None:
        """Raise StoreUnavailable unless Redis takes a write now: a full Redis (noeviction)
        or a read-only replica still answers PING and reads."""
        with _unavailable_as_error():
            self.client.set(keys.ready_probe(), "1", ex=60)

    def last_activity_ms(self, sessions: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """Last activity of many sessions in one pipelined round trip; absent ones omitted."""
        with _unavailable_as_error():
            pipe = self.client.pipeline(transaction=False)
            for ws, sid in sessions:
                pipe.hget(keys.activity(ws, sid), "last_activity_ms")
            values = pipe.execute()
        return {s: int(v) for s, v in zip(sessions, values, strict=True) if v is not None}

    def live_sessions(self, workspace_id: int | None = None) -> dict[tuple[int, str], int]:
        """Last activity of every session whose activity key is alive (of one workspace, or
        all): SCAN, never KEYS, so a large keyspace is walked without blocking Redis."""
        with _unavailable_as_error():
            found = [keys.parse_activity(_text(key)) for key in self.client.scan_iter(
                match=keys.activity_pattern(workspace_id), count=500)]
        return self.last_activity_ms(found) if found else {}


def _activity(fields: dict) -> Activity | None:
    fields = {_text(k): _text(v) for k, v in fields.items()}
    if "last_activity_ms" not in fields:
        return None
    return Activity(
        last_activity_ms=int(fields["last_activity_ms"]),
        device_type=fields.get("device_type"),
        message_count=int(fields.get("message_count", 0)),
    )


def _shown_id(message_id: str) -> str:
    """The id as the activity hash shows it (last_message_id): bounded, printable text."""
    shown = message_id[:MAX_SHOWN_ID]
    return shown if shown.isprintable() else "?"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _unavailable_as_error:
    """Turn a Redis that cannot take writes (unreachable, timing out, full, read-only) into
    StoreUnavailable.

    There is no way to tell a Redis that is restarting from one that is gone, nor a full one
    that an operator is about to grow, so all become the same 503 and the gateway's own retry
    does the waiting.
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        why = redis_outage(exc) if exc is not None else None
        if why:
            raise StoreUnavailable(f"Redis is {why}: {exc}") from exc
        return False
