"""Post webhooks to phoneguard as a real gateway would: bodies shaped like the gateway's own
(fresh timestamps, unique message ids), signed the way that gateway signs. For demos, and to
check a deployment's webhook end to end.

Formats and how each is signed by default (--auth auto):
  node       the original Node gateway's mobile_activity_detected (workspace in the body):
             Standard Webhooks with WEBHOOK_SECRET (the first of several), else X-Webhook-Token
  evolution  Evolution API messages.upsert: Authorization: Bearer <JWT> with EVOLUTION_JWT_KEY
             (its jwt_key), else X-Webhook-Token with WEBHOOK_TOKEN
  waha       WAHA message.any (the device is payload.source, app or api): X-Webhook-Hmac
             (sha512) with WAHA_HMAC_KEY, else X-Webhook-Token
--auth picks one way: standard-webhooks, waha-hmac, token (X-Webhook-Token), bearer
(Authorization: Bearer WEBHOOK_TOKEN), query-token (?token=WEBHOOK_TOKEN, as Evolution's global
webhook and WAHA Core must), jwt (Evolution's jwt_key).
Evolution and WAHA post to /api/v1/workspaces/N/whatsapp/webhook with --workspace N, else to
/api/v1/whatsapp/webhook (the service then finds the workspace from the session id).
--by-events appends the event's name as Evolution's byEvents does (`.../messages-upsert`, after
the query string too, so ?token=T becomes ?token=T/messages-upsert, as Evolution sends it).

Examples:
  python -m scripts.simulate_gateway --session demo --workspace 1
  python -m scripts.simulate_gateway --format waha --session demo --burst 5 --interval 2
  python -m scripts.simulate_gateway --format evolution --session demo --repeat-id
  python -m scripts.simulate_gateway --format evolution --session demo --auth query-token \\
      --by-events                                   (Evolution's global webhook)
  python -m scripts.simulate_gateway --format evolution --session demo --auth jwt
  python -m scripts.simulate_gateway --format evolution --session demo --media-bytes 8000000
  python -m scripts.simulate_gateway --format node --session demo --own-send  (pauses nothing)
  python -m scripts.simulate_gateway --format waha --session demo --device api  (ignored)

Reads PORT, WEBHOOK_SECRET, WAHA_HMAC_KEY, WEBHOOK_TOKEN and EVOLUTION_JWT_KEY. Prints each
response (bodies over 1 KiB by their size); exits 1 when any post is answered with anything but
2xx (or not at all), 2 when nothing to sign with.
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
import urllib.parse
import urllib.request
from dataclasses import dataclass

import jwt

from models.errors import ConfigError
from models.settings import Settings
from scripts.gateway_bodies import (
    evolution_body,
    node_body,
    own_send_id,
    waha_body,
    with_media,
)

FORMATS = ("node", "evolution", "waha")
DEFAULT_DEVICE = {"node": "android", "evolution": "android", "waha": "app"}
# The label each gateway puts on its own send: whatsapp-web.js says android for any long id,
# Evolution's Baileys says web, WAHA NOWEB sometimes app.
OWN_SEND_LABEL = {"node": "android", "evolution": "web", "waha": "app"}
METHODS = {"standard-webhooks": "Standard Webhooks (WEBHOOK_SECRET)",
           "waha-hmac": "X-Webhook-Hmac sha512 (WAHA_HMAC_KEY)",
           "token": "X-Webhook-Token (WEBHOOK_TOKEN)",
           "bearer": "Authorization: Bearer (WEBHOOK_TOKEN)",
           "query-token": "?token= in the URL (WEBHOOK_TOKEN)",
           "jwt": "Evolution's jwt_key: Authorization: Bearer <JWT> (EVOLUTION_JWT_KEY)"}
NEEDS = {"standard-webhooks": "WEBHOOK_SECRET", "waha-hmac": "WAHA_HMAC_KEY",
         "token": "WEBHOOK_TOKEN", "bearer": "WEBHOOK_TOKEN", "query-token": "WEBHOOK_TOKEN",
         "jwt": "EVOLUTION_JWT_KEY"}


def sign_standard_webhooks(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">,
    keyed with the decoded part of WEBHOOK_SECRET after whsec_."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def sign_waha(key: str, body: bytes) -> str:
    """WAHA's X-Webhook-Hmac: hex HMAC-SHA512 of the raw body."""
    return hmac.new(key.encode(), body, hashlib.sha512).hexdigest()


