"""campaigns.held_until: the end of an operator's hold, kept in the database so that a Redis
restarted empty cannot end a hold early. Nullable: rows other programs insert have no hold.
"""

from models.db import PreciseDateTimeField

TABLE = "campaigns"
COLUMN = "held_until"


def up(migrator, db):
    if COLUMN not in {c.name for c in db.get_columns(TABLE)}:
        migrator.migrate(migrator.add_column(TABLE, COLUMN, PreciseDateTimeField(null=True)))


def down(migrator, db):
    if COLUMN in {c.name for c in db.get_columns(TABLE)}:
        migrator.migrate(migrator.drop_column(TABLE, COLUMN))
