"""A database where the original design's Laravel migration already ran (issue 12, item 3):
`pause_count` TINYINT UNSIGNED (MySQL/MariaDB) or SMALLINT (PostgreSQL), `paused_at` and
`auto_resume_at` TIMESTAMP of whole seconds. The release migration gives them the contract's
types, reversibly; and a check resumes its campaigns on time whatever the column's precision.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from models import keys
from models.activity import to_ms
from models.conflict import check_resume, pause_session
from models.db import database
from models.schema import migrate_up, runner
from models.tables import Campaign, WhatsappAccount
from tests import servers
from tests.e2e_helpers import start_worker
from tests.stack_helpers import (
    COOLDOWN,
    backend,
    campaigns_of,
    post_phone_message,
    seed,
    statuses,
    wait_until,
)
from tests.test_migrations import LARAVEL_CAMPAIGNS, run_migrate

# What Laravel's schema builder runs for the original design's
# add_mobile_conflict_columns_to_campaigns migration, on each backend.
LARAVEL_CONFLICT_COLUMNS = {
    "sqlite": [
        'alter table "campaigns" add column "paused_at" datetime',
        'alter table "campaigns" add column "pause_reason" varchar',
        'alter table "campaigns" add column "auto_resume_at" datetime',
        'alter table "campaigns" add column "pause_count" integer not null default \'0\'',
        'alter table "campaigns" add column "paused_by_session" varchar',
        'create index "idx_campaigns_status_paused" on "campaigns" ("status", "paused_at")',
        'create index "idx_campaigns_workspace_status" on "campaigns" ("workspace_id", "status")',
    ],
    "postgresql": [
        'alter table "campaigns" add column "paused_at" timestamp(0) without time zone null, '
        'add column "pause_reason" varchar(100) null, add column "auto_resume_at" timestamp(0) '
        'without time zone null, add column "pause_count" smallint not null default \'0\', '
        'add column "paused_by_session" varchar(255) null',
        'create index "idx_campaigns_status_paused" on "campaigns" ("status", "paused_at")',
        'create index "idx_campaigns_workspace_status" on "campaigns" ("workspace_id", "status")',
    ],
    "mysql": [
        "alter table `campaigns` add `paused_at` timestamp null after `completed_at`, add "
        "`pause_reason` varchar(100) null after `paused_at`, add `auto_resume_at` timestamp "
        "null after `pause_reason`, add `pause_count` tinyint unsigned not null default '0' "
        "after `auto_resume_at`, add `paused_by_session` varchar(255) null after `pause_count`",
        "alter table `campaigns` add index `idx_campaigns_status_paused`(`status`, `paused_at`)",
        "alter table `campaigns` add index `idx_campaigns_workspace_status`(`workspace_id`, "
        "`status`)",
    ],
}
# The most pauses the original design's pause_count holds.
NARROW_LIMIT = {"sqlite": 255, "postgresql": 32767, "mysql": 255}
# A pause time whose fraction PostgreSQL rounds up when the column holds whole seconds.
T = dt.datetime(2026, 11, 29, 16, 0, 0, 600000)


@pytest.fixture
def legacy_db(db, database_url, monkeypatch):
    """The test database as the original design left it (Laravel's campaigns table with its
    conflict columns, a paused row, no phoneguard tables); migrated as usual afterwards."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    servers.drop_tables(db)
    for statement in [LARAVEL_CAMPAIGNS[backend(db)], *LARAVEL_CONFLICT_COLUMNS[backend(db)]]:
        db.execute_sql(statement)
    db.execute_sql(
        "INSERT INTO campaigns (workspace_id, whatsapp_account_id, name, status, paused_at, "
        "pause_reason, pause_count) VALUES (1, 900, 'Black Friday', 'paused_mobile', "
        "'2025-11-24 16:00:00', 'mobile_activity', 200)")  # of an account no test creates
    yield db
    database.initialize(db)
    servers.drop_tables(db)
    migrate_up(db)


