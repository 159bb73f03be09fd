"""GET /dashboard: the operator page. Signing in takes API_TOKEN through a form and leaves a
signed, expiring cookie (web.session_cookie); the page lists the sessions the control API's
list does and acts through the control API itself, which accepts that cookie."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import falcon

from models.activity import ActivityStore
from models.errors import Unauthorized
from models.sessions import list_sessions
from models.settings import Settings
from web import dashboard_page as html
from web import session_cookie
from web.reads import _required_workspace
from web.webhook import read_body

# (naive UTC now, workspace or None for all) -> the sessions as GET /api/v1/sessions lists them.
ListSessions = Callable[[dt.datetime, int | None], list[dict]]
MAX_FORM_BYTES = 4096
WRONG_TOKEN = "Wrong token: that is not this deployment's API_TOKEN. Nothing was signed in."
NO_TOKEN = "API_TOKEN is not set on this server, so the operator page is closed."


class _Page:
    def __init__(self, settings: Settings, sessions: ListSessions,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.sessions = sessions
        self.clock = clock

    def signed_in(self, req: falcon.Request) -> bool:
        return session_cookie.signed_in(self.settings, req, now=self.clock())

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).replace(tzinfo=None)

    def listed(self, req: falcon.Request, now: dt.datetime) -> list[dict]:
        """The sessions, of the one workspace in ?workspace_id= when it is given."""
        return self.sessions(now, _required_workspace(req.get_param("workspace_id"))
                             if req.get_param("workspace_id") is not None else None)


class Dashboard(_Page):
    def on_get(self, req, resp):
        nonce = secrets.token_urlsafe(16)
        if not self.signed_in(req):
            text = html.sign_in(nonce, None if self.settings.api_token else NO_TOKEN)
        else:
            now = self.now()
            text = html.page(self.listed(req, now), now=now, nonce=nonce)
        _html(resp, text, nonce)


class SessionsFragment(_Page):
    """What the page fetches every few seconds: its sessions, rendered."""

    def on_get(self, req, resp):
        if not self.signed_in(req):
            raise Unauthorized("Sign in at /dashboard first")
        now = self.now()
        _html(resp, html.fragment(self.listed(req, now), now=now))


class SignIn(_Page):
    def on_post(self, req, resp):
        fields = parse_qs(read_body(req, MAX_FORM_BYTES).decode(errors="replace"))
        token = (fields.get("token") or [""])[0].strip()
        if not session_cookie.token_matches(self.settings, token):
            nonce = secrets.token_urlsafe(16)
            resp.status = falcon.HTTP_401
            _html(resp, html.sign_in(nonce, WRONG_TOKEN if self.settings.api_token else NO_TOKEN),
                  nonce)
            return
        session_cookie.set_on(resp, req, session_cookie.issue(self.settings, now=self.clock()))
        resp.status = falcon.HTTP_303
        resp.location = "/dashboard"


class SignOut(_Page):
    def on_post(self, req, resp):
        session_cookie.clear_on(resp)
        resp.status = falcon.HTTP_303
        resp.location = "/dashboard"


def _html(resp: falcon.Response, text: str, nonce: str = "") -> None:
    """Answer `text` as HTML, with headers that let only its inline style and script (those
    carrying `nonce`) run, and keep it out of frames and caches. Set once the text is
    rendered: an error before that is answered as JSON by web/errors.py."""
    nonce = nonce or secrets.token_urlsafe(16)
    resp.text = text
    resp.content_type = falcon.MEDIA_HTML
    resp.set_header("Content-Security-Policy", (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"))
    resp.set_header("Cache-Control", "no-store")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("X-Frame-Options", "DENY")
    resp.set_header("Referrer-Policy", "no-referrer")


def add_routes(app: falcon.App, settings: Settings, store: ActivityStore,
               clock: Callable[[], float] = time.time) -> None:
    """The page's four routes, listing what GET /api/v1/sessions lists."""

    def sessions(now: dt.datetime, workspace_id: int | None) -> list[dict]:
        return list_sessions(settings, store.live_sessions(workspace_id), now=now,
                             workspace_id=workspace_id)

    app.add_route("/dashboard", Dashboard(settings, sessions, clock))
    app.add_route("/dashboard/sessions", SessionsFragment(settings, sessions, clock))
    app.add_route("/dashboard/sign-in", SignIn(settings, sessions, clock))
    app.add_route("/dashboard/sign-out", SignOut(settings, sessions, clock))
