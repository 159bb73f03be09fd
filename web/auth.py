"""Webhook and API authentication; every comparison runs in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from models.errors import Unauthorized
from models.settings import Settings

TOLERANCE_SECONDS = 5 * 60


class WebhookAuth:
    """Accepts a request that proves itself by any one of the configured methods:
    Standard Webhooks, WAHA's HMAC, or a static token."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time):
        self.secret = settings.webhook_secret
        self.waha_key = settings.waha_hmac_key.encode() if settings.waha_hmac_key else None
        self.token = settings.webhook_token
        self.clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> str:
        """Return the method that accepted the request, or raise Unauthorized saying why."""
        problems = []
        for method, check in (("standard-webhooks", self._standard), ("waha-hmac", self._waha),
                              ("token", self._token)):
            problem = check(headers, body)
            if problem is None:
                return method
            if problem:
                problems.append(problem)
        raise Unauthorized(
            "; ".join(problems) if problems else
            "No credentials: sign the body (webhook-signature or X-Webhook-Hmac) or send "
            "X-Webhook-Token"
        )

    # Each check returns None when it accepts, "" when its headers are absent, else why not.
    def _standard(self, headers, body) -> str | None:
        msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature")
        if not (self.secret and signatures):
            return ""
        # Unix seconds: an over-long digit string would make int() itself raise.
        if not msg_id or not stamp or not (stamp.isascii() and stamp.isdigit()) \
                or len(stamp) > 12:
            return "webhook-id and a numeric webhook-timestamp must come with webhook-signature"
        if abs(self.clock() - int(stamp)) > TOLERANCE_SECONDS:
            return "webhook-timestamp is more than 5 minutes from now (expired or replayed)"
        signed = msg_id.encode() + b"." + stamp.encode() + b"." + body
        expected = base64.b64encode(hmac.new(self.secret, signed, hashlib.sha256).digest())
        for candidate in signatures.split():
            version, _, signature = candidate.partition(",")
            if version == "v1" and hmac.compare_digest(signature.encode(), expected):
                return None
        return "webhook-signature does not match the body"

    def _waha(self, headers, body) -> str | None:
        given = headers.get("x-webhook-hmac")
        if not (self.waha_key and given):
            return ""
        algorithm = headers.get("x-webhook-hmac-algorithm", "sha512").lower()
        if algorithm != "sha512":
            return f"X-Webhook-Hmac-Algorithm {algorithm[:16]!r} is not supported (use sha512)"
        expected = hmac.new(self.waha_key, body, hashlib.sha512).hexdigest()
        if hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
            return None
        return "X-Webhook-Hmac does not match the body"

    def _token(self, headers, body) -> str | None:
        given = headers.get("x-webhook-token") or _bearer(headers.get("authorization"))
        if not (self.token and given):
            return ""
        if hmac.compare_digest(given.encode(), self.token.encode()):
            return None
        return "the webhook token is wrong"


def check_bearer(settings: Settings, authorization: str | None) -> None:
    """The read APIs take `Authorization: Bearer <API_TOKEN>`."""
    if not settings.api_token:
        raise Unauthorized("API_TOKEN is not set on this server, so the read APIs are closed")
    given = _bearer(authorization)
    if not given or not hmac.compare_digest(given.encode(), settings.api_token.encode()):
        raise Unauthorized("Send Authorization: Bearer <API_TOKEN>")


def _bearer(value: str | None) -> str | None:
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None