def evolution_jwt(key: str, now: float) -> str:
    """The bearer token Evolution sends when an instance's webhook headers hold jwt_key: its
    WebhookController signs {iat, exp: iat + 600, app, action} with HS256."""
    iat = int(now)
    return jwt.encode({"iat": iat, "exp": iat + 600, "app": "evolution", "action": "webhook"},
                      key, algorithm="HS256")


def standard_webhooks_headers(secret: bytes, msg_id: str, timestamp: int,
                              body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_standard_webhooks(secret, msg_id, timestamp, body)}


def waha_headers(key: str, request_id: str, timestamp_ms: int, body: bytes) -> dict[str, str]:
    return {"X-Webhook-Request-Id": request_id, "X-Webhook-Timestamp": str(timestamp_ms),
            "X-Webhook-Hmac": sign_waha(key, body), "X-Webhook-Hmac-Algorithm": "sha512"}


def auth_method(settings: Settings, fmt: str, wanted: str = "auto") -> str:
    """How `fmt` signs with these settings: `wanted`, or with auto the gateway's own method
    when its key is set, else the static token; ConfigError naming the variables when the
    key it needs is not set."""
    if wanted != "auto":
        if not _configured(settings, wanted):
            raise ConfigError(f"--auth {wanted} needs {NEEDS[wanted]}, the same value the web "
                              "process has")
        return wanted
    own = {"node": "standard-webhooks", "waha": "waha-hmac", "evolution": "jwt"}[fmt]
    if _configured(settings, own):
        return own
    if settings.webhook_token:
        return "token"
    raise ConfigError(f"nothing to sign {fmt} webhooks with: set {NEEDS[own]} or WEBHOOK_TOKEN, "
                      "the same value the web process has")


def _configured(settings: Settings, method: str) -> bool:
    return bool({"standard-webhooks": settings.webhook_secrets,
                 "waha-hmac": settings.waha_hmac_key,
                 "jwt": settings.evolution_jwt_key}.get(method, settings.webhook_token))


def auth_headers(settings: Settings, method: str, delivery_id: str, body: bytes,
                 now: float) -> dict[str, str]:
    """The authentication headers of `method` for `body`, signed at `now` (epoch seconds)."""
    if method == "standard-webhooks":
        return standard_webhooks_headers(settings.webhook_secrets[0], delivery_id, int(now),
                                         body)
    if method == "waha-hmac":
        return waha_headers(settings.waha_hmac_key, delivery_id, int(now * 1000), body)
    if method == "jwt":
        return {"Authorization": f"Bearer {evolution_jwt(settings.evolution_jwt_key, now)}"}
    if method == "bearer":
        return {"Authorization": f"Bearer {settings.webhook_token}"}
    if method == "token":
        return {"X-Webhook-Token": settings.webhook_token}
    return {}  # query-token: in the URL


@dataclass(frozen=True)
class Delivery:
    """One webhook as the gateway sends it; a retry resends the same id and the same body."""

    path: str
    delivery_id: str
    body: bytes
    label: str


