"""Dramatiq middleware that gives each worker thread a database connection, and tells of a
database outage once."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from dramatiq.middleware import Middleware
from peewee import InterfaceError, OperationalError, SqliteDatabase

from models.db import database

log = logging.getLogger("phoneguard.actors")

UNAVAILABLE = (OperationalError, InterfaceError)
# A connection unused for this long is checked (SELECT 1) before the next message uses it.
PING_AFTER_IDLE = 2.0


class DatabaseConnection(Middleware):
    """Open the thread's connection before a message, and drop it after a failure.

    A failed message may have failed because the connection broke (the server restarted, a
    proxy cut it); closing it makes the retry start on a fresh one instead of failing again.
    Once an outage or a database error is seen, every thread's connection from before it is
    replaced too.
    While the database cannot be reached every message fails to connect, and is retried on its
    actor's schedule: the outage is one warning line per process, and one more once a message
    has gone through again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._outages = 0  # outages and errors seen; each thread's connection notes the count
        self._local = threading.local()

    def before_process_message(self, broker, message):
        if not database.is_closed() and not self._fresh():
            # Opened before the last outage, or dead after a while unused: a message that
            # failed on it would wait for its next retry (30 s, 60 s) for nothing.
            with contextlib.suppress(*UNAVAILABLE):
                database.close()
        try:
            if database.connect(reuse_if_open=True):
                self._local.outages = self._outages
        except UNAVAILABLE as exc:
            # Dramatiq logs anything a middleware raises as CRITICAL with its traceback. The
            # actor's first query meets the same error and goes to its retry schedule.
            self._down(exc)

    def _fresh(self) -> bool:
        if getattr(self._local, "outages", 0) != self._outages:
            return False
        idle = time.monotonic() - getattr(self._local, "used", 0.0)
        if idle < PING_AFTER_IDLE or isinstance(database.obj, SqliteDatabase):
            return True
        try:  # a server that restarted unseen while this thread was idle
            database.execute_sql("SELECT 1")
            return True
        except UNAVAILABLE:
            return False

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._local.used = time.monotonic()
        if exception is None:
            self._up()
            return
        if _database_error(exception):
            # Maybe a connection lost under the query: the other threads' connections may be
            # as dead, so they are replaced too (reconnecting costs less than a 30 s retry).
            with self._lock:
                self._outages += 1
        if not database.is_closed():
            database.close()

    after_skip_message = after_process_message

    def _down(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            self._outages += 1
        log.warning("database unavailable (%s: %s); messages are retried on their schedule, "
                    "and this is logged again only once it answers", type(exc).__name__,
                    str(exc).strip())

    def _up(self) -> None:
        if self._down_since is None:  # the common case, read without the lock
            return
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is not None:
            log.warning("database answers again after %.1f s", time.monotonic() - since)


def _database_error(exc: BaseException | None) -> bool:
    """Whether a database error is behind `exc` (actors re-raise it as Retry or GaveUp)."""
    for _ in range(10):
        if exc is None:
            return False
        if isinstance(exc, UNAVAILABLE):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