def column_types(db) -> dict[str, str]:
    """The conflict columns' types as the database describes them, lower case."""
    if backend(db) == "sqlite":
        rows = db.execute_sql("SELECT name, type FROM pragma_table_info('campaigns')")
    elif backend(db) == "postgresql":
        rows = db.execute_sql(
            "SELECT column_name, data_type || coalesce('(' || datetime_precision || ')', '') "
            "FROM information_schema.columns WHERE table_name = 'campaigns' "
            "AND table_schema = current_schema()")
    else:
        rows = db.execute_sql(
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
            "WHERE TABLE_NAME = 'campaigns' AND TABLE_SCHEMA = DATABASE()")
    wanted = ("paused_at", "auto_resume_at", "pause_count")
    return {name: kind.lower() for name, kind in rows if name in wanted}


WIDE = {
    "sqlite": {"paused_at": "datetime", "auto_resume_at": "datetime", "pause_count": "integer"},
    "postgresql": {"paused_at": "timestamp without time zone(6)",
                   "auto_resume_at": "timestamp without time zone(6)",
                   "pause_count": "integer"},
    "mysql": {"paused_at": "datetime(6)", "auto_resume_at": "datetime(6)",
              "pause_count": "int(11)"},
}
NARROW = {
    "sqlite": WIDE["sqlite"],
    "postgresql": {"paused_at": "timestamp without time zone(0)",
                   "auto_resume_at": "timestamp without time zone(0)",
                   "pause_count": "smallint"},
    "mysql": {"paused_at": "timestamp", "auto_resume_at": "timestamp",
              "pause_count": "tinyint(3) unsigned"},
}


def test_the_release_migration_gives_the_original_designs_columns_the_contracts_types(
        legacy_db, settings):
    name = backend(legacy_db)
    assert column_types(legacy_db) == NARROW[name]

    assert run_migrate() == 0

    assert column_types(legacy_db) == WIDE[name]
    kept = Campaign.get(Campaign.name == "Black Friday")
    assert (kept.pause_count, kept.paused_at) == (200, dt.datetime(2025, 11, 24, 16, 0, 0))
    assert run_migrate() == 0 and column_types(legacy_db) == WIDE[name]


def test_a_campaign_pauses_past_the_original_designs_pause_count_limit(legacy_db, settings):
    assert run_migrate() == 0
    limit = NARROW_LIMIT[backend(legacy_db)]
    account = WhatsappAccount.create(workspace_id=1, session_id="s1", tier=1)
    campaign = Campaign.get(Campaign.name == "Black Friday")
    Campaign.update(status="ongoing", pause_count=limit, whatsapp_account_id=account.id) \
        .where(Campaign.id == campaign.id).execute()

    check = pause_session(settings, 1, "s1", now=T, last_activity_ms=None).next_check
    check_resume(settings, check, now=T + dt.timedelta(seconds=60), last_activity_ms=None)
    pause_session(settings, 1, "s1", now=T + dt.timedelta(seconds=61), last_activity_ms=None)

    paused = Campaign.get_by_id(campaign.id)
    assert (paused.status, paused.pause_count) == ("paused_mobile", limit + 2)
    assert paused.paused_at == T + dt.timedelta(seconds=61)


def test_rolling_the_migration_back_puts_back_the_original_designs_types(legacy_db):
    name = backend(legacy_db)
    assert run_migrate() == 0
    Campaign.update(pause_count=NARROW_LIMIT[name] + 40).execute()

    rolled_back = runner(legacy_db).down()

    assert rolled_back == ["0007_widen_legacy_conflict_columns"]
    assert column_types(legacy_db) == NARROW[name]
    # The narrow type holds at most its limit; the rest of the row is as it was.
    kept = Campaign.get(Campaign.name == "Black Friday")
    expected = NARROW_LIMIT[name] + (40 if name == "sqlite" else 0)
    assert (kept.pause_count, kept.status) == (expected, "paused_mobile")
    assert run_migrate() == 0 and column_types(legacy_db) == WIDE[name]


