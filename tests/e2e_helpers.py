"""Helpers for tests that run the Procfile's processes (scripts.stack.Stack): waiting on the
campaigns in the stack's SQLite file and on its worker (signatures: tests.signatures)."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from dataclasses import dataclass

from models import keys
from models.activity import to_ms

WORKER_READY = "Worker process is ready for action."


# -- what the stack did ----------------------------------------------------------------------

@dataclass(frozen=True)
class CampaignRow:
    id: int
    status: str
    paused_at_ms: int | None
    auto_resume_at_ms: int | None
    pause_count: int


def database_path(stack) -> str:
    return stack.env["DATABASE_URL"].removeprefix("sqlite:///")


def campaigns(stack, workspace_id: int, session_id: str) -> list[CampaignRow]:
    """The session's campaigns as the stack's SQLite file has them now."""
    with contextlib.closing(sqlite3.connect(database_path(stack), timeout=5)) as conn:
        rows = conn.execute(
            "SELECT c.id, c.status, c.paused_at, c.auto_resume_at, c.pause_count "
            "FROM campaigns c JOIN whatsapp_accounts a ON a.id = c.whatsapp_account_id "
            "WHERE a.workspace_id = ? AND a.session_id = ? ORDER BY c.id",
            (workspace_id, session_id),
        ).fetchall()
    return [CampaignRow(cid, status, _ms(paused), _ms(resumed), count)
            for cid, status, paused, resumed, count in rows]


def pause_events(stack, workspace_id: int, session_id: str) -> list[tuple[str, int | None]]:
    """The session's audit trail, oldest first: (event, attempt of the resuming check)."""
    with contextlib.closing(sqlite3.connect(database_path(stack), timeout=5)) as conn:
        return conn.execute(
            "SELECT event, attempt FROM campaign_pause_events "
            "WHERE workspace_id = ? AND session_id = ? ORDER BY id",
            (workspace_id, session_id),
        ).fetchall()


def wait_for_status(stack, workspace_id: int, session_id: str, status: str,
                    timeout: float) -> list[CampaignRow]:
    """Poll until every campaign of the session has `status`; their rows, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        rows = campaigns(stack, workspace_id, session_id)
        if rows and all(row.status == status for row in rows):
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaigns of {session_id!r} still {[r.status for r in rows]}, "
                               f"not {status!r}, after {timeout} s\n{stack.logs()}")
        time.sleep(0.02)


def last_activity_ms(stack, workspace_id: int, session_id: str) -> int:
    """The session's last activity as the web process recorded it in Redis."""
    value = stack.redis_client().hget(keys.activity(workspace_id, session_id), "last_activity_ms")
    return int(value)


def start_worker(stack, timeout: float = 30) -> None:
    """Start the Procfile's worker and wait until its worker process consumes."""
    log = stack.log_path("worker")
    before = log.read_text().count(WORKER_READY) if log.exists() else 0
    stack.start("worker")
    deadline = time.monotonic() + timeout
    while log.read_text().count(WORKER_READY) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker did not start in {timeout} s\n{stack.logs()}")
        time.sleep(0.05)


def _ms(value: str | None) -> int | None:
    return None if value is None else to_ms(dt.datetime.fromisoformat(value))
