"""Dramatiq's own keys, as models.keys names them: what tests, scripts.inspect and /metrics
read must be what the broker writes, under the contract's `dramatiq:` namespace."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name

from models import keys

QUEUE = "keys-test"


def test_the_broker_namespace_is_the_one_the_contract_names():
    assert keys.broker_queue("q") == "dramatiq:q"


def test_the_broker_keys_name_what_a_redis_broker_writes(redis_client):
    broker = RedisBroker(client=redis_client, namespace=keys.BROKER_NAMESPACE, middleware=[])
    broker.declare_queue(QUEUE)
    waiting = broker.enqueue(dramatiq.Message(QUEUE, "a", (), {}, {}))
    delayed = broker.enqueue(dramatiq.Message(QUEUE, "b", (), {}, {}), delay=60_000)
    consumer = broker.consume(QUEUE, prefetch=1, timeout=100)
    taken = next(consumer)
    (worker,) = (w.decode() for w in redis_client.zrange(keys.broker_heartbeats(), 0, -1))

    taken_id, delayed_id = (m.options["redis_message_id"] for m in (taken, delayed))
    assert taken.message_id == waiting.message_id
    assert redis_client.sismember(keys.broker_acks(worker, QUEUE), taken_id)
    assert redis_client.hexists(keys.broker_messages(QUEUE), taken_id)
    assert redis_client.lrange(keys.broker_queue(dq_name(QUEUE)), 0, -1) \
        == [delayed_id.encode()]
    assert redis_client.hexists(keys.broker_messages(dq_name(QUEUE)), delayed_id)
    consumer.close()
