"""Apply or roll back migrations with Peewee's own runner (playhouse.migrations)."""

from pathlib import Path

from playhouse.migrations import Runner

MIGRATIONS = Path(__file__).with_name("migrations")
HISTORY_TABLE = "phoneguard_migrations"
CONFLICT_COLUMNS = "0002_add_mobile_conflict_columns_to_campaigns"


def runner(db) -> Runner:
    return Runner(db, directory=str(MIGRATIONS), table_name=HISTORY_TABLE)


def migrate_up(db) -> list[str]:
    """Apply every pending migration; returns their names (none when up to date)."""
    return runner(db).up()


def migrate_down(db) -> list[str]:
    """Roll back the conflict columns (and anything applied after them)."""
    r = runner(db)
    if CONFLICT_COLUMNS not in r.applied():
        return []
    return r.down(target=CONFLICT_COLUMNS)


def pending(db) -> list[str]:
    return [m.name for m in runner(db).status() if not m.applied and m.path]
