"""What counts as a Redis outage, and logging one line per outage instead of one per failure.

A Redis that is unreachable, full (`maxmemory` with `noeviction`) or read-only (a replica
after a failover) refuses every write until an operator or the platform acts; each request,
message and tick then fails the same way, so the log says it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

# Redis < 7 reports an error raised inside a Lua script as a plain ResponseError whose text
# holds the original error code; redis-py's own classes only catch the top-level ones.
_REFUSALS = {"OOM command not allowed": "out of memory (maxmemory)",
             "READONLY": "read-only (a replica)"}


def redis_outage(exc: BaseException) -> str | None:
    """Why `exc` (or an exception it was raised from) means Redis cannot take writes now, as
    a few words; None when it is some other error."""
    while exc is not None:
        if isinstance(exc, redis.OutOfMemoryError):
            return _REFUSALS["OOM command not allowed"]
        if isinstance(exc, redis.ReadOnlyError):
            return _REFUSALS["READONLY"]
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            return "unreachable"
        if isinstance(exc, redis.ResponseError):
            text = str(exc)
            for marker, why in _REFUSALS.items():
                if marker in text:
                    return why
        exc = exc.__cause__ or exc.__context__
    return None


class OutageLog:
    """Logs the first failure of an outage as one warning and counts the rest quietly.

    An outage ends after `quiet` seconds without a failure; the next failure starts a new
    one (and its line says how many failures the previous one had). Thread-safe.
    """

    def __init__(self, log: logging.Logger, *, quiet: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.log = log
        self.quiet = quiet
        self.clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._count = 0

    def failed(self, what: str, reason: object) -> bool:
        """Note one failure of `what`; True when it started an outage (and was logged)."""
        now = self.clock()
        with self._lock:
            started = self._last is None or now - self._last > self.quiet
            previous, self._count = self._count, 1 if started else self._count + 1
            self._last = now
        if started:
            tail = f" (the previous outage: {previous} failures)" if previous > 1 else ""
            self.log.warning("%s: %s; retrying (one line per outage)%s", what, reason, tail)
        return started
