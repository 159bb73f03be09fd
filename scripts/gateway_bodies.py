"""Webhook bodies shaped as each gateway's own code builds them, with fresh timestamps and
unique message ids, for scripts.simulate_gateway (and the tests that post what it posts)."""

from __future__ import annotations

import base64
import json
import os
import secrets

from models.activity import iso_ms

WAHA_SOURCE = {"android": "app", "ios": "app", "web": "api"}  # WAHA knows only app and api
OWNER, CONTACT = "5511888880000", "5511999990001"


def _hex(n: int) -> str:
    return secrets.token_hex(n).upper()


def own_send_id() -> str:
    """The bare id of a message a web or API client sent: 3EB0 + 18 hex, 22 characters."""
    return "3EB0" + _hex(9)


def node_body(session_id: str, workspace_id: int | None, device: str, now: float,
              bare_id: str | None = None) -> dict:
    data = {"device_type": device,
            "message_id": f"true_{CONTACT}@c.us_{bare_id or evolution_message_id(device)}"}
    if workspace_id is not None:
        data["workspace_id"] = workspace_id
    return {"event": "mobile_activity_detected", "session_id": session_id,
            "timestamp": iso_ms(int(now * 1000)), "data": data}


def evolution_message_id(device: str) -> str:
    """An id of `device`'s shape: Baileys derives `source` from it, and whatsapp-web.js its
    `deviceType`, so the two stay consistent."""
    if device == "ios":
        return "3A" + _hex(9)
    if device == "web":
        return own_send_id()
    return _hex(16)


def evolution_body(session_id: str, device: str, from_me: bool, now: float,
                   bare_id: str | None = None) -> dict:
    key = {"remoteJid": f"{CONTACT}@s.whatsapp.net", "fromMe": from_me,
           "id": bare_id or evolution_message_id(device)}
    return {
        "event": "messages.upsert", "instance": session_id,
        "data": {"key": key, "pushName": "Store owner" if from_me else "Customer",
                 "status": "SERVER_ACK", "message": {"conversation": "Simulated message"},
                 "messageType": "conversation", "messageTimestamp": int(now),
                 "instanceId": "9f3b2c1a-0000-4000-8000-000000000001", "source": device},
        "date_time": iso_ms(int(now * 1000)), "sender": f"{OWNER}@s.whatsapp.net",
        "server_url": "https://evolution.example.com", "apikey": None,
    }


def with_media(body: dict, size: int) -> dict:
    """An Evolution messages.upsert turned into a photo sent with the instance's `base64` on:
    an imageMessage, and the file inline in data.message.base64, as Evolution's Baileys
    service puts it; the JSON body is then `size` bytes or a few fewer, never more."""
    body = json.loads(json.dumps(body))
    data = body["data"]
    data["messageType"] = "imageMessage"
    data["message"] = {"imageMessage": {
        "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/simulated.enc", "mimetype": "image/jpeg",
        "caption": "Simulated photo", "fileLength": "0", "height": 1600, "width": 1200,
        "mediaKeyTimestamp": str(data.get("messageTimestamp", 0))}, "base64": ""}
    planned = max(0, size - len(json.dumps(body).encode())) // 4 * 3
    data["message"]["imageMessage"]["fileLength"] = str(planned)  # its digits take room too
    room = size - len(json.dumps(body).encode())
    photo = os.urandom(max(0, room) // 4 * 3)
    data["message"]["imageMessage"]["fileLength"] = str(len(photo))
    data["message"]["base64"] = base64.b64encode(photo).decode()
    return body


def waha_body(session_id: str, device: str, from_me: bool, now: float,
              bare_id: str | None = None) -> dict:
    sender, receiver = (OWNER, CONTACT) if from_me else (CONTACT, OWNER)
    # A phone's id for a phone's message: a 3EB0 id is the gateway's own send, whatever the label.
    bare = bare_id or (own_send_id() if device == "api" else "3A" + _hex(9))
    payload = {"id": f"{str(from_me).lower()}_{CONTACT}@c.us_{bare}",
               "timestamp": int(now), "from": f"{sender}@c.us", "fromMe": from_me,
               "source": WAHA_SOURCE.get(device, device), "to": f"{receiver}@c.us",
               "body": "Simulated message", "hasMedia": False, "ack": 1, "ackName": "SERVER"}
    return {"id": "evt_" + secrets.token_hex(13), "timestamp": int(now * 1000),
            "event": "message.any", "session": session_id,
            "me": {"id": f"{OWNER}@c.us", "pushName": "Store owner"}, "payload": payload,
            "engine": "NOWEB", "environment": {"version": "2025.11.4"}}
