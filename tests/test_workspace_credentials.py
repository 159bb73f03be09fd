"""Per-workspace webhook credentials through the HTTP app, on every database and a real Redis:
a workspace's credential opens that workspace only, is stored as nothing usable, and stops
working once revoked; the install-wide credentials keep working as before."""

from __future__ import annotations

import base64
import dataclasses
import importlib
import time

import pytest
from peewee import MySQLDatabase, PostgresqlDatabase
from playhouse.migrate import SchemaMigrator

from models import credentials
from models.credentials import check_webhook_auth
from models.db import utcnow
from models.errors import ConfigError, Unauthorized
from models.tables import WebhookCredential
from tests.fixtures import gateway_body, node_event
from tests.signatures import encode, standard_headers, waha_headers
from tests.test_query_plans import plan
from tests.web_helpers import (
    QUEUED,
    TOKEN,
    WEBHOOK,
    activity_hash,
    conflict_keys,
    post,
)
from web import gateways
from web.webhook import WebhookResource
from web.workspace_auth import WorkspaceAuth

SERVER_KEY = "test-credentials-key-of-at-least-32-chars"


def workspace_url(workspace_id: int) -> str:
    return f"/api/v1/workspaces/{workspace_id}/whatsapp/webhook"


@pytest.fixture
def tenants(settings):
    """Settings of a multi-tenant install: no install-wide webhook credential at all."""
    return dataclasses.replace(settings, webhook_secrets=(), waha_hmac_key=None,
                               webhook_token=None, evolution_jwt_key=None,
                               webhook_credentials_key=SERVER_KEY)


@pytest.fixture
def issue(db):
    WebhookCredential.delete().execute()

    def make(workspace_id: int, kind: str = credentials.TOKEN) -> credentials.Issued:
        return credentials.issue(workspace_id, kind, server_key=SERVER_KEY, now=utcnow())

    yield make
    WebhookCredential.delete().execute()


@pytest.fixture
def app(make_client, tenants):
    return make_client(settings=tenants)


@pytest.fixture
def waha():
    """WAHA's message.any from the phone app, session "default" (WAHA's default name); its
    body names no workspace."""
    return encode(gateway_body("waha_message_any_app"))


def test_a_waha_delivery_replayed_to_another_workspace_is_refused(
        app, issue, redis_client, waha):
    key_2 = issue(2, credentials.WAHA_HMAC).value
    issue(3, credentials.WAHA_HMAC)
    signed = waha_headers(key_2, waha)

    assert post(app, waha, path=workspace_url(2), headers=signed).json["message"] == QUEUED
    replayed = post(app, waha, path=workspace_url(3), headers=signed)

    assert replayed.status_code == 401
    assert replayed.json == {"success": False,
                             "message": "No active credential of workspace 3 matches"}
    assert activity_hash(redis_client, 3, "default") == {}
    assert activity_hash(redis_client, 2, "default")


def test_a_workspace_token_works_on_its_own_url_in_every_place_a_token_goes(app, issue):
    token = issue(7).value
    evolution = gateway_body("evolution_messages_upsert_phone")
    ways = ((workspace_url(7), {"X-Webhook-Token": token}),
            (workspace_url(7), {"Authorization": f"Bearer {token}"}),
            (f"{workspace_url(7)}?token={token}/messages-upsert", {}))
    for n, (path, headers) in enumerate(ways):
        evolution["data"]["key"]["id"] = f"3A{n:018d}"
        response = post(app, evolution, path=path, headers=headers)
        assert (response.status_code, response.json["message"]) == (200, QUEUED)


@pytest.mark.parametrize("where", ["url", "body"])
def test_a_workspace_token_is_refused_for_another_workspace(app, issue, redis_client, where):
    token = issue(2).value
    issue(3)
    body = node_event(workspace_id=3)
    path = workspace_url(3) if where == "url" else WEBHOOK

    response = post(app, body, path=path, headers={"X-Webhook-Token": token})

    assert response.status_code == 401
    assert token not in response.text
    assert conflict_keys(redis_client) == []


def test_a_token_on_the_shared_url_binds_the_delivery_to_its_own_workspace(
        app, issue, account_factory, redis_client):
    # The session exists in workspace 3 only; the body names no workspace. Guessing from the
    # account would let workspace 2's gateway pause workspace 3.
    account_factory(workspace_id=3, session_id="shop-1")
    token = issue(2).value
    evolution = gateway_body("evolution_messages_upsert_phone")

    response = post(app, evolution, headers={"X-Webhook-Token": token})

    assert response.status_code == 200 and response.json["data"]["workspace_id"] == 2
    assert activity_hash(redis_client, 3, "shop-1") == {}


def test_a_workspace_secret_signs_node_deliveries_to_its_workspace_only(app, issue):
    key = base64.b64decode(issue(4, credentials.SECRET).value.removeprefix("whsec_"))
    mine, theirs = encode(node_event(workspace_id=4)), encode(node_event(workspace_id=5))

    assert post(app, mine, headers=standard_headers(key, mine, at=time.time())).status_code \
        == 200
    other = post(app, theirs, headers=standard_headers(key, theirs, at=time.time(),
                                                       msg_id="msg_2"))
    assert other.status_code == 401


def test_a_signed_delivery_naming_no_workspace_is_told_to_use_the_workspace_url(
        app, issue, waha):
    key = issue(2, credentials.WAHA_HMAC).value

    response = post(app, waha, headers=waha_headers(key, waha))

    assert response.status_code == 401
    assert "/api/v1/workspaces/{workspace_id}/whatsapp/webhook" in response.json["message"]


