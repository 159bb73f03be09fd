"""Session state and control (bearer API_TOKEN, as the read APIs): see a session, list the
sessions an operator should know of, resume a session now, hold it for some minutes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import falcon

from models.activity import ActivityStore, iso_ms, to_ms
from models.conflict import Outcome
from models.control import MAX_HOLD_MINUTES, hold_session, resume_session
from models.errors import InvalidPayload
from models.sessions import list_sessions, session_state
from models.settings import Settings
from web.gateways import MAX_ID_LENGTH, workspace_field
from web.reads import _Authenticated, _required_workspace
from web.webhook import decode_object, read_body

# After an operator's action commits: schedule its check, send its events.
FollowUp = Callable[[Outcome, dt.datetime], None]
MAX_CONTROL_BODY = 4096


def follow_up_by_actors(outcome: Outcome, now: dt.datetime) -> None:
    """The actors' own follow-up (actors.conflict.follow_up), imported when first needed:
    actors can only be declared once the process's broker is set up."""
    from actors.conflict import follow_up

    follow_up(outcome, now=now)


class _Control(_Authenticated):
    def __init__(self, settings: Settings, store: ActivityStore,
                 clock: Callable[[], float] = time.time,
                 follow_up: FollowUp = follow_up_by_actors):
        super().__init__(settings, store, clock)
        self.follow_up = follow_up

    def session(self, req: falcon.Request, workspace_id, session_id) -> tuple[int, str]:
        self.authenticate(req)
        return _required_workspace(workspace_id), session_field(session_id)


class SessionState(_Control):
    def on_get(self, req, resp, workspace_id, session_id):
        ws, sid = self.session(req, workspace_id, session_id)
        activity = self.store.get(ws, sid)
        state = session_state(self.settings, ws, sid, now=self.now(),
                              last_activity_ms=activity.last_activity_ms if activity else None)
        resp.media = {"success": True, "data": state}


class SessionList(_Control):
    def on_get(self, req, resp):
        self.authenticate(req)
        workspace = workspace_field(req.get_param("workspace_id"))
        sessions = list_sessions(self.settings, self.store.live_sessions(workspace),
                                 now=self.now(), workspace_id=workspace)
        resp.media = {"success": True, "data": {"sessions": sessions}}


class ResumeSession(_Control):
    def on_post(self, req, resp, workspace_id, session_id):
        ws, sid = self.session(req, workspace_id, session_id)
        now = self.now()
        outcome = resume_session(ws, sid, now=now)
        self.follow_up(outcome, now)
        resp.media = {"success": True, "data": {"resumed_campaign_ids": outcome.campaign_ids}}


class HoldSession(_Control):
    def on_post(self, req, resp, workspace_id, session_id):
        ws, sid = self.session(req, workspace_id, session_id)
        minutes = minutes_field(decode_object(read_body(req, MAX_CONTROL_BODY)).get("minutes"))
        now = self.now()
        held = hold_session(ws, sid, minutes=minutes, now=now)
        self.follow_up(held.outcome, now)
        resp.media = {"success": True, "data": {
            "held_until": iso_ms(to_ms(held.held_until)),
            "paused_campaign_ids": held.outcome.campaign_ids,
        }}


def minutes_field(value) -> int:
    """A hold's length: a whole number of minutes from 1 to 1440 (a day)."""
    if value is None:
        raise InvalidPayload("Missing required fields: minutes")
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= MAX_HOLD_MINUTES:
        raise InvalidPayload(f"Malformed field: minutes must be a whole number from 1 to "
                             f"{MAX_HOLD_MINUTES}")
    return value


def session_field(value: str) -> str:
    """A session id from the URL: printable, at most 255 characters, as the webhook takes."""
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidPayload("Malformed field: session_id must be a printable string of at "
                             f"most {MAX_ID_LENGTH} characters")
    return value
