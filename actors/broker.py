"""Dramatiq's RedisBroker, with a Redis that cannot take writes reported as a lost connection.

Dramatiq's consumers know one kind of broker outage, a lost connection: they log it on one
line, drop what they hold in memory and reconnect. A full Redis (`maxmemory`, noeviction) or a
read-only replica fails the same commands in the same way, but surfaces as a plain
ResponseError, which a consumer takes for a bug: it logs a traceback, and when handing its
held messages back fails too, its thread dies and the process stops taking delayed messages
for good. So every broker command that fails for a Redis outage raises ConnectionClosed.
"""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import RedisBroker as _DramatiqRedisBroker
from dramatiq.errors import ConnectionClosed

from models.outages import redis_outage


class RedisBroker(_DramatiqRedisBroker):
    """A RedisBroker whose commands raise ConnectionClosed whenever Redis is unreachable,
    full or read-only."""

    def _dispatch(self, command):
        # Every do_* command of the broker and its consumers goes through here.
        dispatch = super()._dispatch(command)

        def do_dispatch(queue_name, *args):
            try:
                return dispatch(queue_name, *args)
            except redis.RedisError as exc:
                why = redis_outage(exc)
                if why is None:
                    raise
                raise ConnectionClosed(f"Redis is {why}: {exc}") from exc

        return do_dispatch
