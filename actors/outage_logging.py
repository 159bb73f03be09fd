"""One line per Redis outage from Dramatiq's consumers, instead of a traceback every few
seconds per consumer for as long as it lasts.

Dramatiq's consumer threads restart themselves every few seconds after any broker failure, and
log each failure as CRITICAL (a full or read-only Redis with a whole traceback); they have no
hook of their own for it, so their log records are filtered on the way out.
"""

from __future__ import annotations

import logging

from models.outages import OutageLog, redis_outage

CONSUMER_LOGGERS = "dramatiq.worker.ConsumerThread"
RESTARTING = "Restarting consumer"


class ConsumerOutageFilter(logging.Filter):
    """Let the first consumer failure of a Redis outage through as one line; drop the rest
    of that outage's failures and their "Restarting consumer" lines."""

    def __init__(self, outages: OutageLog):
        super().__init__()
        self.outages = outages
        self.during = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(CONSUMER_LOGGERS):
            return True
        if record.getMessage().startswith(RESTARTING):
            return not self.during
        why = _outage_of(record)
        self.during = why is not None
        if why is None:
            return True
        self.outages.failed(f"{record.name}: the broker is unavailable", why)
        return False


def install() -> None:
    """Put the filter on every handler of the root logger (Dramatiq's own, in a worker
    process), where the consumers' records end up."""
    consumer_filter = ConsumerOutageFilter(OutageLog(logging.getLogger("phoneguard.worker")))
    for handler in logging.getLogger().handlers:
        handler.addFilter(consumer_filter)


def _outage_of(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[1] is not None:
        why = redis_outage(record.exc_info[1])
        return f"Redis is {why}" if why else None
    message = record.getMessage()
    return message if "connection error" in message else None