def build(args: argparse.Namespace, now: float) -> Delivery:
    device = args.device or (OWN_SEND_LABEL if args.own_send else DEFAULT_DEVICE)[args.format]
    bare_id = own_send_id() if args.own_send else None
    if args.format == "node":
        body = node_body(args.session, args.workspace, device, now, bare_id)
        message_id = body["data"]["message_id"]
    elif args.format == "evolution":
        body = evolution_body(args.session, device, not args.from_contact, now, bare_id)
        if args.media_bytes:
            body = with_media(body, args.media_bytes)
        message_id = body["data"]["key"]["id"]
    else:
        body = waha_body(args.session, device, not args.from_contact, now, bare_id)
        message_id = body["payload"]["id"]
    scoped = args.workspace is not None and args.format != "node"
    path = (f"/api/v1/workspaces/{args.workspace}/whatsapp/webhook" if scoped
            else "/api/v1/whatsapp/webhook")
    raw = json.dumps(body).encode()
    label = f"{args.format} session={args.session} device={device} id={message_id}"
    if args.media_bytes:
        label += f" body={len(raw)} bytes"
    return Delivery(path, "msg_" + secrets.token_hex(12), raw, label)


def url_of(base_url: str, path: str, body: bytes, query_token: str | None,
           by_events: bool) -> str:
    """The URL the gateway posts to. Evolution's byEvents appends `/<event>` to the whole URL
    it was given, query string included, so a ?token= URL ends in ?token=T/<event>."""
    url = base_url.rstrip("/") + path
    if query_token:
        url += "?token=" + urllib.parse.quote(query_token, safe="")
    if by_events:  # Evolution: event.replace(/[.-]/g, '_'), then '_' -> '-', lower case
        url += "/" + json.loads(body)["event"].replace(".", "-").replace("_", "-").lower()
    return url


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    """POST `body`; (status, response text). Raises OSError when nothing answers."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "phoneguard-simulate-gateway",
        **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def send(base_url: str, settings: Settings, args: argparse.Namespace,
         delivery: Delivery) -> bool:
    """Sign and post one delivery, print the answer; True when it was 2xx."""
    method = auth_method(settings, args.format, args.auth)
    headers = auth_headers(settings, method, delivery.delivery_id, delivery.body, time.time())
    if args.format == "node":
        headers["X-Webhook-Source"] = "whatsapp-service"
    query_token = settings.webhook_token if method == "query-token" else None
    url = url_of(base_url, delivery.path, delivery.body, query_token, args.by_events)
    status, text = post(url, delivery.body, headers)
    shown = text.strip() if len(text) <= 1024 else f"({len(text)} bytes)"
    print(f"{delivery.label} -> {status} {shown}", flush=True)
    return 200 <= status < 300


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m scripts.simulate_gateway", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="base URL of the web process (default http://127.0.0.1:$PORT)")
    p.add_argument("--format", choices=FORMATS, default="node", help="gateway (default node)")
    p.add_argument("--auth", choices=["auto", *METHODS], default="auto",
                   help="how to authenticate (default auto: the gateway's own way when its key "
                        "is set, else X-Webhook-Token)")
    p.add_argument("--by-events", action="store_true",
                   help="append the event's name to the URL, as Evolution's byEvents does")
    p.add_argument("--session", default="demo", help="session id (default demo)")
    p.add_argument("--workspace", type=int, metavar="N", help="workspace id")
    p.add_argument("--device", help="android, ios, web... (waha: app or api; default android, "
                                    "waha app)")
    p.add_argument("--own-send", action="store_true",
                   help="a message the gateway itself sent (a 3EB0 id, labelled as the gateway "
                        "labels it): pauses nothing")
    p.add_argument("--media-bytes", type=_count, metavar="N",
                   help="evolution: a photo with base64 media inline, the body N bytes")
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


def _usage_error(args: argparse.Namespace) -> str | None:
    if args.from_contact and args.format == "node":
        return ("the node gateway only reports the owner's own messages; use --format "
                "evolution or waha with --from-contact")
    if args.media_bytes and args.format != "evolution":
        return "--media-bytes is Evolution's base64 media: use it with --format evolution"
    return None


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    problem = _usage_error(args)
    if problem:
        print(f"simulate_gateway: {problem}", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        method = auth_method(settings, args.format, args.auth)
        print(f"signing {args.format} webhooks with {METHODS[method]}")
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
            ok = send(base_url, settings, args, delivery) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
