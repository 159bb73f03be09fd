"""At most a few large request bodies in memory per web process at once.

A webhook's body is read whole before its signature can be checked (the signature covers the
raw bytes), so anyone can make the process hold up to WEBHOOK_MAX_BODY_BYTES per request.
gevent serves many requests of one process at once: without a bound, a burst of large bodies
would hold that many times the limit. Small bodies, every webhook but those carrying media,
are not counted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from models.errors import Busy

# A body up to one read of web.webhook.read_body is small.
SMALL_BODY = 64 * 1024
LARGE_BODIES = 4  # per web process
WAIT_S = 10.0


class BodySlots:
    """A large body (over `small` bytes, or of unknown length) is read in one of `slots`
    slots, waiting up to `wait` seconds for one; then Busy (a 503: the gateway retries)."""

    def __init__(self, *, small: int = SMALL_BODY, slots: int = LARGE_BODIES,
                 wait: float = WAIT_S):
        self.small = small
        self.wait = wait
        self._slots = threading.BoundedSemaphore(slots)

    @contextlib.contextmanager
    def reading(self, length: int | None) -> Iterator[None]:
        """Hold a slot, when the body needs one, for as long as the block keeps it."""
        if length is not None and length <= self.small:
            yield
            return
        if not self._slots.acquire(timeout=self.wait):
            raise Busy("Too many large bodies are being received; retry shortly")
        try:
            yield
        finally:
            self._slots.release()
