"""Post webhooks to phoneguard as a real gateway would: bodies shaped like the gateway's own
(fresh timestamps, unique message ids), signed the way that gateway signs. For demos, and to
check a deployment's webhook end to end.

Formats and how each is signed:
  node       the original Node gateway's mobile_activity_detected (workspace in the body):
             Standard Webhooks with WEBHOOK_SECRET, else X-Webhook-Token
  evolution  Evolution API messages.upsert: X-Webhook-Token with WEBHOOK_TOKEN
  waha       WAHA message.any (the device is payload.source, app or api): X-Webhook-Hmac
             (sha512) with WAHA_HMAC_KEY, else X-Webhook-Token
Evolution and WAHA post to /api/v1/workspaces/N/whatsapp/webhook with --workspace N, else to
/api/v1/whatsapp/webhook (the service then finds the workspace from the session id).

Examples:
  python -m scripts.simulate_gateway --session demo --workspace 1
  python -m scripts.simulate_gateway --format waha --session demo --burst 5 --interval 2
  python -m scripts.simulate_gateway --format evolution --session demo --repeat-id
  python -m scripts.simulate_gateway --format waha --session demo --device api  (ignored)

Reads PORT, WEBHOOK_SECRET, WAHA_HMAC_KEY and WEBHOOK_TOKEN. Prints each response; exits 1
when any post is answered with anything but 2xx (or not at all), 2 when nothing to sign with.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from models.activity import iso_ms
from models.errors import ConfigError
from models.settings import Settings

FORMATS = ("node", "evolution", "waha")
DEFAULT_DEVICE = {"node": "android", "evolution": "android", "waha": "app"}
WAHA_SOURCE = {"android": "app", "ios": "app", "web": "api"}  # WAHA knows only app and api
OWNER, CONTACT = "5511888880000", "5511999990001"
METHODS = {"standard-webhooks": "Standard Webhooks (WEBHOOK_SECRET)",
           "waha-hmac": "X-Webhook-Hmac sha512 (WAHA_HMAC_KEY)",
           "token": "X-Webhook-Token (WEBHOOK_TOKEN)"}


def sign_standard_webhooks(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">,
    keyed with the decoded part of WEBHOOK_SECRET after whsec_."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def sign_waha(key: str, body: bytes) -> str:
    """WAHA's X-Webhook-Hmac: hex HMAC-SHA512 of the raw body."""
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def standard_webhooks_headers(secret: bytes, msg_id: str, timestamp: int,
                              body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_standard_webhooks(secret, msg_id, timestamp, body)}


def waha_headers(key: str, request_id: str, timestamp_ms: int, body: bytes) -> dict[str, str]:
    return {"X-Webhook-Request-Id": request_id, "X-Webhook-Timestamp": str(timestamp_ms),
            "X-Webhook-Hmac": sign_waha(key, body), "X-Webhook-Hmac-Algorithm": "sha512"}


def auth_method(settings: Settings, fmt: str) -> str:
    """How `fmt` signs with these settings: the gateway's own method when its key is set,
    else the static token; ConfigError naming the variables when neither is."""
    if fmt == "node" and settings.webhook_secrets:
        return "standard-webhooks"
    if fmt == "waha" and settings.waha_hmac_key:
        return "waha-hmac"
    if settings.webhook_token:
        return "token"
    own = {"node": "WEBHOOK_SECRET (whsec_...) or ", "waha": "WAHA_HMAC_KEY or "}.get(fmt, "")
    raise ConfigError(f"nothing to sign {fmt} webhooks with: set {own}WEBHOOK_TOKEN, the same "
                      "value the web process has")


def auth_headers(settings: Settings, fmt: str, delivery_id: str, body: bytes,
                 now: float) -> dict[str, str]:
    """The authentication headers `fmt` sends with `body`, signed at `now` (epoch seconds)."""
    method = auth_method(settings, fmt)
    if method == "standard-webhooks":
        return standard_webhooks_headers(settings.webhook_secrets[0], delivery_id, int(now), body)
    if method == "waha-hmac":
        return waha_headers(settings.waha_hmac_key, delivery_id, int(now * 1000), body)
    return {"X-Webhook-Token": settings.webhook_token}


def _hex(n: int) -> str:
    return secrets.token_hex(n).upper()


def node_body(session_id: str, workspace_id: int | None, device: str, now: float) -> dict:
    data = {"device_type": device, "message_id": f"true_{CONTACT}@c.us_{_hex(10)}"}
    if workspace_id is not None:
        data["workspace_id"] = workspace_id
    return {"event": "mobile_activity_detected", "session_id": session_id,
            "timestamp": iso_ms(int(now * 1000)), "data": data}


def evolution_message_id(device: str) -> str:
    """Baileys derives `source` from the id's shape; keep the two consistent."""
    if device == "ios":
        return "3A" + _hex(9)
    if device == "web":
        return "3EB0" + _hex(9)
    return _hex(16)


