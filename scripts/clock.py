"""The `clock` process and its job: every CAMPAIGN_CONFLICT_RECONCILE_INTERVAL seconds, give a
fresh resume check to each paused session whose check is overdue.

Dramatiq can lose a delayed message (a worker killed with -9 holds prefetched ones until
heartbeat recovery, seconds later; a Redis restarted empty forgets them all). The database
still knows which campaigns are paused, so the clock re-derives what should be pending. It
also takes in the paused campaigns no check can reach, which other programs leave behind
(models.strays), and never lets one such row stop it from serving the rest.

Run exactly one clock per deployment. Usage: python -m scripts.clock
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging

import peewee
import redis
from apscheduler.schedulers.blocking import BlockingScheduler

from actors import runtime
from models import logs
from models.conflict import overdue_checks, paused_sessions, readable
from models.db import database, utcnow
from models.errors import StoreUnavailable
from models.outages import OutageLog, redis_outage
from models.strays import adopt_unstamped, orphans, resume_orphans

log = logging.getLogger("phoneguard.clock")

# A store that is down, full or restarting: the next tick retries, so one line per outage,
# not a traceback every interval for as long as it lasts.
OUTAGES = (StoreUnavailable, redis.ConnectionError, redis.TimeoutError,
           peewee.OperationalError, peewee.InterfaceError)
_outages = OutageLog(log)

# Sessions whose pause times are unreadable, already logged by this clock process.
_reported: set[tuple[int, str]] = set()


def grace_seconds(settings) -> int:
    """How far past due a check must be before the clock stands in for it: long enough that a
    busy but healthy worker is not doubled, short enough to resume within a minute."""
    return max(15, settings.reconcile_interval)


def reconcile(*, now: dt.datetime) -> int:
    """Schedule a check for every overdue paused session, adopt and resume the campaigns no
    check reaches; returns how many checks were scheduled. The runtime must be set up first
    (the actors are declared on its broker)."""
    from actors.conflict import follow_up, schedule  # declared on the runtime's broker

    rt = runtime.current()
    adopted = _adopt(now, schedule)
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


def _adopt(now: dt.datetime, schedule) -> int:
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


def tick() -> None:
    """One reconciliation; a failure is logged, never raised: the next tick tries again."""
    try:
        with database.connection_context():
            reconcile(now=utcnow())
    except Exception as exc:  # a failed tick is retried by the next one; the clock must not die
        if isinstance(exc, OUTAGES) or redis_outage(exc):
            _outages.failed("reconcile skipped, a store is unavailable", exc)
        else:
            log.exception("reconcile failed; trying again next tick")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.clock", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="reconcile once and exit")
    args = parser.parse_args(argv)
    logs.configure()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per tick is noise
    rt = runtime.from_env("clock")
    import actors.conflict  # noqa: F401  (declares the actors on the broker)

    if args.once:
        tick()
        return 0
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(tick, "interval", seconds=rt.settings.reconcile_interval,
                      max_instances=1, coalesce=True, next_run_time=utcnow())
    log.info("clock started: reconciling every %ss", rt.settings.reconcile_interval)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
