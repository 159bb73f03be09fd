"""Who typed: the device a message came from, judged from its id as well as the gateway's label.

Gateways' labels are wrong in known ways: whatsapp-web.js calls every id longer than 21
characters `android` (its own sends included), WAHA NOWEB labels some API sends `app`, older
WAHA sends no label at all. The WhatsApp message id carries evidence of its own, read here the
way Baileys' `getDevice` reads it. Pure functions: no I/O, no settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A web or API client's id (WhatsApp Web, Baileys, whatsmeow, whatsapp-web.js): every gateway's
# own sends carry one, so it outweighs any label.
WEB_CLIENT_ID = re.compile(r"3E.{20}")
# Baileys' getDevice, in its order; the web rule above comes second there and first here.
ID_SHAPES = (
    (re.compile(r"3A.{18}"), "ios"),
    (re.compile(r".{21}|.{32}"), "android"),
    (re.compile(r"3F.*|.{18}"), "desktop"),
)
# Never phone activity, whatever the settings say: the gateway's own API sends.
NEVER_ACTIVITY = frozenset({"api"})
# Not phone activity unless CAMPAIGN_CONFLICT_TRIGGER_DEVICE_TYPES lists it.
WEB = "web"
LABEL_LENGTH = 32


@dataclass(frozen=True)
class Device:
    """What a message's device was decided to be, and what decided it.

    `label` is the gateway's own label (lower case), None when it sent none usable;
    `decided_by` is "label" or "message_id".
    """

    type: str
    label: str | None
    decided_by: str

    @property
    def overridden(self) -> bool:
        """The id contradicted a label the gateway did send."""
        return self.decided_by == "message_id" and self.label not in (None, "unknown", self.type)

    def as_data(self) -> dict:
        """The decision as the webhook response shows it."""
        return {"device_type": self.type, "device_label": self.label,
                "decided_by": self.decided_by}


def bare_id(message_id: object) -> str:
    """The WhatsApp id inside any id form: Evolution's bare `key.id` as is; the segment after
    the chat in a serialized id (`true_<chat>_<ID>`, `false_<chat>_<ID>_<participant>`), as
    WAHA's `payload.id` and whatsapp-web.js' `message.id._serialized` are. "" for a non-string."""
    if not isinstance(message_id, str):
        return ""
    head, sep, rest = message_id.partition("_")
    parts = rest.split("_")
    if sep and head in ("true", "false") and len(parts) in (2, 3) and all(parts[:2]):
        return parts[1]
    return message_id


def device_of_id(bare: str) -> str:
    """The device a bare id's shape tells, as Baileys' getDevice does; "unknown" when none."""
    if WEB_CLIENT_ID.fullmatch(bare):
        return WEB
    return next((device for shape, device in ID_SHAPES if shape.fullmatch(bare)), "unknown")


def label_of(value: object) -> str | None:
    """A gateway's device label, lower case; None when absent, empty or not printable text."""
    if isinstance(value, str) and value.strip() and value.isprintable():
        return value.strip().lower()[:LABEL_LENGTH]
    return None


def decide(label: object, message_id: object) -> Device:
    """Who typed. A web or API client's id (`3E` + 20 characters) is `web` whatever the label
    says (but `api`, which says as much already); otherwise the label, unless it is missing or
    `unknown`, where the id's shape decides."""
    label = label_of(label)
    bare = bare_id(message_id)
    if label in NEVER_ACTIVITY:
        # Already the gateway's own send; as `web` it would pause wherever web is a trigger.
        return Device(label, label, "label")
    if WEB_CLIENT_ID.fullmatch(bare):
        return Device(WEB, label, "message_id")
    if label is not None and label != "unknown":
        return Device(label, label, "label")
    return Device(device_of_id(bare), label, "message_id")


def is_phone_activity(device: Device, trigger_device_types: frozenset[str]) -> bool:
    """False for a gateway's own sends: `api` always, `web` unless it is listed as a trigger
    (sensible for Evolution, whose own sends are not `messages.upsert`)."""
    if device.type in NEVER_ACTIVITY:
        return False
    return device.type != WEB or WEB in trigger_device_types


def why_not_activity(device: Device, message_id: object) -> str:
    """The gateway_device message: what was decided and why, so a user sees why nothing paused."""
    if device.overridden:
        return (f"Message id {bare_id(message_id)!r} is a web or API client's send (3E + 20 "
                f"characters: a gateway's own send, or WhatsApp Web), whatever the gateway's "
                f"label {device.label!r} says: not phone activity unless "
                "CAMPAIGN_CONFLICT_TRIGGER_DEVICE_TYPES lists web")
    if device.type in NEVER_ACTIVITY:
        return f"Device {device.type!r} is the gateway's API: never phone activity"
    return (f"Device {device.type!r} is a web or API client (decided by the {_by(device)}): "
            "not phone activity unless CAMPAIGN_CONFLICT_TRIGGER_DEVICE_TYPES lists web")


def _by(device: Device) -> str:
    return "gateway's label" if device.decided_by == "label" else "message id"
