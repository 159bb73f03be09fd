"""What the HTTP tests share: the app on real Redis, and posting to it (gateway bodies come
from tests.fixtures, their signatures from tests.signatures).

Loaded by the web test modules with `pytest_plugins = ["tests.web_helpers"]`.
"""

from __future__ import annotations

import dramatiq
import pytest
import redis
from falcon import testing
from redis.backoff import NoBackoff
from redis.retry import Retry

from models.activity import ActivityStore
from scripts.local_servers import free_port
from tests.signatures import encode
from web.app import create_app

WEBHOOK = "/api/v1/whatsapp/webhook"
TOKEN = {"X-Webhook-Token": "gateway-token"}
API = {"Authorization": "Bearer api-token"}
QUEUED = "Mobile activity queued for processing"


class Clock:
    """Epoch seconds that a test moves by hand: `clock.now += 10`."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def post(client: testing.TestClient, body, path=WEBHOOK, headers=TOKEN) -> testing.Result:
    return client.simulate_post(path, body=encode(body), headers=headers)


def activity_hash(redis_client: redis.Redis, workspace_id: int, session_id: str) -> dict:
    raw = redis_client.hgetall(f"conflict:activity:{workspace_id}:{session_id}")
    return {k.decode(): v.decode() for k, v in raw.items()}


def pause_jobs(broker) -> list[dramatiq.Message]:
    """handle_mobile_activity messages waiting on the stub broker's queues."""
    messages = [dramatiq.Message.decode(raw)
                for queue in broker.queues.values() for raw in list(queue.queue)]
    return [m for m in messages if m.actor_name == "handle_mobile_activity"]


def conflict_keys(redis_client: redis.Redis) -> list[str]:
    return sorted(k.decode() for k in redis_client.keys("conflict:*"))


def unreachable_store(settings) -> ActivityStore:
    """An activity store on a port nobody listens on; no retries, so the 503 comes at once."""
    client = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0),
                         socket_connect_timeout=1)
    return ActivityStore(client, activity_ttl=settings.activity_ttl)


def enqueue_pause(workspace_id: int, session_id: str, device_type: str,
                  received_ms: int | None = None):
    from actors.conflict import handle_mobile_activity

    return handle_mobile_activity.send(workspace_id, session_id, device_type,
                                       received_ms=received_ms)


@pytest.fixture
def make_client(settings, store, stub_broker):
    """Build a TestClient on create_app; any collaborator can be swapped per test."""
    def make(settings=settings, store=store, enqueue=enqueue_pause, **options):
        return testing.TestClient(create_app(settings, store, enqueue, **options))

    return make


@pytest.fixture
def client(make_client):
    return make_client()
