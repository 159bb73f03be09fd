"""scripts.migrate on SQLite, PostgreSQL and MySQL/MariaDB: fresh databases, an existing
Laravel campaigns table, rolling back, and rows other programs insert with plain SQL.

Each test starts from a database without phoneguard's tables and leaves it migrated, as the
`db` fixture of the other test modules expects it to be.
"""

from __future__ import annotations

import datetime as dt

import pytest

from models.conflict import pause_session
from models.db import database, open_database
from models.schema import migrate_up, pending
from models.settings import Settings
from models.tables import Campaign, CampaignPauseEvent, WhatsappAccount
from scripts import migrate
from tests import servers
from tests.stack_helpers import backend

CONFLICT_COLUMNS = {"paused_at", "pause_reason", "auto_resume_at", "pause_count",
                    "paused_by_session", "held_until"}
LARAVEL_COLUMNS = {"id", "workspace_id", "whatsapp_account_id", "name", "status",
                   "completed_at"}
CONTRACT_INDEXES = {"idx_campaigns_status_paused": ["status", "paused_at"],
                    "idx_campaigns_workspace_status": ["workspace_id", "status"]}
# What Laravel's schema builder creates for $table->id(), foreignId(), string() and
# timestamp()->nullable() on each backend.
LARAVEL_CAMPAIGNS = {
    "sqlite": "CREATE TABLE campaigns (id integer primary key autoincrement not null, "
              "workspace_id integer not null, whatsapp_account_id integer not null, "
              "name varchar not null, status varchar not null, completed_at datetime)",
    "postgresql": "CREATE TABLE campaigns (id bigserial primary key not null, "
                  "workspace_id bigint not null, whatsapp_account_id bigint not null, "
                  "name varchar(255) not null, status varchar(255) not null, "
                  "completed_at timestamp(0) without time zone null)",
    "mysql": "CREATE TABLE campaigns (id bigint unsigned not null auto_increment primary key, "
             "workspace_id bigint unsigned not null, whatsapp_account_id bigint unsigned not "
             "null, name varchar(255) not null, status varchar(255) not null, completed_at "
             "timestamp null) default character set utf8mb4 collate 'utf8mb4_unicode_ci'",
}
T = dt.datetime(2025, 11, 24, 16, 0, 0, 123456)


@pytest.fixture
def empty_db(database_url, monkeypatch):
    """The test database with none of phoneguard's tables; migrated again afterwards."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    handle = open_database(database_url)
    handle.connect(reuse_if_open=True)
    servers.drop_tables(handle)
    yield handle
    database.initialize(handle)
    servers.drop_tables(handle)
    migrate_up(handle)
    handle.close()


@pytest.fixture
def laravel_db(empty_db):
    """An existing Laravel database: campaigns without the conflict columns, with a row."""
    empty_db.execute_sql(LARAVEL_CAMPAIGNS[backend(empty_db)])
    empty_db.execute_sql(
        "INSERT INTO campaigns (workspace_id, whatsapp_account_id, name, status, completed_at) "
        "VALUES (1, 1, 'Black Friday', 'completed', '2025-11-24 16:00:00')")
    return empty_db


@pytest.fixture(params=["fresh", "laravel"])
def migrated(request, empty_db):
    if request.param == "laravel":
        request.getfixturevalue("laravel_db")
    assert run_migrate() == 0
    return empty_db


def run_migrate(*args: str) -> int:
    """scripts.migrate in-process; it binds the tables to a database of its own, so bind
    them back to the test's afterwards."""
    handle = database.obj
    try:
        return migrate.main(list(args))
    finally:
        database.initialize(handle)


def columns(handle, table: str = "campaigns") -> set[str]:
    return {c.name for c in handle.get_columns(table)}


def indexes(handle, table: str = "campaigns") -> dict[str, list[str]]:
    return {i.name: list(i.columns) for i in handle.get_indexes(table)}