def test_a_revoked_credential_is_refused_from_the_next_delivery(app, issue, waha):
    issued = issue(2, credentials.WAHA_HMAC)
    signed = waha_headers(issued.value, waha)
    assert post(app, waha, path=workspace_url(2), headers=signed).status_code == 200

    credentials.revoke(issued.id, now=utcnow())

    assert post(app, waha, path=workspace_url(2), headers=signed).status_code == 401


def test_what_is_stored_is_never_the_credential(issue):
    issued = [issue(2, kind) for kind in credentials.KINDS]

    rows = {row.id: row for row in WebhookCredential.select()}
    for one in issued:
        stored = [str(v) for v in WebhookCredential.select().where(
            WebhookCredential.id == one.id).tuples().get()]
        assert not any(one.value in value or value in one.value for value in stored
                       if len(value) > 8)
    token = rows[issued[0].id]
    assert token.token_sha256 == credentials.token_digest(issued[0].value)


def test_a_signing_credential_is_derived_from_the_server_key_the_workspace_and_the_salt(
        issue):
    issued = issue(2, credentials.SECRET)
    row = WebhookCredential.get_by_id(issued.id)

    again = credentials.signing_value(SERVER_KEY, row.kind, 2, row.key_salt)
    elsewhere = credentials.signing_value(SERVER_KEY, row.kind, 3, row.key_salt)
    other_key = credentials.signing_value(SERVER_KEY + "x", row.kind, 2, row.key_salt)
    assert again == issued.value and issued.value not in (elsewhere, other_key)


def test_the_install_wide_credentials_still_open_every_workspace(client, db, waha):
    response = post(client, waha, path=workspace_url(9), headers=waha_headers("waha-key", waha))
    assert response.status_code == 200


def test_web_starts_with_only_workspace_credentials_and_refuses_with_none(tenants, issue):
    with pytest.raises(ConfigError, match="scripts.credentials issue"):
        check_webhook_auth(tenants)
    issue(2)
    check_webhook_auth(tenants)


def test_web_refuses_to_start_with_signing_credentials_but_no_server_key(tenants, issue):
    issue(2, credentials.WAHA_HMAC)
    with pytest.raises(ConfigError, match="WEBHOOK_CREDENTIALS_KEY"):
        check_webhook_auth(dataclasses.replace(tenants, webhook_credentials_key=None))


def test_a_webhook_makes_one_query_for_workspace_credentials(make_client, tenants, issue, waha):
    issue(2, credentials.WAHA_HMAC)
    key = issue(2, credentials.WAHA_HMAC).value
    queries = []

    def counted(**where):
        queries.append(where)
        return credentials.active_for(**where)

    app = make_client(settings=tenants, workspace_auth=WorkspaceAuth(tenants, lookup=counted))

    assert post(app, waha, path=workspace_url(2), headers=waha_headers(key, waha)).status_code \
        == 200
    assert post(app, waha, headers=TOKEN).status_code == 401  # no workspace token: no query
    assert len(queries) == 1


def test_a_delivery_bound_to_one_workspace_never_resolves_to_another(make_client, tenants, db):
    # The second line behind the scoped look-up: whatever names the workspace, a credential's
    # workspace and the delivery's must be one.
    resource = WebhookResource(tenants, None, None, resolve_workspace=lambda session: 3)
    report = gateways.read(node_event(workspace_id=3))

    with pytest.raises(Unauthorized, match="not valid for workspace 3"):
        resource.event(report, None, bound=2)
    assert resource.event(report, None, bound=3).workspace_id == 3


def test_the_migration_drops_the_table_and_creates_it_again_with_its_indexes(db):
    migration = importlib.import_module("models.migrations.0006_create_webhook_credentials")
    migrator = SchemaMigrator.from_database(db)

    migration.down(migrator, db)
    assert not db.table_exists("webhook_credentials")
    migration.up(migrator, db)
    indexes = {i.name: (i.columns, i.unique) for i in db.get_indexes("webhook_credentials")}
    assert indexes["idx_webhook_credentials_workspace"] == (["workspace_id"], False)
    assert indexes["idx_webhook_credentials_token"] == (["token_sha256"], True)


@pytest.fixture
def many_tenants(issue, db):
    """A thousand workspaces with a token and a WAHA key each, statistics gathered."""
    rows = [{"workspace_id": ws, "kind": kind, "created_at": utcnow(),
             "token_sha256": f"{ws:064x}" if kind == credentials.TOKEN else None,
             "key_salt": None if kind == credentials.TOKEN else f"{ws:032x}"}
            for ws in range(1, 1001) for kind in (credentials.TOKEN, credentials.WAHA_HMAC)]
    with db.atomic():
        for i in range(0, len(rows), 200):
            WebhookCredential.insert_many(rows[i:i + 200]).execute()
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("ANALYZE webhook_credentials")
    elif isinstance(db, MySQLDatabase):
        db.execute_sql("ANALYZE TABLE webhook_credentials").fetchall()
    return db


@pytest.mark.parametrize("where, index", [
    ({"workspace_id": 500}, "idx_webhook_credentials_workspace"),
    ({"workspace_id": None, "token_digests": (f"{500:064x}",)}, "idx_webhook_credentials_token"),
], ids=["by-workspace", "by-token"])
def test_a_delivery_finds_its_credentials_through_an_index(many_tenants, where, index):
    text = plan(many_tenants, credentials.active_query(**where))

    assert index in text, text
    for full_scan in ("scan webhook_credentials\n", "seq scan", " all "):
        assert full_scan not in text + "\n", text
