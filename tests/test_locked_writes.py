"""write_locked: rows read under the write lock, the plan's statements written for exactly
those rows, in one transaction, on every backend."""

import threading
import time
from dataclasses import dataclass

import pytest
from peewee import DatabaseError, OperationalError

from models import statements as sql
from models.db import compiled, database, execute_all, locking, write_locked
from models.tables import Campaign


@dataclass
class Writes:
    statements: list
    planned_from: list


def ongoing():
    return compiled(locking(Campaign.select(Campaign.id).where(Campaign.status == "ongoing")))


def complete_these(calls, also=None):
    def plan(rows):
        ids = sorted(row[0] for row in rows)
        calls.append(ids)
        if also:
            also()
        update = Campaign.update(status="completed").where(Campaign.id.in_(ids))
        return Writes([compiled(update)] if ids else [], ids)

    return plan


def statuses(campaigns):
    return [Campaign.get_by_id(c.id).status for c in campaigns]


def test_a_locked_write_writes_its_plan_for_the_rows_it_read(db, account_factory):
    _, campaigns = account_factory(1, "s1", campaigns=("ongoing", "ongoing", "paused"))
    calls = []

    written = write_locked(ongoing(), complete_these(calls))

    assert calls == [[campaigns[0].id, campaigns[1].id]]
    assert written.planned_from == calls[0]
    assert statuses(campaigns) == ["completed", "completed", "paused"]


def test_a_second_writer_of_the_same_rows_plans_from_what_the_first_committed(
        db, account_factory):
    account, campaigns = account_factory(1, "s1", campaigns=("ongoing", "ongoing"))
    first_calls, second_calls, started = [], [], threading.Event()

    def session_ongoing():  # the pause's own read, as the worker runs it
        return sql.pausable(1, [account.id])

    refused = []

    def second_writer():
        with database.connection_context():
            started.set()
            try:
                write_locked(session_ongoing(), complete_these(second_calls))
            except OperationalError as exc:  # MariaDB: InnoDB may call the wait a deadlock
                refused.append(exc)

    other = threading.Thread(target=second_writer)

    def start_the_other_while_holding_the_lock():
        other.start()
        started.wait(5)
        time.sleep(0.3)  # time for it to reach its read: it must wait there for our commit

    write_locked(session_ongoing(),
                 complete_these(first_calls, start_the_other_while_holding_the_lock))
    other.join(10)

    assert first_calls == [[c.id for c in campaigns]]
    # It waited for the lock, then found nothing ongoing; or, refused with a deadlock, it
    # wrote nothing (its actor retries, and then finds nothing ongoing).
    assert second_calls == [[]] or (refused and second_calls == [])
    assert statuses(campaigns) == ["completed", "completed"]


def test_every_statement_of_a_plan_is_written_with_its_own_parameters(db, account_factory):
    _, (a, b, c) = account_factory(1, "s1", campaigns=("ongoing", "ongoing", "ongoing"))

    with database.atomic():
        execute_all([
            compiled(Campaign.update(status="completed").where(Campaign.id == a.id)),
            compiled(Campaign.update(status="paused", name="100% sure; it's").where(
                Campaign.id.in_([b.id, c.id]))),
        ])

    assert statuses([a, b, c]) == ["completed", "paused", "paused"]
    assert Campaign.get_by_id(c.id).name == "100% sure; it's"


def test_a_plan_whose_last_statement_fails_writes_nothing(db, account_factory):
    _, (a,) = account_factory(1, "s1", campaigns=("ongoing",))

    with pytest.raises(DatabaseError):
        write_locked(ongoing(), lambda rows: Writes([
            compiled(Campaign.update(status="completed").where(Campaign.id == a.id)),
            ("UPDATE no_such_table SET x = 1", ()),
        ], []))

    assert statuses([a]) == ["ongoing"]
