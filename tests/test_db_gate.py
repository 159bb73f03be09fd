"""web.db_gate: a web process holds at most a few database connections at once."""

from __future__ import annotations

import threading

import peewee
import pytest

from web.db_gate import DatabaseGate


@pytest.fixture
def gated(tmp_path):
    db = peewee.SqliteDatabase(str(tmp_path / "gate.db"))
    DatabaseGate(db, size=1, wait=0.2)
    yield db
    if not db.is_closed():
        db.close()


def test_a_connection_takes_a_slot_until_it_is_closed(gated):
    gated.execute_sql("SELECT 1")  # Peewee's autoconnect goes through the gate too
    seen = []
    other = threading.Thread(target=lambda: seen.append(_try_query(gated)))
    other.start()
    other.join()
    assert seen == ["all database connections of this web process stayed in use for 0.2 s"]

    gated.close()
    other = threading.Thread(target=lambda: seen.append(_try_query(gated)))
    other.start()
    other.join()
    assert seen[-1] == "ok"


def test_a_close_refused_inside_a_transaction_keeps_its_slot(gated):
    with gated.atomic():
        with pytest.raises(peewee.OperationalError):
            gated.close()
        gated.execute_sql("SELECT 1")
    gated.close()
    gated.connect()  # the one slot was given back exactly once
    gated.close()


def _try_query(db) -> str:
    try:
        db.execute_sql("SELECT 1")
    except peewee.OperationalError as exc:
        return str(exc)
    db.close()
    return "ok"
