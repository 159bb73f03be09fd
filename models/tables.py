"""Peewee tables, with Laravel's names so that an existing campaigns database works as is."""

from peewee import SQL, AutoField, BigIntegerField, CharField, IntegerField, Model

from models.db import PreciseDateTimeField, database

ONGOING = "ongoing"
PAUSED_MOBILE = "paused_mobile"

REASON_MOBILE = "mobile_activity"
REASON_HOLD = "hold"

# Why a campaign resumed, as the audit trail and the events say it.
RESUMED_QUIET = "quiet"  # the phone was quiet for the cooldown
RESUMED_FORCED = "forced"  # the last attempt resumes whatever it finds
RESUMED_MANUALLY = "manual_resume"  # an operator's "resume now"

PAUSE_EVENT = "paused"
RESUME_EVENT = "resumed"


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class WhatsappAccount(BaseModel):
    id = AutoField()
    workspace_id = BigIntegerField()
    session_id = CharField(max_length=255)
    tier = IntegerField(default=1, constraints=[SQL("DEFAULT 1")])

    class Meta:
        table_name = "whatsapp_accounts"


class Campaign(BaseModel):
    id = AutoField()
    workspace_id = BigIntegerField()
    whatsapp_account_id = BigIntegerField()
    name = CharField(max_length=255)
    status = CharField(max_length=32)
    completed_at = PreciseDateTimeField(null=True)
    paused_at = PreciseDateTimeField(null=True)
    pause_reason = CharField(max_length=100, null=True)
    auto_resume_at = PreciseDateTimeField(null=True)
    pause_count = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    paused_by_session = CharField(max_length=255, null=True)
    held_until = PreciseDateTimeField(null=True)  # an operator's hold ends then

    class Meta:
        table_name = "campaigns"


class CampaignPauseEvent(BaseModel):
    """The audit trail: one row per pause and per resume; statistics are computed from it."""

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


class WebhookCredential(BaseModel):
    """A webhook credential of one workspace; never the credential itself (docs/credentials.md):
    a token's SHA-256, or the salt a signing key is derived from with WEBHOOK_CREDENTIALS_KEY."""

    id = AutoField()
    workspace_id = BigIntegerField()  # indexed, as is token_sha256 (unique): see the migration
    kind = CharField(max_length=16)  # token, waha-hmac or secret
    token_sha256 = CharField(max_length=64, null=True)
    key_salt = CharField(max_length=64, null=True)
    created_at = PreciseDateTimeField()
    revoked_at = PreciseDateTimeField(null=True)

    class Meta:
        table_name = "webhook_credentials"
