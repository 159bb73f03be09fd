"""The clock's job: give a fresh resume check to every session whose check is overdue.

Dramatiq can lose a delayed message (a worker killed with -9 holds prefetched ones until
heartbeat recovery, seconds later; a Redis restarted empty forgets them all). The database
still knows which campaigns are paused, so the clock re-derives what should be pending. It
also takes in the paused campaigns no check can reach, which other programs leave behind
(models.strays), and never lets one such row stop it from serving the rest.
"""

from __future__ import annotations

import datetime as dt
import logging

from actors import runtime
from actors.conflict import follow_up, schedule
from models.conflict import overdue_checks, paused_sessions, readable
from models.strays import adopt_unstamped, orphans, resume_orphans

log = logging.getLogger("phoneguard.clock")

# Sessions whose pause times are unreadable, already logged by this clock process.
_reported: set[tuple[int, str]] = set()


def grace_seconds(settings) -> int:
    """How far past due a check must be before the clock stands in for it: long enough that a
    busy but healthy worker is not doubled, short enough to resume within a minute."""
    return max(15, settings.reconcile_interval)


def reconcile(*, now: dt.datetime) -> int:
    """Schedule a check for every overdue paused session, adopt and resume the campaigns no
    check reaches; returns how many checks were scheduled."""
    rt = runtime.current()
    adopted = _adopt(now)
    rows = [row for row in paused_sessions() if _readable(row)]
    lost = orphans()
    sessions = {(row.workspace_id, row.session_id) for row in rows}
    sessions |= {(o.workspace_id, o.session_id) for o in lost if o.session_id is not None}
    last = rt.store.last_activity_ms(sorted(sessions)) if sessions else {}
    checks = overdue_checks(rt.settings, now=now, last_activity=last,
                            grace_seconds=grace_seconds(rt.settings), rows=rows)
    for check in checks:
        schedule(check, now=now)
    if checks:
        log.warning("rescheduled %d overdue resume checks: %s", len(checks),
                    [(c.workspace_id, c.session_id) for c in checks][:20])
    if lost:
        resumed = resume_orphans(rt.settings, now=now, last_activity=last)
        follow_up(resumed, now=now)
        if resumed.campaign_ids:
            log.warning("resumed %d paused campaigns whose account was deleted: %s",
                        len(resumed.campaign_ids), resumed.campaign_ids[:20])
    return len(checks) + adopted


def _adopt(now: dt.datetime) -> int:
    rt = runtime.current()
    ids, checks = adopt_unstamped(rt.settings, now=now)
    for check in checks:
        schedule(check, now=now)
    if ids:
        log.warning("adopted %d paused_mobile campaigns without paused_at (another program "
                    "paused them), as paused now: %s", len(ids), ids[:20])
    return len(checks)


def _readable(row) -> bool:
    if readable(row):
        return True
    session = (row.workspace_id, row.session_id)
    if session not in _reported:
        _reported.add(session)
        log.error("skipping workspace=%s session=%r: its paused campaigns have a paused_at "
                  "that is not a time (%r); fix or clear it and the clock adopts them",
                  row.workspace_id, row.session_id, row.latest_pause)
    return False
