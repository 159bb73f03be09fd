"""What the benchmark sends: raw HTTP requests shaped and signed as the gateways send them.

The bodies and signatures are scripts.simulate_gateway's own, so the benchmark posts exactly
what a demo or a deployment check posts. Two kinds of webhook traffic, as a gateway sends it:
- acknowledged only: customers' messages (Evolution `fromMe: false`) and the gateway's own
  sends (WAHA `source: api`); answered 200 without touching Redis;
- phone activity: the owner typing on the phone (Node gateway `android`, Evolution `ios`,
  WAHA `app`), unique message ids, spread over many sessions.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time

from models.settings import Settings
from scripts import simulate_gateway as gw

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def raw_request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def get(path: str) -> bytes:
    return raw_request("GET", path)


def webhook(settings: Settings, fmt: str, body: dict, workspace_id: int, now: float) -> bytes:
    """A signed webhook request: the Node gateway posts to the plain path (workspace in the
    body), Evolution and WAHA to the workspace's path, as they are configured in production."""
    raw = json.dumps(body).encode()
    headers = gw.auth_headers(settings, gw.auth_method(settings, fmt),
                              "msg_" + secrets.token_hex(12), raw, now)
    path = ("/api/v1/whatsapp/webhook" if fmt == "node"
            else f"/api/v1/workspaces/{workspace_id}/whatsapp/webhook")
    return raw_request("POST", path, raw, headers)


def acknowledged(settings: Settings, workspace_id: int, sessions: list[str],
                 count: int) -> list[bytes]:
    """`count` webhooks that are acknowledged only: half customers' messages on Evolution,
    half the gateway's own sends on WAHA."""
    now = time.time()
    out = []
    for i, session in zip(range(count), itertools.cycle(sessions)):
        if i % 2:
            body = gw.waha_body(session, "api", True, now)
            out.append(webhook(settings, "waha", body, workspace_id, now))
        else:
            body = gw.evolution_body(session, "android", False, now)
            out.append(webhook(settings, "evolution", body, workspace_id, now))
    return out


def phone(settings: Settings, workspace_id: int, sessions: list[str], count: int,
          start: int = 0) -> list[bytes]:
    """`count` phone activity webhooks, round robin over `sessions`, each with a fresh message
    id, in turn from the Node gateway, Evolution and WAHA (beginning with the `start`th)."""
    now = time.time()
    out = []
    for i, session in zip(range(count), itertools.cycle(sessions)):
        fmt = ("node", "evolution", "waha")[(start + i) % 3]
        if fmt == "node":
            body = gw.node_body(session, workspace_id, "android", now)
        elif fmt == "evolution":
            body = gw.evolution_body(session, "ios", True, now)
        else:
            body = gw.waha_body(session, "app", True, now)
        out.append(webhook(settings, fmt, body, workspace_id, now))
    return out


def mixed(settings: Settings, workspace_id: int, sessions: list[str], count: int,
          phone_share: float) -> list[bytes]:
    """Gateway traffic as it comes: mostly acknowledged only, `phone_share` phone activity."""
    phones = int(count * phone_share)
    acks = acknowledged(settings, workspace_id, sessions, count - phones)
    calls = phone(settings, workspace_id, sessions, phones)
    out, step = [], max(1, round(count / max(phones, 1)))
    for i in range(count):
        source = calls if (i % step == 0 and calls) else (acks or calls)
        out.append(source.pop())
    return out
