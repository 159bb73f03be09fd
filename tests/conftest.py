"""Real servers for the suite: a private redis-server per test session, and the databases.

SQLite always; PostgreSQL and MariaDB when reachable (PHONEGUARD_REQUIRE_DATABASES=1, as CI
sets it, turns "unreachable" into a failure instead of a skip).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import pytest
import redis
from dramatiq.brokers.stub import StubBroker

from actors import runtime
from models.activity import ActivityStore
from models.db import open_database
from models.schema import migrate_up
from models.settings import Settings
from models.tables import Campaign, CampaignPauseEvent, WhatsappAccount
from scripts.local_servers import private_redis
from tests import servers

# Fixtures of the HTTP tests (a TestClient on create_app), of the tests that run the processes
# on each database, and of the operator commands' tests, loaded here so pytest rewrites them.
pytest_plugins = ["tests.web_helpers", "tests.stack_helpers", "tests.script_helpers"]

DATABASES = {
    "sqlite": None,
    "postgresql": os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
REQUIRE_DATABASES = os.environ.get("PHONEGUARD_REQUIRE_DATABASES") == "1"
_MIGRATED: set[str] = set()


@pytest.fixture(scope="session")
def redis_url():
    with private_redis() as url:
        yield url


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def settings():
    return Settings(webhook_secrets=(b"test-secret-key!",), waha_hmac_key="waha-key",
                    webhook_token="gateway-token", api_token="api-token",
                    evolution_jwt_key="evolution-jwt-key-of-32-characters")


@pytest.fixture
def store(redis_client, settings):
    return ActivityStore(redis_client, activity_ttl=settings.activity_ttl)


@pytest.fixture(scope="session", params=list(DATABASES))
def database_url(request, tmp_path_factory):
    name = request.param
    if name == "sqlite":
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "phoneguard.db")
        return
    with scratch_database_on(name) as scratch:
        yield scratch


@contextlib.contextmanager
def scratch_database_on(name: str):
    """A scratch database of our own on the DATABASES server `name`, dropped afterwards;
    skips the test when that server is unreachable (fails it under
    PHONEGUARD_REQUIRE_DATABASES=1)."""
    url = DATABASES[name]
    problem = servers.unreachable(url)
    if problem:
        if REQUIRE_DATABASES:
            pytest.fail(f"{name} is required here but unreachable: {problem}")
        pytest.skip(f"{name} unreachable: {problem}")
    with servers.scratch_database(url) as scratch:
        yield scratch


@pytest.fixture
def db(database_url):
    """A migrated, empty database bound to the tables."""
    handle = open_database(database_url)
    handle.connect(reuse_if_open=True)
    if database_url not in _MIGRATED:
        servers.drop_tables(handle)
        migrate_up(handle)
        _MIGRATED.add(database_url)
    for table in (CampaignPauseEvent, Campaign, WhatsappAccount):
        table.delete().execute()
    yield handle
    handle.close()


@pytest.fixture(scope="session")
def _stub_runtime(redis_url):
    broker = StubBroker()
    broker.emit_after("process_boot")
    client = redis.Redis.from_url(redis_url)
    rt = runtime.setup(Settings(), broker=broker, client=client)
    import actors.conflict  # noqa: F401  (declares the actors on the stub broker)

    yield rt
    broker.close()


@pytest.fixture
def stub_broker(_stub_runtime, settings, store, monkeypatch):
    """Dramatiq's StubBroker with the actors declared on it, and the runtime bound to this
    test's settings and a real (private) Redis."""
    monkeypatch.setattr(runtime, "_current",
                        dataclasses.replace(_stub_runtime, settings=settings, store=store))
    _stub_runtime.broker.flush_all()
    yield _stub_runtime.broker
    _stub_runtime.broker.flush_all()


@pytest.fixture
def account_factory(db):
    def make(workspace_id=1, session_id="s1", tier=1, campaigns=("ongoing",)):
        account = WhatsappAccount.create(workspace_id=workspace_id, session_id=session_id,
                                         tier=tier)
        made = [Campaign.create(workspace_id=workspace_id, whatsapp_account_id=account.id,
                                name=f"campaign {i}", status=status)
                for i, status in enumerate(campaigns)]
        return account, made

    return make

