"""The `clock` process: every CAMPAIGN_CONFLICT_RECONCILE_INTERVAL seconds, give a fresh
resume check to each paused session whose check is overdue (a lost delayed message).

Run exactly one clock per deployment. Usage: python -m scripts.clock
"""

from __future__ import annotations

import argparse
import contextlib
import logging

import peewee
import redis
from apscheduler.schedulers.blocking import BlockingScheduler

from actors import runtime
from models import logs
from models.db import database, utcnow
from models.errors import StoreUnavailable
from models.outages import OutageLog, redis_outage

log = logging.getLogger("phoneguard.clock")

# A store that is down, full or restarting: the next tick retries, so one line per outage,
# not a traceback every interval for as long as it lasts.
OUTAGES = (StoreUnavailable, redis.ConnectionError, redis.TimeoutError,
           peewee.OperationalError, peewee.InterfaceError)
_outages = OutageLog(log)


def tick() -> None:
    from actors.reconcile import reconcile

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
