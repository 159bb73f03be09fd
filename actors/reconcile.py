"""The clock's job: give a fresh resume check to every session whose check is overdue.

Dramatiq can lose a delayed message (a worker killed with -9 holds prefetched ones until
heartbeat recovery, seconds later; a Redis restarted empty forgets them all). The database
still knows which campaigns are paused, so the clock re-derives what should be pending.
"""

from __future__ import annotations

import datetime as dt
import logging

from actors import runtime
from actors.conflict import schedule
from models.conflict import overdue_checks, paused_sessions

log = logging.getLogger("phoneguard.clock")


def grace_seconds(settings) -> int:
    """How far past due a check must be before the clock stands in for it: long enough that a
    busy but healthy worker is not doubled, short enough to resume within a minute."""
    return max(15, settings.reconcile_interval)


def reconcile(*, now: dt.datetime) -> int:
    """Schedule a check for every overdue paused session; returns how many were scheduled."""
    rt = runtime.current()
    sessions = [(row.workspace_id, row.session_id) for row in paused_sessions()]
    last = rt.store.last_activity_ms(sessions) if sessions else {}
    checks = overdue_checks(rt.settings, now=now, last_activity=last,
                            grace_seconds=grace_seconds(rt.settings))
    for check in checks:
        schedule(check, now=now)
    if checks:
        log.warning("rescheduled %d overdue resume checks: %s", len(checks),
                    [(c.workspace_id, c.session_id) for c in checks][:20])
    return len(checks)
