"""A scratch database on a PostgreSQL or MySQL/MariaDB server, for one stack of the benchmark
or one test session: every run starts from empty tables, and nothing is left on the server
afterwards."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

from playhouse.db_url import connect


@contextlib.contextmanager
def scratch(url: str, prefix: str = "phoneguard_bench") -> Iterator[str]:
    """A new database on the server at `url`, dropped afterwards; yields its URL. A SQLite
    URL is yielded as it is: Stack makes a fresh file when given none."""
    if url.startswith("sqlite"):
        yield url
        return
    name = f"{prefix}_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = connect(url)
    admin.connect()
    postgres = url.startswith("postgres")
    if postgres:  # CREATE DATABASE refuses to run inside a transaction
        admin.connection().autocommit = True
    admin.execute_sql(f"CREATE DATABASE {name}")
    try:
        yield urlunparse(urlparse(url)._replace(path=f"/{name}"))
    finally:
        # FORCE ends any connection a killed process or a test's worker thread still holds.
        admin.execute_sql(f"DROP DATABASE IF EXISTS {name}{' WITH (FORCE)' if postgres else ''}")
        admin.close()
