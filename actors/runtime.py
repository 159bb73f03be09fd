"""What the actors run against: chosen once per process, before any actor is imported.

`setup()` picks the broker (a RedisBroker from settings, or the StubBroker a test hands in),
makes it Dramatiq's global broker, and keeps the settings and the activity store the actors
use. Importing actors.conflict before setup() is an error that says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from actors.db_middleware import DatabaseConnection
from models import keys
from models.activity import ActivityStore
from models.settings import Settings
from models.urls import redis_tls_options


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: ActivityStore
    broker: dramatiq.Broker


_current: Runtime | None = None


def redis_client(settings: Settings, **overrides) -> redis.Redis:
    """The Redis client every process uses: bounded timeouts, so an unreachable server is an
    error in seconds instead of a hang; checked connections after a restart; and a rediss://
    server's certificate checked as REDIS_SSL_CERT_REQS (or the URL's ssl_cert_reqs) says."""
    options = {"socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 10,
               "retry_on_timeout": False,
               **redis_tls_options(settings.redis_url, settings.redis_ssl_cert_reqs),
               **overrides}
    return redis.Redis.from_url(settings.redis_url, **options)


def setup(
    settings: Settings, *, broker: dramatiq.Broker | None = None,
    client: redis.Redis | None = None,
) -> Runtime:
    global _current
    client = client or redis_client(settings)
    broker = broker or RedisBroker(client=client, namespace=keys.BROKER_NAMESPACE)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(DatabaseConnection())
    dramatiq.set_broker(broker)
    store = ActivityStore(client, activity_ttl=settings.activity_ttl, seen_ttl=settings.seen_ttl)
    _current = Runtime(settings, store, broker)
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError(
            "actors.runtime.setup(settings) must run before actors.conflict is imported"
        )
    return _current
