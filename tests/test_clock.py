"""The clock's job (scripts.clock.reconcile) on Dramatiq's StubBroker, a real Redis and every
database; the lost-check scenarios with the real processes are in test_faults.py."""

from __future__ import annotations

import datetime as dt

from actors import runtime
from models import conflict
from models.conflict import pause_session
from models.db import utcnow
from scripts import clock


def test_a_tick_reads_the_paused_sessions_once_and_asks_redis_once(
        stub_broker, settings, account_factory, monkeypatch):
    account_factory(1, "lost")
    pause_session(settings, 1, "lost", now=utcnow() - dt.timedelta(seconds=120),
                  last_activity_ms=None)
    reads, asks = [], []
    read = conflict.paused_sessions
    monkeypatch.setattr(clock, "paused_sessions", lambda: reads.append(1) or read())
    monkeypatch.setattr(conflict, "paused_sessions",
                        lambda: reads.append(1) or [])  # a second read would find nothing
    store = runtime.current().store
    last_activity_ms = store.last_activity_ms
    monkeypatch.setattr(store, "last_activity_ms",
                        lambda sessions: asks.append(sessions) or last_activity_ms(sessions))

    assert clock.reconcile(now=utcnow()) == 1
    assert (len(reads), asks) == (1, [[(1, "lost")]])
