"""models.outages: which Redis errors are outages, and one log line per outage."""

from __future__ import annotations

import logging

import pytest
import redis

from models.activity import ActivityEvent
from models.errors import StoreUnavailable
from models.outages import OutageLog, redis_outage
from scripts.local_servers import private_redis


@pytest.fixture
def full_redis(redis_client):
    """The session's private Redis refusing every write, as at maxmemory with noeviction."""
    redis_client.config_set("maxmemory", "1")
    yield redis_client
    redis_client.config_set("maxmemory", "0")


def test_a_full_redis_is_an_outage_for_plain_commands_and_for_scripts(full_redis, store):
    with pytest.raises(redis.ResponseError) as plain:
        full_redis.set("k", "v")
    assert redis_outage(plain.value) == "out of memory (maxmemory)"
    # Redis 6 reports the refusal inside a script as a plain ResponseError.
    with pytest.raises(StoreUnavailable, match="out of memory") as recorded:
        store.record(ActivityEvent(1, "s1", "android", "m1"), now_ms=1, queue_pause=True)
    assert redis_outage(recorded.value) == "out of memory (maxmemory)"


def test_a_read_only_replica_is_an_outage(redis_client, store):
    with private_redis() as primary_url:
        primary = redis.Redis.from_url(primary_url)
        redis_client.replicaof("127.0.0.1", primary.connection_pool.connection_kwargs["port"])
        try:
            with pytest.raises(StoreUnavailable, match="read-only"):
                store.record(ActivityEvent(1, "s1", "android", "m1"), now_ms=1,
                             queue_pause=True)
            with pytest.raises(StoreUnavailable, match="read-only"):
                store.check_writable()
        finally:
            redis_client.replicaof("NO", "ONE")


def test_read_only_and_unreachable_redis_are_outages_and_other_errors_are_not():
    assert redis_outage(redis.ReadOnlyError("You can't write against a read only replica."))
    assert redis_outage(redis.ResponseError("READONLY You can't write")) == "read-only (a replica)"
    assert redis_outage(redis.ConnectionError("refused")) == "unreachable"
    assert redis_outage(redis.ResponseError("WRONGTYPE Operation against a key")) is None
    assert redis_outage(ValueError("bad")) is None


def test_an_outage_is_logged_once_until_it_has_been_quiet_for_a_while(caplog):
    now = [100.0]
    outages = OutageLog(logging.getLogger("test.outages"), quiet=30, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.outages"):
        started = [outages.failed("tick", "Redis is full")]
        for _ in range(5):
            now[0] += 10
            started.append(outages.failed("tick", "Redis is full"))
        now[0] += 31
        started.append(outages.failed("tick", "Redis is full"))

    assert started == [True, False, False, False, False, False, True]
    assert len(caplog.records) == 2
    assert "previous outage: 6 failures" in caplog.records[1].getMessage()
