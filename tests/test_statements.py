"""Every shaped statement, reused from its shape's cached SQL, is what Peewee itself compiles
for the same arguments, on every backend: the parameters a caller lists cannot drift from
the SQL."""

import datetime as dt

import pytest

from models import db as db_module
from models import statements as sql

EARLIER = dt.datetime(2026, 1, 2, 3, 4, 5, 600000)
LATER = dt.datetime(2026, 7, 8, 9, 10, 11, 120000)

# Each statement with two sets of arguments of the same shape.
CASES = {
    "accounts": (lambda: sql.accounts(1, "first"), lambda: sql.accounts(2, "second")),
    "pausable": (lambda: sql.pausable(1, [10, 11]), lambda: sql.pausable(2, [20, 21])),
    "paused": (lambda: sql.paused(1, [10]), lambda: sql.paused(2, [20])),
    "paused locked": (lambda: sql.paused(1, [10, 11, 12], locked=True),
                      lambda: sql.paused(2, [20, 21, 22], locked=True)),
    "pause": (lambda: sql.pause([1, 2, 3], "first", EARLIER),
              lambda: sql.pause([4, 5, 6], "second", LATER)),
    "pause on hold": (
        lambda: sql.pause([1, 2], "first", EARLIER, reason="hold", held_until=LATER),
        lambda: sql.pause([3, 4], "second", LATER, reason="hold", held_until=EARLIER)),
    "hold": (lambda: sql.hold([1], EARLIER), lambda: sql.hold([2], LATER)),
    "pause time": (lambda: sql.pause_time(1), lambda: sql.pause_time(2)),
    "resume": (lambda: sql.resume([1], EARLIER), lambda: sql.resume([7], LATER)),
    "audit of a pause": (lambda: sql.audit([1, 2], "paused", 1, "first", EARLIER),
                         lambda: sql.audit([3, 4], "paused", 2, "second", LATER)),
    "audit of a resume": (
        lambda: sql.audit([1], "resumed", 1, "first", EARLIER, {1: 500}, attempt=1),
        lambda: sql.audit([2], "resumed", 2, "second", LATER, {2: 900}, attempt=5)),
    "audit of a resume with a reason per campaign": (
        lambda: sql.audit([1, 2], "resumed", 1, "first", EARLIER,
                          reasons={1: "quiet", 2: "forced"}),
        lambda: sql.audit([3, 4], "resumed", 2, "second", LATER,
                          reasons={3: "forced", 4: "quiet"})),
}


@pytest.fixture
def empty_cache():
    db_module._sql_of_shape.clear()
    yield
    db_module._sql_of_shape.clear()


@pytest.mark.parametrize("name", list(CASES))
def test_a_statement_reused_from_its_shape_is_the_one_peewee_compiles(db, empty_cache, name):
    first, second = CASES[name]
    compiled_by_peewee = second()  # the first call of a shape compiles it
    db_module._sql_of_shape.clear()
    first()

    reused = second()

    assert reused == compiled_by_peewee


def test_statements_of_another_shape_get_sql_of_their_own(db, empty_cache):
    one, three = sql.resume([1], EARLIER), sql.resume([1, 2, 3], EARLIER)

    assert one[0].count("?") + one[0].count("%s") == 4
    assert three[0].count("?") + three[0].count("%s") == 6


def test_a_statement_whose_parameters_are_not_peewees_is_refused_on_first_use(db, empty_cache):
    with pytest.raises(ValueError, match="accounts"):
        sql.accounts("1", "s1")  # Peewee binds the workspace id as an integer

