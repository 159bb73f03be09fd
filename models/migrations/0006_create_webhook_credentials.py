"""webhook_credentials: per-workspace webhook credentials, issued by scripts.credentials.

A row never holds a usable credential: a token's SHA-256, or the random salt that a signing key
is derived from with WEBHOOK_CREDENTIALS_KEY (docs/credentials.md). The webhook finds a
workspace's rows, or a token's row, through one index each. The model is a frozen copy,
independent of models/tables.py.
"""

from peewee import AutoField, BigIntegerField, CharField, Model

from models.db import PreciseDateTimeField

TABLE = "webhook_credentials"
INDEXES = {"idx_webhook_credentials_workspace": (("workspace_id",), False),
           "idx_webhook_credentials_token": (("token_sha256",), True)}


def _table(db):
    class WebhookCredential(Model):
        id = AutoField()
        workspace_id = BigIntegerField()
        kind = CharField(max_length=16)
        token_sha256 = CharField(max_length=64, null=True)
        key_salt = CharField(max_length=64, null=True)
        created_at = PreciseDateTimeField()
        revoked_at = PreciseDateTimeField(null=True)

        class Meta:
            database = db
            table_name = TABLE

    return WebhookCredential


def up(migrator, db):
    db.create_tables([_table(db)], safe=True)
    present = {i.name for i in db.get_indexes(TABLE)}
    for name, (columns, unique) in INDEXES.items():
        if name not in present:
            migrator.migrate(migrator.add_index(TABLE, columns, unique=unique, name=name))


def down(migrator, db):
    db.drop_tables([_table(db)], safe=True)
