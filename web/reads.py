"""The read APIs (bearer API_TOKEN) and the health endpoints."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable

import falcon

from models.activity import ActivityStore
from models.db import database
from models.errors import InvalidPayload
from models.outages import redis_outage
from models.reports import conflict_stats, last_activity, send_permission
from models.settings import Settings
from web import session_cookie
from web.auth import check_bearer
from web.gateways import workspace_field


class _Authenticated:
    def __init__(self, settings: Settings, store: ActivityStore,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.clock = clock

    def now(self) -> dt.datetime:
        """Naive UTC, the form the domain functions take."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).replace(tzinfo=None)

    def authenticate(self, req: falcon.Request) -> None:
        """Bearer API_TOKEN, or the operator page's sign-in cookie (web.session_cookie)."""
        if session_cookie.signed_in(self.settings, req, now=self.clock()):
            return
        check_bearer(self.settings, req.get_header("Authorization"))


class LastActivity(_Authenticated):
    def on_get(self, req, resp, session_id):
        self.authenticate(req)
        workspace = _required_workspace(req.get_param("workspace_id"))
        activity = self.store.get(workspace, session_id)
        resp.media = {"success": True, "data": last_activity(session_id, activity, now=self.now())}


class SendPermission(_Authenticated):
    def on_get(self, req, resp, workspace_id, session_id):
        self.authenticate(req)
        workspace = _required_workspace(workspace_id)
        activity = self.store.get(workspace, session_id)
        data = send_permission(self.settings, workspace, session_id, activity, now=self.now())
        resp.media = {"success": True, "data": data}


class ConflictStats(_Authenticated):
    def on_get(self, req, resp, workspace_id):
        self.authenticate(req)
        stats = conflict_stats(_required_workspace(workspace_id), now=self.now())
        resp.media = {"success": True, "data": stats}


class Health:
    def on_get(self, req, resp):
        resp.media = {"success": True, "status": "alive"}


class Ready:
    """200 when Redis takes writes and the database answers, else 503 naming the one that
    does not.

    One check runs at a time per process and its result serves every request of the next
    `reuse_for` seconds: /readyz needs no credentials, and a gevent worker serves many
    requests at once, each of which would otherwise open a database connection of its own.
    """

    def __init__(self, store: ActivityStore, *, reuse_for: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.reuse_for = reuse_for
        self.clock = clock
        self._lock = threading.Lock()
        self._checked: tuple[float, dict[str, str]] | None = None

    def on_get(self, req, resp):
        checks = self.checks()
        ready = all(v == "ok" for v in checks.values())
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = {"success": ready, "checks": checks,
                      "message": "ready" if ready else "not ready: a backing store is down"}

    def checks(self) -> dict[str, str]:
        """{"redis": ..., "database": ...}, each "ok" or why not."""
        with self._lock:
            if self._checked is None or self.clock() - self._checked[0] >= self.reuse_for:
                self._checked = (self.clock(), {"redis": self._redis(),
                                                "database": self._database()})
            return self._checked[1]

    def _redis(self) -> str:
        try:
            self.store.check_writable()
            return "ok"
        except Exception as exc:  # any failure at all means "not ready"
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                # The one failure an operator fixes with a setting: say which.
                return ("unreachable: the server's TLS certificate was refused; for a "
                        "provider's self-signed certificate set REDIS_SSL_CERT_REQS=none")
            cause = exc.__cause__ or exc
            return f"{redis_outage(cause) or 'failing'}: {type(cause).__name__}"

    def _database(self) -> str:
        try:
            database.execute_sql("SELECT 1")
            return "ok"
        except Exception as exc:
            _close_quietly()
            return f"unreachable: {type(exc).__name__}"


def _required_workspace(value) -> int:
    workspace = workspace_field(value)
    if workspace is None:
        raise InvalidPayload("Missing required fields: workspace_id")
    return workspace


def _close_quietly() -> None:
    with contextlib.suppress(Exception):  # already broken: nothing to tidy
        database.close()
