"""What the tests of the operator commands share: an environment without the machine's own
phoneguard variables, and running a script's main() in-process.

Loaded as a plugin by conftest (`pytest_plugins`), for its fixtures."""

from __future__ import annotations

import os

import pytest

from models.db import database

SETTINGS_VARIABLES = {"DATABASE_URL", "REDIS_URL", "PORT", "WEB_CONCURRENCY", "WEBHOOK_SECRET",
                      "WAHA_HMAC_KEY", "WEBHOOK_TOKEN", "API_TOKEN", "WEBHOOK_MAX_BODY_BYTES",
                      "EVOLUTION_JWT_KEY"}


@pytest.fixture
def bare_env(monkeypatch):
    """No phoneguard variable from the machine running the tests leaks into the scripts."""
    for name in list(os.environ):
        if name in SETTINGS_VARIABLES or name.startswith("CAMPAIGN_CONFLICT_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def env(bare_env, redis_url, database_url, db, redis_client):
    bare_env.setenv("REDIS_URL", redis_url)
    bare_env.setenv("DATABASE_URL", database_url)
    return bare_env


def run(main, *args: str) -> int:
    """main(args) in-process; the scripts bind the tables to a database object of their own,
    so bind them back to the test's afterwards."""
    handle = database.obj
    try:
        return main(list(args))
    finally:
        database.initialize(handle)
