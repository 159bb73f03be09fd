"""Set a process up from the environment: settings, database, broker. Used by the worker, the
clock and the scripts; a bad setting ends the process with a message naming the variable."""

from __future__ import annotations

import sys

from actors import runtime
from models.db import open_database
from models.errors import ConfigError
from models.settings import Settings


def from_env(process: str) -> runtime.Runtime:
    try:
        settings = Settings.from_env()
        open_database(settings.database_url)
    except ConfigError as exc:
        print(f"phoneguard {process}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return runtime.setup(settings)
