"""Gateway deliveries signed as each gateway signs them, for every test that posts one (the
bodies themselves come from tests.fixtures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid


def encode(body) -> bytes:
    """A body as the gateway sends it: JSON bytes (bytes pass through untouched)."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret, `whsec_` + base64, as WEBHOOK_SECRET holds it."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def standard_signature(key: bytes, body: bytes, msg_id: str, stamp: int) -> str:
    """`webhook-signature` of a Standard Webhooks delivery signed with `key`."""
    signed = f"{msg_id}.{stamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def standard_headers(key: bytes, body: bytes, *, at: float, msg_id="msg_1") -> dict:
    """Headers of a Standard Webhooks delivery stamped `at` (epoch seconds)."""
    stamp = int(at)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": standard_signature(key, body, msg_id, stamp)}


def standard_webhooks_headers(secret: str, body: bytes) -> dict[str, str]:
    """Headers of a fresh delivery from the Node gateway (Standard Webhooks, signed now with
    the `whsec_` secret, with a new webhook-id)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return {**standard_headers(key, body, at=time.time(), msg_id=f"msg_{uuid.uuid4().hex}"),
            "X-Webhook-Source": "whatsapp-service"}


def waha_headers(key: str, body: bytes) -> dict[str, str]:
    """Headers of a WAHA delivery with an HMAC key configured."""
    digest = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    return {"X-Webhook-Hmac": digest, "X-Webhook-Hmac-Algorithm": "sha512"}


def token_headers(token: str) -> dict[str, str]:
    """Headers of a gateway that can only send a fixed header (Evolution API)."""
    return {"X-Webhook-Token": token}
