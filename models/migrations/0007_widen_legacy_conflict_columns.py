"""Give the conflict columns that the original design's Laravel migration made the contract's
types; down() puts back exactly what was there.

Where that migration ran, `pause_count` is TINYINT UNSIGNED on MySQL/MariaDB (the 256th
pause of a campaign is out of range) or SMALLINT on PostgreSQL, and `paused_at`,
`auto_resume_at` are TIMESTAMP of whole seconds. They become what 0002 creates:
`pause_count` INTEGER NOT NULL DEFAULT 0, timestamps with microseconds (DATETIME(6) on
MySQL/MariaDB, TIMESTAMP(6) on PostgreSQL). Columns that are already so are left alone, and so
is SQLite, whose declared types are only affinities: a `datetime` column keeps the microseconds
Peewee writes and an `integer` one holds 64 bits.

Each column changed is written down, with its definition before, in phoneguard_widened_columns
for down(). MySQL converts a TIMESTAMP to DATETIME in the session's time zone, the one
phoneguard's own connections read and write it in, so the values it reads stay the same.
"""

from peewee import (
    SQL,
    BigIntegerField,
    CharField,
    IntegerField,
    Model,
    MySQLDatabase,
    PostgresqlDatabase,
)

from models.db import PreciseDateTimeField

TABLE = "campaigns"
TIMESTAMPS = ("paused_at", "auto_resume_at")
COUNT = "pause_count"
WIDE = {
    COUNT: lambda: IntegerField(default=0, constraints=[SQL("DEFAULT 0")]),
    "paused_at": lambda: PreciseDateTimeField(null=True),
    "auto_resume_at": lambda: PreciseDateTimeField(null=True),
}
# The largest value each narrow integer type holds, for rolling back counts that outgrew it.
LIMITS = {("tinyint", True): 255, ("tinyint", False): 127, ("smallint", True): 65535,
          ("smallint", False): 32767, ("mediumint", True): 16777215,
          ("mediumint", False): 8388607}


def _record(db):
    class WidenedColumn(Model):
        column_name = CharField(max_length=64, primary_key=True)
        definition = CharField(max_length=255)
        max_value = BigIntegerField(null=True)

        class Meta:
            database = db
            table_name = "phoneguard_widened_columns"

    return WidenedColumn


def up(migrator, db):
    narrow = _narrow_columns(db)
    if not narrow:
        return
    record = _record(db)
    record.create_table(safe=True)
    for name, (definition, max_value) in narrow.items():
        record.insert(column_name=name, definition=definition, max_value=max_value) \
            .on_conflict_ignore().execute()
        migrator.migrate(migrator.alter_column_type(TABLE, name, WIDE[name]()))


def down(migrator, db):
    record = _record(db)
    if not record.table_exists():
        return
    for row in record.select():
        if row.max_value is not None:
            # The narrow type cannot hold a larger count: the most it can hold is kept.
            migrator.migrate(migrator.sql(
                f"UPDATE {TABLE} SET {COUNT} = %d WHERE {COUNT} > %d"
                % (row.max_value, row.max_value)))
        migrator.migrate(migrator.sql(_restore(db, row.column_name, row.definition)))
    record.drop_table()


def _narrow_columns(db) -> dict[str, tuple[str, int | None]]:
    """{column: (its definition now, the largest count it holds)} of the columns to widen."""
    if isinstance(db, PostgresqlDatabase):
        return _narrow_postgresql(db)
    if isinstance(db, MySQLDatabase):
        return _narrow_mysql(db)
    return {}


def _narrow_postgresql(db):
    rows = db.execute_sql(
        "SELECT column_name, data_type, datetime_precision FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s", (TABLE,)).fetchall()
    narrow = {}
    for name, data_type, precision in rows:
        if name == COUNT and data_type == "smallint":
            narrow[name] = ("smallint", LIMITS[("smallint", False)])
        elif (name in TIMESTAMPS and data_type == "timestamp without time zone"
              and precision is not None and precision < 6):
            narrow[name] = (f"timestamp({precision}) without time zone", None)
    return narrow


def _narrow_mysql(db):
    rows = db.execute_sql(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, DATETIME_PRECISION, IS_NULLABLE, "
        "COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s", (TABLE,)).fetchall()
    narrow = {}
    for name, data_type, column_type, precision, nullable, default in rows:
        data_type, column_type = data_type.lower(), column_type.lower()
        if name == COUNT and (data_type, "unsigned" in column_type) in LIMITS:
            limit = LIMITS[(data_type, "unsigned" in column_type)]
        elif name in TIMESTAMPS and data_type in ("timestamp", "datetime") and (precision or 0) < 6:
            limit = None
        else:
            continue
        null = " NULL" if nullable == "YES" else " NOT NULL"
        # MariaDB reports a NULL default as the text NULL, MySQL as no value.
        default = "" if default is None or default == "NULL" else f" DEFAULT {default}"
        narrow[name] = (f"{column_type}{null}{default}", limit)
    return narrow


def _restore(db, name: str, definition: str) -> str:
    if isinstance(db, MySQLDatabase):
        return f"ALTER TABLE {TABLE} MODIFY {name} {definition}"
    return f"ALTER TABLE {TABLE} ALTER COLUMN {name} TYPE {definition}"
