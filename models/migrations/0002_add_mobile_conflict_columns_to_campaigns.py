"""The original design's add_mobile_conflict_columns_to_campaigns, made idempotent.

Every step looks at the live schema first, so it applies cleanly to a campaigns table that
already has some of the columns (MySQL commits each DDL statement on its own, so a half-run
migration is possible there) and can be run again.
"""

from peewee import CharField

from models.db import PreciseDateTimeField

TABLE = "campaigns"
COLUMNS = {
    "paused_at": lambda: PreciseDateTimeField(null=True),
    "pause_reason": lambda: CharField(max_length=100, null=True),
    "auto_resume_at": lambda: PreciseDateTimeField(null=True),
    "paused_by_session": lambda: CharField(max_length=255, null=True),
}
# Peewee's add_column fills a NOT NULL column's default with an UPDATE and then drops it
# (on MySQL at least); the contract wants the default in the database itself, for rows that
# other programs insert with plain SQL. This statement is valid on all three backends.
PAUSE_COUNT = "ALTER TABLE campaigns ADD COLUMN pause_count INTEGER NOT NULL DEFAULT 0"
INDEXES = {
    "idx_campaigns_status_paused": ("status", "paused_at"),
    "idx_campaigns_workspace_status": ("workspace_id", "status"),
}


def up(migrator, db):
    present = {c.name for c in db.get_columns(TABLE)}
    for name, field in COLUMNS.items():
        if name not in present:
            migrator.migrate(migrator.add_column(TABLE, name, field()))
    if "pause_count" not in present:
        migrator.migrate(migrator.sql(PAUSE_COUNT))
    indexes = {i.name for i in db.get_indexes(TABLE)}
    for name, columns in INDEXES.items():
        if name not in indexes:
            migrator.migrate(migrator.add_index(TABLE, columns, name=name))


def down(migrator, db):
    indexes = {i.name for i in db.get_indexes(TABLE)}
    for name in INDEXES:
        if name in indexes:
            migrator.migrate(migrator.drop_index(TABLE, name))
    present = {c.name for c in db.get_columns(TABLE)}
    for name in [*COLUMNS, "pause_count"]:
        if name in present:
            migrator.migrate(migrator.drop_column(TABLE, name))
