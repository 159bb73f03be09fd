"""The Falcon application: create_app() builds it from what it is handed; get_app() is the
only place that reads the environment, for gunicorn."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import falcon

from models import logs
from models.activity import ActivityStore
from models.credentials import check_webhook_auth
from models.db import database
from models.errors import ConfigError
from models.sessions import workspace_of_session
from models.settings import Settings
from web import dashboard, errors
from web.control import (
    FollowUp,
    HoldSession,
    ResumeSession,
    SessionList,
    SessionState,
    follow_up_by_actors,
)
from web.db_gate import DatabaseGate
from web.metrics import DeploymentCollector, MetricsResource
from web.openapi import OpenApiResource
from web.reads import ConflictStats, Health, LastActivity, Ready, SendPermission
from web.webhook import EnqueuePause, WebhookResource
from web.workspace_auth import WorkspaceAuth


def create_app(
    settings: Settings, store: ActivityStore, enqueue_pause: EnqueuePause,
    resolve_workspace: Callable[[str], int] | None = None,
    clock: Callable[[], float] = time.time,
    follow_up: FollowUp = follow_up_by_actors,
    workspace_auth: WorkspaceAuth | None = None,
) -> falcon.App:
    """The app on the collaborators it is handed; `clock` (epoch seconds) is every
    resource's idea of now; `follow_up` schedules the check and sends the events of an
    operator's action once it is committed; `workspace_auth` checks workspaces' own webhook
    credentials (default: in the database)."""
    app = falcon.App(middleware=[TidyWebhookPath(), CloseDatabase()])
    errors.install(app)
    webhook = WebhookResource(settings, store, enqueue_pause,
                              resolve_workspace or workspace_of_session, clock, workspace_auth)
    for path in ("/api/v1/whatsapp/webhook",
                 "/api/v1/workspaces/{workspace_id}/whatsapp/webhook"):
        app.add_route(path, webhook)
        # Evolution's byEvents names the event in a last segment; the body decides, so any
        # name is taken (a 404 would never be retried, and the event lost).
        app.add_route(path + "/{event}", webhook)
    app.add_route("/api/internal/sessions/{session_id}/last-activity",
                  LastActivity(settings, store, clock))
    app.add_route("/api/v1/workspaces/{workspace_id}/sessions/{session_id}/send-permission",
                  SendPermission(settings, store, clock))
    app.add_route("/api/v1/workspaces/{workspace_id}/conflict-stats",
                  ConflictStats(settings, store, clock))
    session = "/api/v1/workspaces/{workspace_id}/sessions/{session_id}"
    control = (settings, store, clock, follow_up)
    app.add_route(session, SessionState(*control))
    app.add_route(session + "/resume", ResumeSession(*control))
    app.add_route(session + "/hold", HoldSession(*control))
    app.add_route("/api/v1/sessions", SessionList(*control))
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(store))
    app.add_route("/metrics", MetricsResource(DeploymentCollector(store.client, settings.queue)))
    app.add_route("/openapi.json", OpenApiResource())
    dashboard.add_routes(app, settings, store, clock)
    return app


class TidyWebhookPath:
    """Route a webhook path with doubled slashes or a trailing one as its tidy form. Evolution
    appends its byEvents segment to the URL as configured: one configured with a trailing
    slash posts to `.../webhook//messages-upsert`, and a 404 would never be retried (the event
    lost). Other routes keep their paths: there an empty segment is a session id (`%2F` is
    decoded before routing), which must never name another session."""

    def process_request(self, req, resp):
        if WEBHOOK_PATH.match(req.path) and ("//" in req.path or req.path.endswith("/")):
            req.path = re.sub("/{2,}", "/", req.path).rstrip("/")


WEBHOOK_PATH = re.compile(r"/api/v1/(workspaces/[^/]+/)?whatsapp/webhook(/|$)")


class CloseDatabase:
    """Give the connection back after each request: gunicorn workers are long-lived, and a
    connection left open across a database restart would fail the next request."""

    def process_response(self, req, resp, resource, req_succeeded):
        # An app built without a database (only the Redis routes in use) has nothing to close.
        if database.obj is not None and not database.is_closed():
            database.close()


# Database connections one web process may hold at once (web/db_gate.py); a request that
# finds them all busy waits this long for one, then answers 503.
DATABASE_CONNECTIONS = 4
DATABASE_WAIT_S = 5.0


def get_app() -> falcon.App:
    """Build the app from the environment (gunicorn's entry point); a bad setting stops the
    process with a message naming the variable."""
    from actors import runtime

    logs.configure()
    rt = runtime.from_env("web")
    try:
        check_webhook_auth(rt.settings)
    except ConfigError as exc:
        print(f"phoneguard web: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    DatabaseGate(database.obj, size=DATABASE_CONNECTIONS, wait=DATABASE_WAIT_S)
    from actors.conflict import handle_mobile_activity

    return create_app(rt.settings, rt.store, handle_mobile_activity.send)
