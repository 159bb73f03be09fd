"""The database handle: one proxy that the tables bind to, opened from a Peewee db_url."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

from peewee import (
    Cast,
    DatabaseProxy,
    DateTimeField,
    MySQLDatabase,
    PostgresqlDatabase,
    SqliteDatabase,
)
from playhouse.db_url import connect

from models.errors import ConfigError
from models.urls import redacted

database = DatabaseProxy()

# SQLite is shared by web, worker and clock processes: WAL lets readers run beside the one
# writer, and the busy timeout makes a writer wait for the lock instead of failing at once.
SQLITE_PRAGMAS = {"journal_mode": "wal", "busy_timeout": 5000, "synchronous": "normal"}


def open_database(url: str):
    """Open (lazily: nothing connects until the first query) the database at `url` and bind
    the tables to it."""
    try:
        if url.startswith("sqlite"):
            db = connect(url, pragmas=SQLITE_PRAGMAS)
            if db.database != ":memory:":
                Path(db.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            db = connect(url)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"DATABASE_URL={redacted(url)!r} is not usable: {exc}") from None
    database.initialize(db)
    return db


def utcnow() -> dt.datetime:
    """Naive UTC now, the form every timestamp column stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PreciseDateTimeField(DateTimeField):
    """A naive-UTC timestamp kept to the microsecond on every backend.

    MySQL and MariaDB truncate a plain DATETIME to whole seconds; DATETIME(6) keeps the
    fraction, and the same modifier is valid for PostgreSQL's TIMESTAMP and SQLite.
    """

    def get_modifiers(self):
        return [6]


def write_transaction():
    """A transaction that takes the write lock at its start.

    PostgreSQL and MySQL serialise writers with SELECT ... FOR UPDATE; SQLite ignores FOR
    UPDATE, so there the lock is taken up front (BEGIN IMMEDIATE) instead, which also keeps
    two checks of one session from both reading rows the other is about to change.
    """
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


def locking(query):
    """`query` FOR UPDATE where the backend has it; SQLite holds the write lock already."""
    if isinstance(database.obj, SqliteDatabase):
        return query
    return query.for_update()


def exactly(field, value: str):
    """`field = value`, byte for byte on every backend.

    MySQL's and MariaDB's usual collations ignore case and trailing spaces (`shop-1 ` matches
    `Shop-1`), while the Redis keys built from a session id are exact. There the collated
    comparison stays, so the index on the column still finds the rows, and a binary one keeps
    the exact ones. SQLite and PostgreSQL compare strings exactly already.
    """
    if isinstance(database.obj, MySQLDatabase):
        return (field == value) & (field == Cast(value, "BINARY"))
    return field == value


def exactly_params(value: str) -> tuple:
    """The parameters `exactly(field, value)` binds, in order, for a shaped() statement."""
    return (value, value) if isinstance(database.obj, MySQLDatabase) else (value,)


# A statement compiled to SQL and parameters. Peewee compiles a query on every execute, which
# costs more than running these statements does: shaped() compiles each shape once.
Statement = tuple[str, tuple]


class Plan(Protocol):
    """What write_locked runs: statements made from the rows it read."""

    statements: Sequence[Statement]


P = TypeVar("P", bound=Plan)


def compiled(query) -> Statement:
    """`query` compiled by Peewee now: its SQL and the parameters to bind."""
    sql, params = query.sql()
    return sql, tuple(params)


_sql_of_shape: dict[tuple, str] = {}
# One entry per backend, statement and IN-list length: a handful in practice. The bound only
# keeps sessions of unusual sizes from growing it for ever.
MAX_SHAPES = 512


def shaped(shape: tuple, build: Callable[[], object], params: tuple) -> Statement:
    """The statement `build()` makes, compiled by Peewee once per backend and `shape` (a name
    and whatever changes its SQL text, such as how many ids an IN list has), then its SQL
    reused with `params`, which the caller gives as Peewee would bind them.

    The first call of each shape compares `params` with Peewee's own and refuses a statement
    whose parameters differ (order, type): tests/test_statements.py makes that first call for
    every statement on every backend.
    """
    key = (type(database.obj), *shape)
    sql = _sql_of_shape.get(key)
    if sql is None:
        sql, expected = compiled(build())
        if params != expected:
            raise ValueError(f"statement {shape}: parameters {params!r} are not Peewee's "
                             f"{expected!r}")
        if len(_sql_of_shape) >= MAX_SHAPES:
            _sql_of_shape.clear()
        _sql_of_shape[key] = sql
    return sql, params


def write_locked(locked_read: Statement, plan: Callable[[list[tuple]], P]) -> P:
    """In one transaction: read the rows of `locked_read` under the write lock (FOR UPDATE
    where the backend has it, the whole database on SQLite), run the statements `plan(rows)`
    makes of them, commit. A second writer of the same rows waits for the commit and plans
    from what this one wrote."""
    with write_transaction():
        planned = plan(database.execute_sql(*locked_read).fetchall())
        execute_all(planned.statements)
    return planned


def execute_all(statements: Sequence[Statement]) -> None:
    """Run `statements` in order, in one round trip where the driver allows it.

    psycopg2 sends the query text with the parameters filled in, so PostgreSQL takes several
    statements joined by `;` as one message; pymysql (without CLIENT.MULTI_STATEMENTS), the
    sqlite3 module and psycopg 3 (server-side parameters) take one statement per call.
    """
    if len(statements) > 1 and _several_per_call():
        database.execute_sql("; ".join(sql for sql, _ in statements),
                             tuple(value for _, params in statements for value in params))
        return
    for statement in statements:
        database.execute_sql(*statement)


def _several_per_call() -> bool:
    return (isinstance(database.obj, PostgresqlDatabase)
            and type(database.connection()).__module__.startswith("psycopg2"))