def evolution_body(session_id: str, device: str, from_me: bool, now: float) -> dict:
    key = {"remoteJid": f"{CONTACT}@s.whatsapp.net", "fromMe": from_me,
           "id": evolution_message_id(device)}
    return {
        "event": "messages.upsert", "instance": session_id,
        "data": {"key": key, "pushName": "Store owner" if from_me else "Customer",
                 "status": "SERVER_ACK", "message": {"conversation": "Simulated message"},
                 "messageType": "conversation", "messageTimestamp": int(now),
                 "instanceId": "9f3b2c1a-0000-4000-8000-000000000001", "source": device},
        "date_time": iso_ms(int(now * 1000)), "sender": f"{OWNER}@s.whatsapp.net",
        "server_url": "https://evolution.example.com", "apikey": None,
    }


def waha_body(session_id: str, device: str, from_me: bool, now: float) -> dict:
    sender, receiver = (OWNER, CONTACT) if from_me else (CONTACT, OWNER)
    # A phone's id for a phone's message: a 3EB0 id is the gateway's own send, whatever the label.
    bare = "3EB0" + _hex(9) if device == "api" else "3A" + _hex(9)
    payload = {"id": f"{str(from_me).lower()}_{CONTACT}@c.us_{bare}",
               "timestamp": int(now), "from": f"{sender}@c.us", "fromMe": from_me,
               "source": WAHA_SOURCE.get(device, device), "to": f"{receiver}@c.us",
               "body": "Simulated message", "hasMedia": False, "ack": 1, "ackName": "SERVER"}
    return {"id": "evt_" + secrets.token_hex(13), "timestamp": int(now * 1000),
            "event": "message.any", "session": session_id,
            "me": {"id": f"{OWNER}@c.us", "pushName": "Store owner"}, "payload": payload,
            "engine": "NOWEB", "environment": {"version": "2025.11.4"}}


@dataclass(frozen=True)
class Delivery:
    """One webhook as the gateway sends it; a retry resends the same id and the same body."""

    path: str
    delivery_id: str
    body: bytes
    label: str


def build(args: argparse.Namespace, now: float) -> Delivery:
    device = args.device or DEFAULT_DEVICE[args.format]
    if args.format == "node":
        body = node_body(args.session, args.workspace, device, now)
        message_id = body["data"]["message_id"]
    elif args.format == "evolution":
        body = evolution_body(args.session, device, not args.from_contact, now)
        message_id = body["data"]["key"]["id"]
    else:
        body = waha_body(args.session, device, not args.from_contact, now)
        message_id = body["payload"]["id"]
    scoped = args.workspace is not None and args.format != "node"
    path = (f"/api/v1/workspaces/{args.workspace}/whatsapp/webhook" if scoped
            else "/api/v1/whatsapp/webhook")
    label = f"{args.format} session={args.session} device={device} id={message_id}"
    return Delivery(path, "msg_" + secrets.token_hex(12), json.dumps(body).encode(), label)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10) -> tuple[int, str]:
    """POST `body`; (status, response text). Raises OSError when nothing answers."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "phoneguard-simulate-gateway",
        **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def send(base_url: str, settings: Settings, fmt: str, delivery: Delivery) -> bool:
    """Sign and post one delivery, print the answer; True when it was 2xx."""
    headers = auth_headers(settings, fmt, delivery.delivery_id, delivery.body, time.time())
    if fmt == "node":
        headers["X-Webhook-Source"] = "whatsapp-service"
    status, text = post(base_url.rstrip("/") + delivery.path, delivery.body, headers)
    print(f"{delivery.label} -> {status} {text.strip()}", flush=True)
    return 200 <= status < 300


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.simulate_gateway", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="base URL of the web process (default http://127.0.0.1:$PORT)")
    p.add_argument("--format", choices=FORMATS, default="node", help="gateway (default node)")
    p.add_argument("--session", default="demo", help="session id (default demo)")
    p.add_argument("--workspace", type=int, metavar="N", help="workspace id")
    p.add_argument("--device", help="android, ios, web... (waha: app or api; default android, "
                                    "waha app)")
    p.add_argument("--from-contact", action="store_true",
                   help="a message a contact sent (fromMe false): never pauses")
    p.add_argument("--burst", type=_count, default=1, metavar="N", help="send N messages")
    p.add_argument("--interval", type=_seconds, default=1.0, metavar="S",
                   help="seconds between the messages of a burst (default 1)")
    p.add_argument("--repeat-id", action="store_true",
                   help="send each delivery twice, as a gateway retry")
    return p


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.from_contact and args.format == "node":
        print("simulate_gateway: the node gateway only reports the owner's own messages; use "
              "--format evolution or waha with --from-contact", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        print(f"signing {args.format} webhooks with {METHODS[auth_method(settings, args.format)]}")
        return _simulate(args, settings, args.url or f"http://127.0.0.1:{settings.port}")
    except ConfigError as exc:
        print(f"simulate_gateway: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # urllib's URLError, refused connections and timeouts
        print(f"simulate_gateway: no answer from {args.url or 'the web process'}: "
              f"{getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1


def _simulate(args: argparse.Namespace, settings: Settings, base_url: str) -> int:
    ok = True
    for n in range(args.burst):
        if n:
            time.sleep(args.interval)
        delivery = build(args, time.time())
        for _ in range(2 if args.repeat_id else 1):
            ok = send(base_url, settings, args.format, delivery) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