def schema(handle) -> dict:
    tables = ("whatsapp_accounts", "campaigns", "campaign_pause_events")
    return {t: (sorted(columns(handle, t)), indexes(handle, t)) for t in tables}


def laravel_row(handle) -> tuple:
    cursor = handle.execute_sql(
        "SELECT workspace_id, whatsapp_account_id, name, status FROM campaigns")
    return tuple(cursor.fetchone())


def test_migrating_twice_changes_nothing_the_second_time(empty_db, capsys):
    assert run_migrate() == 0
    assert "applied: 0001_create_base_tables" in capsys.readouterr().out
    before = schema(empty_db)

    assert run_migrate() == 0

    assert "nothing to do" in capsys.readouterr().out
    assert schema(empty_db) == before and pending(empty_db) == []


def test_migration_adds_the_conflict_columns_and_indexes_to_an_existing_laravel_table(
        laravel_db):
    assert run_migrate() == 0

    assert columns(laravel_db) == LARAVEL_COLUMNS | CONFLICT_COLUMNS
    assert CONTRACT_INDEXES.items() <= indexes(laravel_db).items()
    assert laravel_row(laravel_db) == (1, 1, "Black Friday", "completed")
    kept = Campaign.get(Campaign.name == "Black Friday")
    assert (kept.pause_count, kept.paused_at, kept.pause_reason) == (0, None, None)


def test_rolling_back_removes_the_conflict_columns_and_keeps_the_rest_and_the_data(
        laravel_db, capsys):
    assert run_migrate() == 0

    assert run_migrate("--down") == 0

    assert "rolled back: " in capsys.readouterr().out
    assert columns(laravel_db) == LARAVEL_COLUMNS
    assert not set(CONTRACT_INDEXES) & set(indexes(laravel_db))
    assert laravel_row(laravel_db) == (1, 1, "Black Friday", "completed")


def test_migrating_again_after_a_roll_back_restores_the_columns(laravel_db, capsys):
    assert run_migrate() == 0 and run_migrate("--down") == 0

    assert run_migrate() == 0

    assert columns(laravel_db) == LARAVEL_COLUMNS | CONFLICT_COLUMNS
    assert CONTRACT_INDEXES.items() <= indexes(laravel_db).items()


def test_rolling_back_an_unmigrated_database_does_nothing(laravel_db, capsys):
    assert run_migrate("--down") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert columns(laravel_db) == LARAVEL_COLUMNS


def test_rows_inserted_with_plain_sql_get_the_defaults_and_can_be_paused(migrated):
    migrated.execute_sql("INSERT INTO whatsapp_accounts (workspace_id, session_id, tier) "
                         "VALUES (5, 'plain', 2)")
    account = WhatsappAccount.get(WhatsappAccount.session_id == "plain")
    migrated.execute_sql(
        "INSERT INTO campaigns (workspace_id, whatsapp_account_id, name, status) "
        f"VALUES (5, {account.id}, 'From Laravel', 'ongoing')")
    campaign = Campaign.get(Campaign.name == "From Laravel")
    assert (campaign.pause_count, campaign.paused_at, campaign.paused_by_session,
            campaign.held_until) == (0, None, None, None)

    pause_session(Settings(), 5, "plain", now=T, last_activity_ms=None)

    paused = Campaign.get_by_id(campaign.id)
    assert (paused.status, paused.pause_count, paused.paused_by_session) \
        == ("paused_mobile", 1, "plain")


def test_timestamps_keep_microseconds_on_every_database(migrated):
    account = WhatsappAccount.create(workspace_id=5, session_id="s1", tier=1)
    campaign = Campaign.create(workspace_id=5, whatsapp_account_id=account.id, name="c",
                               status="ongoing")

    pause_session(Settings(), 5, "s1", now=T, last_activity_ms=None)
    Campaign.update(auto_resume_at=T).execute()

    stored = Campaign.get_by_id(campaign.id)
    assert stored.paused_at == T and stored.auto_resume_at == T
    assert CampaignPauseEvent.get().occurred_at == T
