"""The pause and resume queries reach only their own session's campaigns, on every backend.

Each test asks the database for its plan (EXPLAIN) of the exact query the domain runs, over a
workspace busy enough that a worse plan would look attractive: thousands of ongoing and paused
campaigns in other sessions of the same workspace, with statistics gathered. A plan through
idx_campaigns_workspace_status would read every ongoing campaign of the workspace on each
pause; one through idx_campaigns_status_paused every paused campaign of every workspace on
each resume check.
"""

from __future__ import annotations

import pytest
from peewee import MySQLDatabase, PostgresqlDatabase, SqliteDatabase

from models import statements as sql
from models.conflict import session_accounts
from models.db import utcnow
from models.statements import accounts_of, pausable_of, paused_of
from models.tables import ONGOING, PAUSED_MOBILE, Campaign, WhatsappAccount

SESSIONS = 600
BUSY_WORKSPACE = 1
SESSION_INDEX = "idx_whatsapp_accounts_session"
CAMPAIGN_INDEX = "idx_campaigns_account_status"
WRONG_INDEXES = ("idx_campaigns_workspace_status", "idx_campaigns_status_paused")


@pytest.fixture
def busy(db):
    """A workspace of SESSIONS sessions with two ongoing and two paused campaigns each, and a
    second workspace like it; statistics gathered as a live database would have them."""
    now = utcnow()
    for workspace in (BUSY_WORKSPACE, 2):
        WhatsappAccount.insert_many([
            {"workspace_id": workspace, "session_id": f"s{i}", "tier": 1 + i % 4}
            for i in range(SESSIONS)
        ]).execute()
    accounts = WhatsappAccount.select(WhatsappAccount.id, WhatsappAccount.workspace_id)
    rows = [{"workspace_id": a.workspace_id, "whatsapp_account_id": a.id, "name": "c",
             "status": status, "paused_at": now if status == PAUSED_MOBILE else None}
            for a in accounts for status in (ONGOING, ONGOING, PAUSED_MOBILE, PAUSED_MOBILE)]
    with db.atomic():
        for i in range(0, len(rows), 200):
            Campaign.insert_many(rows[i:i + 200]).execute()
    _analyze(db)
    return db


def _analyze(db) -> None:
    # SQLite is left without statistics, as most SQLite files live: its planner then goes by
    # the shape of the query alone, which is what must be right.
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("ANALYZE whatsapp_accounts")
        db.execute_sql("ANALYZE campaigns")
    elif isinstance(db, MySQLDatabase):
        db.execute_sql("ANALYZE TABLE whatsapp_accounts, campaigns").fetchall()


def plan(db, query) -> str:
    """The backend's plan for `query` (a Peewee query or a compiled statement) as one
    lower-case string: SQLite's and PostgreSQL's plan text; for MySQL/MariaDB each row's
    access type, chosen key and notes (not the possible_keys it considered)."""
    sql, params = query if isinstance(query, tuple) else query.sql()
    if isinstance(db, SqliteDatabase):
        rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(row[-1]) for row in rows).lower()
    cursor = db.execute_sql("EXPLAIN " + sql, params)
    rows = cursor.fetchall()
    if isinstance(db, MySQLDatabase):
        names = [c[0].lower() for c in cursor.description]
        rows = [[row[names.index(c)] for c in ("table", "type", "key", "extra")] for row in rows]
    return "\n".join(" ".join(str(v) for v in row) for row in rows).lower()


def assert_reaches_only_the_session(text: str, index: str) -> None:
    assert index in text, text
    for wrong in WRONG_INDEXES:
        assert wrong not in text, text
    for full_scan in ("scan t1", "scan campaigns", "seq scan", " all "):  # SQLite, PG, MySQL
        assert full_scan not in text, text


def test_a_session_id_is_looked_up_through_the_session_index(busy):
    assert_reaches_only_the_session(plan(busy, accounts_of(BUSY_WORKSPACE, "s7")), SESSION_INDEX)


def test_the_pause_query_reads_only_the_sessions_campaigns(busy):
    accounts = list(session_accounts(BUSY_WORKSPACE, "s7"))
    assert_reaches_only_the_session(plan(busy, pausable_of(BUSY_WORKSPACE, accounts)),
                                    CAMPAIGN_INDEX)


def test_the_resume_query_reads_only_the_sessions_campaigns(busy):
    accounts = list(session_accounts(BUSY_WORKSPACE, "s7"))
    assert_reaches_only_the_session(plan(busy, paused_of(BUSY_WORKSPACE, accounts)),
                                    CAMPAIGN_INDEX)


NEW_WORKSPACE = 3


@pytest.fixture
def unseen(busy):
    """A workspace created after the statistics were gathered: thousands of ongoing and paused
    campaigns the planner knows nothing of, which it would estimate at a row or two. (SQLite
    here has no statistics at all, and MariaDB may count the rows in the index itself: there
    the test holds for the same reason as the `busy` ones.)"""
    WhatsappAccount.insert_many([
        {"workspace_id": NEW_WORKSPACE, "session_id": f"s{i}", "tier": 4} for i in range(SESSIONS)
    ]).execute()
    accounts = WhatsappAccount.select(WhatsappAccount.id).where(
        WhatsappAccount.workspace_id == NEW_WORKSPACE)
    now = utcnow()
    rows = [{"workspace_id": NEW_WORKSPACE, "whatsapp_account_id": a.id, "name": "c",
             "status": status, "paused_at": now if status == PAUSED_MOBILE else None}
            for a in accounts for status in (ONGOING, ONGOING, PAUSED_MOBILE, PAUSED_MOBILE)]
    with busy.atomic():
        for i in range(0, len(rows), 200):
            Campaign.insert_many(rows[i:i + 200]).execute()
    return busy


@pytest.mark.parametrize("query", [pausable_of, paused_of])
def test_a_workspace_newer_than_the_statistics_is_still_reached_by_its_session(unseen, query):
    accounts = list(session_accounts(NEW_WORKSPACE, "s7"))
    assert_reaches_only_the_session(plan(unseen, query(NEW_WORKSPACE, accounts)),
                                    CAMPAIGN_INDEX)


def test_the_queries_find_the_sessions_campaigns(busy):
    accounts = list(session_accounts(BUSY_WORKSPACE, "s7"))
    assert len(list(pausable_of(BUSY_WORKSPACE, accounts))) == 4
    assert len(list(paused_of(BUSY_WORKSPACE, accounts))) == 2


def test_the_pause_and_resume_updates_reach_their_campaigns_by_primary_key(busy):
    accounts = list(session_accounts(BUSY_WORKSPACE, "s7"))
    ids = [c.id for c in pausable_of(BUSY_WORKSPACE, accounts) if c.status == "ongoing"]
    for statement in (sql.pause(ids, "s7", utcnow()), sql.resume(ids, utcnow())):
        text = plan(busy, statement)
        assert any(key in text for key in ("primary key", "pkey", "primary")), text
        for wrong in WRONG_INDEXES:
            assert wrong not in text, text
