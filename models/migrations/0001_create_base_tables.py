"""Create whatsapp_accounts, campaigns and campaign_pause_events where they are absent.

Tables that already exist (an existing Laravel database) are left as they are; the models are
frozen copies, independent of models/tables.py, so later changes there never rewrite history.
"""

from peewee import SQL, AutoField, BigIntegerField, CharField, IntegerField, Model

from models.db import PreciseDateTimeField


def _tables(db):
    class Base(Model):
        class Meta:
            database = db

    class WhatsappAccount(Base):
        id = AutoField()
        workspace_id = BigIntegerField()
        session_id = CharField(max_length=255)
        tier = IntegerField(default=1, constraints=[SQL("DEFAULT 1")])

        class Meta:
            table_name = "whatsapp_accounts"

    class Campaign(Base):
        id = AutoField()
        workspace_id = BigIntegerField()
        whatsapp_account_id = BigIntegerField()
        name = CharField(max_length=255)
        status = CharField(max_length=32)
        completed_at = PreciseDateTimeField(null=True)

        class Meta:
            table_name = "campaigns"

    class CampaignPauseEvent(Base):
        id = AutoField()
        workspace_id = BigIntegerField()
        campaign_id = BigIntegerField()
        session_id = CharField(max_length=255)
        event = CharField(max_length=16)
        reason = CharField(max_length=100)
        occurred_at = PreciseDateTimeField()
        pause_duration_ms = BigIntegerField(null=True)
        attempt = IntegerField(null=True)

        class Meta:
            table_name = "campaign_pause_events"

    return [WhatsappAccount, Campaign, CampaignPauseEvent]


def up(migrator, db):
    db.create_tables(_tables(db), safe=True)


def down(migrator, db):
    raise RuntimeError(
        "0001_create_base_tables is not reversible: it may have found tables another program "
        "owns. Use --down to roll back the conflict columns only."
    )
