"""Turn any gateway's webhook body into one small activity report, told apart by shape.

Understood: the original Node gateway's `mobile_activity_detected`, Evolution API's
`messages.upsert` and WAHA's `message.any`. Anything else is acknowledged with a reason, since
a gateway retries every non-2xx for up to half an hour.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from models.errors import InvalidPayload
from web import devices

MAX_ID_LENGTH = 255
WORKSPACE_MESSAGE = "Malformed field: workspace_id must be a positive integer"
REQUIRED = {"workspace_id": "a positive integer",
            "metadata.workspace_id": "a positive integer, as \"7\" (WAHA session "
                                     "config.metadata)",
            "session_id": "a printable string of at most 255 characters"}


@dataclass(frozen=True)
class Report:
    """What a webhook says happened; workspace_id is None when the body does not say."""

    session_id: str | None
    workspace_id: int | None
    device: devices.Device
    message_id: str
    occurred_at_ms: int | None
    malformed: tuple[str, ...] = ()  # required fields present but unusable, as named to users

    @property
    def device_type(self) -> str:
        return self.device.type


@dataclass(frozen=True)
class Ignored:
    """A body that is fine but is not phone activity; `reason` goes back to the gateway."""

    reason: str
    message: str


def read(body: dict) -> Report | Ignored:
    """Classify a decoded JSON object; raise InvalidPayload for a known shape with bad fields."""
    event = body.get("event")
    if event == "mobile_activity_detected":
        return _node(body)
    if isinstance(event, str) and event.lower().replace("_", ".") == "messages.upsert":
        return _evolution(body)
    if event in ("message.any", "message"):
        return _waha(body)
    return Ignored("unknown_event", f"Event {str(event)[:64]!r} is not phone activity")


def _node(body: dict) -> Report:
    # Without `data` the workspace is simply missing: the 422 then names it.
    data = {} if body.get("data") is None else _object(body.get("data"), "data")
    return _report(body.get("session_id"), data.get("workspace_id"),
                   data.get("device_type"), data.get("message_id"), _iso_ms(body.get("timestamp")))


def _evolution(body: dict) -> Report | Ignored:
    data = body.get("data")
    if isinstance(data, list):
        if not data:
            return Ignored("unknown_event", "An empty batch of messages is not phone activity")
        data = _owners(data)
    data = _object(data, "data")
    key = _object(data.get("key"), "data.key")
    if key.get("fromMe") is not True:
        return Ignored("not_from_me", "A contact's message is not phone activity")
    if data.get("status") == "PENDING":
        # Baileys marks the owner's messages from other devices SERVER_ACK as it receives
        # them; PENDING is a message this gateway built itself, such as the auto-reply to a
        # call, which Evolution posts as messages.upsert with a web client's id.
        return Ignored("gateway_device", "Status 'PENDING': a message the gateway built itself "
                                         "(an auto-reply, say), not phone activity")
    return _report(body.get("instance"), None, data.get("source"), key.get("id"),
                   _unix_ms(data.get("messageTimestamp")))


def _owners(batch: list) -> object:
    """The message of a batch (Evolution builds that buffer messages post a chat's at once)
    that speaks for it: the owner's first typed on a phone or desktop, else on any device,
    else the first of the owner's, else the first."""
    mine = [item for item in batch if isinstance(item, dict)
            and isinstance(item.get("key"), dict) and item["key"].get("fromMe") is True]
    typed = [item for item in mine if item.get("status") != "PENDING"]
    phone = [item for item in typed if devices.decide(item.get("source"), item["key"].get("id"))
             .type not in (devices.WEB, "unknown", *devices.NEVER_ACTIVITY)]
    return (phone or typed or mine or batch)[0]


def _waha(body: dict) -> Report | Ignored:
    payload = _object(body.get("payload"), "payload")
    if payload.get("fromMe") is not True:
        return Ignored("not_from_me", "A contact's message is not phone activity")
    # WAHA copies the session's config.metadata into every body; its values are strings.
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    return _report(body.get("session"), metadata.get("workspace_id"),
                   payload.get("source"), payload.get("id"), _unix_ms(payload.get("timestamp")),
                   workspace_name="metadata.workspace_id")


def _report(session, workspace, label, message_id, occurred_at_ms,
            workspace_name="workspace_id") -> Report:
    session, session_ok = checked(_session, session)
    workspace, workspace_ok = checked(workspace_field, workspace)
    malformed = _malformed(workspace_ok, session_ok, workspace_name)
    return Report(session, workspace, devices.decide(label, message_id),
                  _message_id(message_id), occurred_at_ms, malformed)


def missing_fields_message(missing: list[str], malformed: list[str]) -> str:
    """The 422 message naming every required field that is absent or unusable."""
    parts = []
    if missing:
        parts.append(f"Missing required fields: {', '.join(missing)}")
    if malformed:
        wanted = ", ".join(f"{name} must be {REQUIRED[name]}" for name in malformed)
        parts.append(f"Malformed fields: {wanted}")
    return "; ".join(parts)


def workspace_field(value) -> int | None:
    """A workspace id from a body or a URL: a positive integer, or a string of digits."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidPayload(WORKSPACE_MESSAGE)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or not 0 < value < 2**63:
        raise InvalidPayload(WORKSPACE_MESSAGE)
    return value


def _session(value) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidPayload(
            "Malformed field: session_id must be a printable string of at most 255 characters"
        )
    return value


def _message_id(value) -> str:
    """The id as text: a string as sent, any other JSON value (a number, say) in its JSON form,
    so that retries of it count once too; "" when there is none. Redis keeps a digest of it."""
    if value is None or value == "":
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def checked(parse, value) -> tuple[object, bool]:
    """(parsed value, True), or (None, False) when the value is present but malformed."""
    try:
        return parse(value), True
    except InvalidPayload:
        return None, False


def _malformed(workspace_ok: bool, session_ok: bool,
               workspace_name: str = "workspace_id") -> tuple[str, ...]:
    return tuple(name for name, ok in ((workspace_name, workspace_ok),
                                       ("session_id", session_ok)) if not ok)


def _object(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidPayload(f"Malformed field: {name} must be an object")
    return value


def _unix_ms(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value < 10**11:  # seconds; anything larger is not a date we can trust
        return None
    return int(value * 1000)


def _iso_ms(value) -> int | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
