"""write_planned: statements planned outside the write lock, written only for the rows the
lock then finds, on every backend."""

import threading
from dataclasses import dataclass

from models.db import compiled, database, locking, write_planned
from models.tables import Campaign


@dataclass
class Writes:
    statements: list
    planned_from: list


def another_worker(change):
    """Run `change` on another thread, so on a connection of its own, and wait for it."""
    def run():
        with database.connection_context():
            change()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def statuses(campaigns):
    return [Campaign.get_by_id(c.id).status for c in campaigns]


def complete_these(change_first=None):
    calls = []

    def plan(rows):
        ids = sorted(cid for cid, in rows)
        calls.append(ids)
        if change_first and len(calls) == 1:
            another_worker(change_first)
        update = Campaign.update(status="completed").where(Campaign.id.in_(ids))
        return Writes([compiled(update)] if ids else [], ids)

    return plan, calls


def ongoing():
    return Campaign.select(Campaign.id).where(Campaign.status == "ongoing")


def test_a_planned_write_runs_its_plan_once_when_nothing_changed(db, account_factory):
    _, campaigns = account_factory(1, "s1", campaigns=("ongoing", "ongoing", "paused"))
    plan, calls = complete_these()

    written = write_planned(compiled(ongoing()), compiled(locking(ongoing())), plan)

    assert calls == [[campaigns[0].id, campaigns[1].id]]
    assert written.planned_from == calls[0]
    assert statuses(campaigns) == ["completed", "completed", "paused"]


def test_a_planned_write_is_planned_again_when_another_worker_changed_its_rows_first(
        db, account_factory):
    _, campaigns = account_factory(1, "s1", campaigns=("ongoing", "ongoing"))
    first, second = campaigns
    plan, calls = complete_these(
        change_first=lambda: Campaign.update(status="paused").where(
            Campaign.id == first.id).execute())

    written = write_planned(compiled(ongoing()), compiled(locking(ongoing())), plan)

    assert calls == [[first.id, second.id], [second.id]]
    assert written.planned_from == [second.id]
    assert statuses(campaigns) == ["paused", "completed"]


def test_a_planned_write_takes_rows_that_appeared_before_the_lock(db, account_factory):
    account, campaigns = account_factory(1, "s1", campaigns=("ongoing",))
    plan, calls = complete_these(
        change_first=lambda: Campaign.create(workspace_id=1, whatsapp_account_id=account.id,
                                             name="late", status="ongoing"))

    write_planned(compiled(ongoing()), compiled(locking(ongoing())), plan)

    assert len(calls) == 2 and len(calls[1]) == 2
    assert Campaign.select().where(Campaign.status == "completed").count() == 2
