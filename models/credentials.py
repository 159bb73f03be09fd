"""Per-workspace webhook credentials: issued, revoked and listed by scripts.credentials, and
found for a delivery by the webhook in one indexed query.

Nothing stored is a usable credential (docs/credentials.md):
- a `token` is 256 random bits; the row keeps its SHA-256 (a digest of a random token of that
  size cannot be reversed or guessed, so no slow hash is needed), and a delivery's token is
  found by its digest;
- a `waha-hmac` key or a Standard Webhooks `secret` must be at hand to verify a signature, so
  the row keeps a random salt and the key is derived from it, the kind and the workspace with
  HMAC-SHA256 under WEBHOOK_CREDENTIALS_KEY, which lives in the environment only. A copy of the
  database alone yields no key, and a row moved to another workspace verifies nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import peewee

from models.db import database
from models.errors import ConfigError
from models.settings import Settings
from models.tables import WebhookCredential

TOKEN = "token"
WAHA_HMAC = "waha-hmac"
SECRET = "secret"
KINDS = (TOKEN, WAHA_HMAC, SECRET)
SIGNING_KINDS = (WAHA_HMAC, SECRET)
TOKEN_PREFIX = "pgwt_"
DERIVATION_LABEL = "phoneguard webhook credential v1"


@dataclass(frozen=True)
class Issued:
    """A credential just issued: `value` is shown once and stored nowhere."""

    id: int
    workspace_id: int
    kind: str
    value: str


def token_digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def signing_value(server_key: str, kind: str, workspace_id: int, salt: str) -> str:
    """The key a gateway is given for a signing credential, derived again at every delivery:
    a `whsec_` secret for Standard Webhooks, a URL-safe text key for WAHA (which signs with the
    key's text as typed into its config)."""
    message = f"{DERIVATION_LABEL}|{kind}|{workspace_id}|{salt}".encode()
    derived = hmac.new(server_key.encode(), message, hashlib.sha256).digest()
    if kind == SECRET:
        return "whsec_" + base64.b64encode(derived).decode()
    return base64.urlsafe_b64encode(derived).decode().rstrip("=")


def issue(workspace_id: int, kind: str, *, server_key: str | None,
          now: dt.datetime) -> Issued:
    """Create a credential for the workspace; raise ConfigError when a signing kind is asked
    for without WEBHOOK_CREDENTIALS_KEY."""
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}")
    if kind == TOKEN:
        value = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = WebhookCredential.create(workspace_id=workspace_id, kind=kind,
                                       token_sha256=token_digest(value), created_at=now)
        return Issued(row.id, workspace_id, kind, value)
    if not server_key:
        raise ConfigError(f"WEBHOOK_CREDENTIALS_KEY must be set to issue a {kind} credential "
                          "(the key it is derived from; web needs the same value)")
    salt = secrets.token_hex(16)
    row = WebhookCredential.create(workspace_id=workspace_id, kind=kind, key_salt=salt,
                                   created_at=now)
    return Issued(row.id, workspace_id, kind, signing_value(server_key, kind, workspace_id, salt))


def revoke(credential_id: int, *, now: dt.datetime) -> WebhookCredential | None:
    """Revoke a credential (idempotent: a revoked one keeps its first revocation time); None
    when there is no such credential."""
    WebhookCredential.update(revoked_at=now).where(
        (WebhookCredential.id == credential_id) & WebhookCredential.revoked_at.is_null()
    ).execute()
    return WebhookCredential.get_or_none(WebhookCredential.id == credential_id)


def listing(workspace_id: int | None = None) -> list[WebhookCredential]:
    """Every credential (of one workspace, when given), oldest first, revoked ones included."""
    query = WebhookCredential.select().order_by(WebhookCredential.id)
    if workspace_id is not None:
        query = query.where(WebhookCredential.workspace_id == workspace_id)
    return list(query)


def active_for(workspace_id: int | None = None,
               token_digests: tuple[str, ...] = ()) -> list[WebhookCredential]:
    """The active credentials a delivery may have been made with, in one indexed query: the
    workspace's own when the delivery names its workspace, else the rows of its tokens."""
    query = active_query(workspace_id, token_digests)
    return [] if query is None else list(query)


def active_query(workspace_id: int | None, token_digests: tuple[str, ...] = ()):
    """The query of active_for (None when there is nothing to look for)."""
    if workspace_id is not None:
        where = WebhookCredential.workspace_id == workspace_id
    elif token_digests:
        where = WebhookCredential.token_sha256.in_(list(token_digests))
    else:
        return None
    return (WebhookCredential.select()
            .where(where & WebhookCredential.revoked_at.is_null()).limit(100))


def active_kinds() -> set[str]:
    """The kinds of the active credentials, for the web process's checks at start; empty
    when the table does not exist yet."""
    if not database.table_exists(WebhookCredential._meta.table_name):
        return set()
    query = (WebhookCredential.select(WebhookCredential.kind).distinct()
             .where(WebhookCredential.revoked_at.is_null()))
    return {row.kind for row in query}


def check_webhook_auth(settings: Settings) -> None:
    """Raise ConfigError when no webhook could be authenticated (no install-wide way and no
    workspace credential in the database), or when workspaces hold signing credentials that
    cannot be verified without WEBHOOK_CREDENTIALS_KEY. The table is read once, at start."""
    try:
        with database.connection_context():
            kinds = active_kinds()
    except (peewee.OperationalError, peewee.InterfaceError, peewee.ProgrammingError) as exc:
        if not settings.has_global_webhook_auth():
            raise ConfigError("cannot read the workspace webhook credentials from DATABASE_URL "
                              f"({str(exc).strip()[:200]}), and no WEBHOOK_SECRET, "
                              "WAHA_HMAC_KEY, WEBHOOK_TOKEN or EVOLUTION_JWT_KEY is set") from None
        kinds = set()  # workspace credentials are read again at every delivery
    settings.require_webhook_auth(workspace_credentials=bool(kinds))
    signing = sorted(kinds & set(SIGNING_KINDS))
    if signing and not settings.webhook_credentials_key:
        raise ConfigError(f"workspaces hold {' and '.join(signing)} credentials, derived from "
                          "WEBHOOK_CREDENTIALS_KEY, which is not set: set it to the value they "
                          "were issued with")
