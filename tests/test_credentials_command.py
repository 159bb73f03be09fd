"""scripts.credentials in-process, on every database: issue prints the value once and stores
nothing usable, list never shows a value, revoke ends a credential."""

from __future__ import annotations

import pytest

from models import credentials
from models.db import database
from models.tables import WebhookCredential
from scripts import credentials as command

SERVER_KEY = "test-credentials-key-of-at-least-32-chars"


@pytest.fixture
def env(monkeypatch, database_url, db):
    for name in ("WEBHOOK_CREDENTIALS_KEY", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    WebhookCredential.delete().execute()
    yield monkeypatch
    WebhookCredential.delete().execute()


def run(*args: str) -> int:
    """main(args) in-process; the script binds the tables to a database object of its own."""
    handle = database.obj
    try:
        return command.main(list(args))
    finally:
        database.initialize(handle)


def test_issue_prints_a_token_once_and_stores_only_its_digest(env, capsys):
    assert run("issue", "--workspace", "7") == 0
    out, err = capsys.readouterr()

    token = out.strip()
    row = WebhookCredential.get()
    assert token.startswith("pgwt_") and len(token) > 40
    assert (row.workspace_id, row.kind, row.token_sha256) == (7, "token",
                                                              credentials.token_digest(token))
    assert "/api/v1/workspaces/7/whatsapp/webhook" in err


def test_issue_derives_signing_kinds_from_the_server_key_and_stores_a_salt(env, capsys):
    env.setenv("WEBHOOK_CREDENTIALS_KEY", SERVER_KEY)
    assert run("issue", "--workspace", "3", "--kind", "secret") == 0
    assert run("issue", "--workspace", "3", "--kind", "waha-hmac") == 0

    secret, waha = capsys.readouterr().out.split()
    rows = list(WebhookCredential.select().order_by(WebhookCredential.id))
    assert secret.startswith("whsec_") and rows[0].key_salt not in secret
    assert [credentials.signing_value(SERVER_KEY, r.kind, 3, r.key_salt) for r in rows] == \
        [secret, waha]
    assert all(r.token_sha256 is None for r in rows)


def test_issuing_a_signing_kind_without_the_server_key_says_which_variable(env, capsys):
    assert run("issue", "--workspace", "3", "--kind", "waha-hmac") == 2
    assert "WEBHOOK_CREDENTIALS_KEY" in capsys.readouterr().err
    assert WebhookCredential.select().count() == 0


def test_list_shows_ids_workspaces_and_kinds_never_values(env, capsys):
    run("issue", "--workspace", "7")
    run("issue", "--workspace", "8")
    token = capsys.readouterr().out.split()[0]

    assert run("list", "--workspace", "8") == 0
    listed = capsys.readouterr().out
    assert " 8 " in listed and " 7 " not in listed and token not in listed


def test_revoke_ends_a_credential_and_list_shows_when(env, capsys):
    run("issue", "--workspace", "7")
    issued_id = WebhookCredential.get().id

    assert run("revoke", str(issued_id)) == 0
    assert credentials.active_for(workspace_id=7) == []
    run("list")
    row_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert row_line.split()[-1] != "-"
    assert run("revoke", "999999") == 1


def test_help_explains_the_kinds_and_where_the_value_is_shown(capsys):
    with pytest.raises(SystemExit) as done:
        command.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert all(kind in text for kind in credentials.KINDS) and "printed once" in text


@pytest.mark.parametrize("workspace", ["0", "-1", "x"])
def test_a_bad_workspace_is_refused_by_the_parser(workspace, capsys):
    with pytest.raises(SystemExit) as done:
        command.main(["issue", "--workspace", workspace])
    assert done.value.code == 2
