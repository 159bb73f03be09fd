"""Process setup: what every process (web, worker, clock, the scripts) and its actors run
against, chosen once per process, before any actor is imported.

`from_env()` reads the settings, opens the database and calls `setup()`, ending the process
with a message naming the variable when a setting is bad. `setup()` picks the broker (a
RedisBroker from settings, or the StubBroker a test hands in), makes it Dramatiq's global
broker, and keeps the settings and the activity store the actors use. Importing
actors.conflict before setup() is an error that says so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

from actors.broker import RedisBroker
from actors.db_middleware import DatabaseConnection
from models import keys
from models.activity import ActivityStore
from models.db import open_database
from models.errors import ConfigError
from models.settings import Settings
from models.urls import redis_tls_options


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    store: ActivityStore
    broker: dramatiq.Broker


_current: Runtime | None = None

# A worker killed with -9 leaves the messages it held unacknowledged; Dramatiq hands them to
# another worker once the dead one's heartbeat is HEARTBEAT_TIMEOUT_MS old, at the next
# maintenance (run by a broker command with MAINTENANCE_CHANCE in a million, and cheap while no
# worker is dead). Dramatiq's defaults (a 60 s timeout, a chance of 1,000 in a million) would
# leave a killed worker's pause waiting about a minute; the guarantee is 15 s. A live worker
# heartbeats on every poll and every acknowledgement, so only one cut off from Redis for
# longer than the timeout (a Redis restart that keeps its data) has its messages handed out
# twice, and every actor is idempotent.
HEARTBEAT_TIMEOUT_MS = 5_000
MAINTENANCE_CHANCE = 100_000
# Seconds a Redis command waits for a free connection of its process's pool before failing as
# Redis being unreachable would (a webhook then answers 503, a message is retried).
POOL_WAIT_S = 5


def redis_client(settings: Settings, *, name: str | None = None, **overrides) -> redis.Redis:
    """The Redis client every process uses: bounded timeouts, so an unreachable server is an
    error in seconds instead of a hang; checked connections after a restart; a rediss://
    server's certificate checked as REDIS_SSL_CERT_REQS (or the URL's ssl_cert_reqs) says.

    At most REDIS_MAX_CONNECTIONS connections, waited for when all are in use: left open, a
    burst of webhooks made a web process open one per request in flight (29 for 200 at once)
    and keep them, past what a small plan allows (Heroku's mini: 20 in all), where every
    process's next connection is refused. `name` shows in CLIENT LIST (phoneguard-<name>)."""
    options = {"socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 10,
               "retry_on_timeout": False,
               "max_connections": settings.redis_max_connections, "timeout": POOL_WAIT_S,
               **({"client_name": f"phoneguard-{name}"} if name else {}),
               **redis_tls_options(settings.redis_url, settings.redis_ssl_cert_reqs),
               **overrides}
    return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(settings.redis_url,
                                                                       **options))


def from_env(process: str) -> Runtime:
    """Set up `process` (its name, for the message) from the environment: settings, database,
    broker. A bad setting ends the process with exit code 2 and a message naming the
    variable."""
    try:
        settings = Settings.from_env()
        open_database(settings.database_url)
    except ConfigError as exc:
        print(f"phoneguard {process}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return setup(settings, name=process)


def setup(
    settings: Settings, *, broker: dramatiq.Broker | None = None,
    client: redis.Redis | None = None, name: str | None = None,
) -> Runtime:
    global _current
    client = client or redis_client(settings, name=name)
    broker = broker or RedisBroker(client=client, namespace=keys.BROKER_NAMESPACE,
                                   heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
                                   maintenance_chance=MAINTENANCE_CHANCE)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(DatabaseConnection())
    dramatiq.set_broker(broker)
    store = ActivityStore(client, activity_ttl=settings.activity_ttl, seen_ttl=settings.seen_ttl)
    _current = Runtime(settings, store, broker)
    return _current


def current() -> Runtime:
    """The runtime setup() made; RuntimeError before it ran."""
    if _current is None:
        raise RuntimeError(
            "actors.runtime.setup(settings) must run before actors.conflict is imported"
        )
    return _current
