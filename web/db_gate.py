"""At most a few database connections per web process, however many requests it serves.

gevent serves many requests of one process at once, and Peewee opens a connection per
request that queries (per greenlet, as per thread). Without a bound a burst of webhooks that
name no workspace, or of read API calls, would open as many PostgreSQL connections as there
are requests in flight, and a small plan allows only a few dozen for every process together.
"""

from __future__ import annotations

import threading

import peewee


class DatabaseGate:
    """Wraps a Peewee database's connect() and close(): a request that opens a connection
    takes one of `size` slots, waiting up to `wait` seconds for one (then the database
    counts as unavailable: a 503), and gives it back when the connection is closed."""

    def __init__(self, db: peewee.Database, *, size: int, wait: float):
        self.db = db
        self.wait = wait
        self._slots = threading.BoundedSemaphore(size)
        self._connect, self._close = db.connect, db.close
        # Peewee calls self.connect() and self.close() itself (autoconnect, contexts), so the
        # instance's own attributes are where every opening and closing passes.
        db.connect, db.close = self.connect, self.close

    def connect(self, reuse_if_open: bool = False) -> bool:
        if not self.db.is_closed():
            return self._connect(reuse_if_open)
        if not self._slots.acquire(timeout=self.wait):
            raise peewee.OperationalError(
                f"all database connections of this web process stayed in use for {self.wait} s")
        try:
            return self._connect(reuse_if_open)
        except BaseException:
            self._slots.release()
            raise

    def close(self) -> bool:
        was_open = not self.db.is_closed()
        try:
            return self._close()
        finally:
            if was_open and self.db.is_closed():  # Peewee refuses inside a transaction
                self._slots.release()
