"""Start and probe the real servers the tests use (Redis itself: scripts.local_servers)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from scripts.bench.database import scratch
from scripts.local_servers import RedisServer

TABLES = ["campaign_pause_events", "campaigns", "whatsapp_accounts", "webhook_credentials",
          "phoneguard_migrations", "phoneguard_widened_columns"]


def unreachable(url: str) -> str | None:
    """None when a database at `url` answers, else why not."""
    from playhouse.db_url import connect

    try:
        db = connect(url)
        db.connect()
        db.execute_sql("SELECT 1")
        db.close()
        return None
    except Exception as exc:  # any failure means "not here"
        return f"{type(exc).__name__}: {exc}"


def drop_tables(db) -> None:
    for table in TABLES:
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")


def scratch_database(url: str):
    """A fresh database of our own on the server at `url`, dropped afterwards (a context
    manager yielding its URL): test runs, and engineers running tests side by side, never share
    tables."""
    return scratch(url, prefix="phoneguard_test")


SYSTEM_REDIS_SERVER = "/usr/bin/redis-server"  # Debian's, built with TLS


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A fresh self-signed certificate for localhost, as a provider's Redis has: (cert, key)."""
    cert, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def tls_redis_problem() -> str | None:
    """None when this machine can start a TLS-only redis-server, else why not."""
    if not Path(SYSTEM_REDIS_SERVER).exists() or not shutil.which("openssl"):
        return f"needs {SYSTEM_REDIS_SERVER} and openssl (apt-get install redis-server openssl)"
    return None


@contextlib.contextmanager
def tls_redis():
    """A TLS-only redis-server of our own (no plain port) with a self-signed certificate, as
    Heroku's Key-Value Store is; yields its rediss:// URL."""
    with tempfile.TemporaryDirectory(prefix="phoneguard-tls-redis-") as workdir:
        server = RedisServer(workdir, binary=SYSTEM_REDIS_SERVER,
                             tls=self_signed_certificate(Path(workdir)))
        server.start()
        try:
            yield server.url
        finally:
            server.stop()