def test_a_fresh_database_is_left_as_it_is(db):
    fresh = {**WIDE[backend(db)]}
    if backend(db) == "sqlite":  # as Peewee declares a PreciseDateTimeField
        fresh.update(paused_at="datetime(6)", auto_resume_at="datetime(6)")

    assert not db.table_exists("phoneguard_widened_columns")
    assert column_types(db) == fresh


@pytest.mark.processes
def test_the_pause_after_the_original_designs_limit_lands_through_the_processes(
        legacy_db, backend_stack):
    limit = NARROW_LIMIT[backend(legacy_db)]
    stack = backend_stack()  # its release migration widens the columns
    account = seed(1, "legacy", count=2)
    Campaign.update(pause_count=limit).where(Campaign.whatsapp_account_id == account.id) \
        .execute()
    stack.start("web")
    start_worker(stack)

    assert post_phone_message(stack, 1, "legacy")[0] == 200

    wait_until(stack, lambda: [c.pause_count for c in campaigns_of(account)] == [limit + 1] * 2,
               15, f"pause number {limit + 1}")
    assert "gave up" not in stack.log_path("worker").read_text()


# -- the "paused at or before" rule on a column of whole seconds -----------------------------

@pytest.fixture
def whole_seconds(db):
    """campaigns.paused_at narrowed to whole seconds, as a DBA or the original design has it;
    widened again afterwards. SQLite stores the text it is given: no such column there."""
    name = backend(db)
    if name == "sqlite":
        pytest.skip("SQLite has no column precision")
    narrow, wide = {"postgresql": ("timestamp(0)", "timestamp(6)"),
                    "mysql": ("timestamp null", "datetime(6) null")}[name]
    alter = ("ALTER TABLE campaigns ALTER COLUMN paused_at TYPE {}" if name == "postgresql"
             else "ALTER TABLE campaigns MODIFY paused_at {}")
    db.execute_sql(alter.format(narrow))
    yield db
    db.execute_sql(alter.format(wide))


def test_a_check_resumes_its_campaigns_on_time_on_a_column_of_whole_seconds(
        whole_seconds, settings, account_factory):
    _, made = account_factory(1, "s1", tier=4, campaigns=("ongoing", "ongoing"))
    check = pause_session(settings, 1, "s1", now=T, last_activity_ms=to_ms(T)).next_check

    outcome = check_resume(settings, check, now=T + dt.timedelta(seconds=20),
                           last_activity_ms=to_ms(T))

    assert sorted(outcome.campaign_ids) == [c.id for c in made]


@pytest.mark.processes
def test_every_check_resumes_on_time_through_the_processes_on_a_column_of_whole_seconds(
        whole_seconds, backend_stack):
    sessions = [f"s{n}" for n in range(8)]
    accounts = [seed(1, sid) for sid in sessions]
    stack = backend_stack()
    stack.start("web")  # no clock: only the checks themselves can resume
    start_worker(stack)

    for sid in sessions:  # spread over a second, so that the fractions differ
        assert post_phone_message(stack, 1, sid)[0] == 200
        time.sleep(0.13)

    late = []
    for account in accounts:
        wait_until(stack, lambda a=account: statuses(a) == ["ongoing", "ongoing"]
                   and all(c.pause_count == 1 for c in campaigns_of(a)), COOLDOWN + 10,
                   f"session {account.session_id} resumed by its own check")
        typed = int(stack.redis_client().hget(keys.activity(1, account.session_id),
                                              "last_activity_ms"))
        late += [to_ms(c.auto_resume_at) - typed - COOLDOWN * 1000 for c in campaigns_of(account)]
    print(f"\n[{backend(whole_seconds)}] paused_at of whole seconds: {len(late)} campaigns "
          f"resumed {min(late)}-{max(late)} ms after due, by their own checks")
