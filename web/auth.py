"""Webhook and API authentication; every comparison runs in constant time.

A webhook proves itself by any one of five ways: Standard Webhooks (WEBHOOK_SECRET, several
secrets during a rotation), WAHA's HMAC (WAHA_HMAC_KEY), the static token (WEBHOOK_TOKEN) in
`X-Webhook-Token`, `Authorization: Bearer` or `?token=`, and Evolution's `jwt_key`
(EVOLUTION_JWT_KEY). No credential a request carries is ever repeated in a message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import jwt
from jwt.warnings import InsecureKeyLengthWarning
from standardwebhooks import Webhook

from models.errors import Unauthorized
from models.settings import Settings

TOLERANCE_SECONDS = 5 * 60
# Evolution and phoneguard usually share a host or a data centre; a few seconds of skew is all
# an `exp` is allowed past.
JWT_LEEWAY_SECONDS = 10
# Evolution's byEvents appends "/<event>" to the URL it was given, query string included, so a
# `?token=T` URL arrives as `?token=T/messages-upsert`.
EVENT_SEGMENT = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# The jwt_key is whatever the operator typed into Evolution; PyJWT would warn about its length
# on every delivery, and refusing it would leave such an instance without a way in.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

Check = Callable[[Mapping[str, str], bytes, Sequence[str]], "str | None"]


class WebhookAuth:
    """Accepts a request that proves itself by any one of the configured ways."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time):
        self.signers = [Webhook(key) for key in settings.webhook_secrets]
        self.waha_key = settings.waha_hmac_key.encode() if settings.waha_hmac_key else None
        self.token = settings.webhook_token
        self.jwt_key = settings.evolution_jwt_key
        self.clock = clock
        self.checks: list[tuple[str, Check]] = [
            ("standard-webhooks", self._standard), ("waha-hmac", self._waha),
            ("token", self._token_header), ("bearer-token", self._bearer_token),
            ("query-token", self._query_token), ("evolution-jwt", self._jwt)]

    def verify(self, headers: Mapping[str, str], body: bytes,
               query_tokens: Sequence[str] = ()) -> str:
        """Return the way that accepted the request, or raise Unauthorized saying which checks
        failed. `headers` have lower-case names; `query_tokens` are the `?token=` values."""
        problems = []
        for method, check in self.checks:
            problem = check(headers, body, query_tokens)
            if problem is None:
                return method
            if problem:
                problems.append(problem)
        raise Unauthorized("; ".join(problems) if problems else self._no_credentials())

    def _no_credentials(self) -> str:
        ways = [way for way, on in (
            ("sign the body (webhook-signature)", self.signers),
            ("sign the body (X-Webhook-Hmac)", self.waha_key),
            ("send X-Webhook-Token, Authorization: Bearer or ?token= with WEBHOOK_TOKEN",
             self.token),
            ("send Evolution's Authorization: Bearer <JWT> (jwt_key)", self.jwt_key),
            ("use a credential issued to the workspace (python -m scripts.credentials)", True))
            if on]
        return "No credentials: " + ", or ".join(ways)

    # Each check returns None when it accepts, "" when its credential is absent, else why not.
    def _standard(self, headers, body, query_tokens) -> str | None:
        return standard_problem(self.signers, headers, body, self.clock())

    def _waha(self, headers, body, query_tokens) -> str | None:
        return waha_problem([self.waha_key] if self.waha_key else [], headers, body)

    def _token_header(self, headers, body, query_tokens) -> str | None:
        given = headers.get("x-webhook-token")
        if not (self.token and given):
            return ""
        if _same(given, self.token):
            return None
        return "X-Webhook-Token is not the webhook token (WEBHOOK_TOKEN)"

    def _bearer_token(self, headers, body, query_tokens) -> str | None:
        given = bearer(headers.get("authorization"))
        if not (self.token and given):
            return ""
        if _same(given, self.token):
            return None
        return "the bearer value is not the webhook token (WEBHOOK_TOKEN)"

    def _query_token(self, headers, body, query_tokens) -> str | None:
        if not query_tokens:
            return ""
        if not self.token:
            return "?token= was sent but WEBHOOK_TOKEN is not set on this server"
        if any(_is_query_token(given, self.token) for given in query_tokens):
            return None
        return "?token= is not the webhook token (WEBHOOK_TOKEN)"

    def _jwt(self, headers, body, query_tokens) -> str | None:
        given = bearer(headers.get("authorization"))
        if not given:
            return ""
        if not self.jwt_key:
            return ("the bearer value looks like a JWT but EVOLUTION_JWT_KEY is not set on this "
                    "server") if JWT_SHAPE.fullmatch(given) else ""
        try:
            jwt.decode(given, self.jwt_key, algorithms=["HS256"],
                       options={"require": ["exp", "iat"]}, leeway=JWT_LEEWAY_SECONDS)
        except jwt.InvalidTokenError as exc:
            return _jwt_problem(exc)
        return None


def standard_problem(signers: Sequence[Webhook], headers: Mapping[str, str], body: bytes,
                     now: float) -> str | None:
    """Standard Webhooks: None when a signature is one of the signers', "" when the delivery is
    not signed that way (or there are no signers), else why it is refused."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (signers and signatures):
        return ""
    # Unix seconds: an over-long digit string would make int() itself raise.
    if not msg_id or not stamp or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        return "webhook-id and a numeric webhook-timestamp must come with webhook-signature"
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        return "webhook-timestamp is more than 5 minutes from now (expired or replayed)"
    if _matches_any(signers, msg_id, int(stamp), body, _v1_signatures(signatures)):
        return None
    return "webhook-signature does not match the body"


def waha_problem(keys: Sequence[bytes], headers: Mapping[str, str], body: bytes) -> str | None:
    """WAHA's X-Webhook-Hmac: None when it is the HMAC-SHA512 of the body with one of `keys`,
    "" when the delivery is not signed that way (or there are no keys), else why not."""
    given = headers.get("x-webhook-hmac")
    if not (keys and given):
        return ""
    algorithm = headers.get("x-webhook-hmac-algorithm", "sha512").lower()
    if algorithm != "sha512":
        return f"X-Webhook-Hmac-Algorithm {algorithm[:16]!r} is not supported (use sha512)"
    signed = given.strip().lower().encode()
    if any(hmac.compare_digest(signed, hmac.new(key, body, hashlib.sha512).hexdigest().encode())
           for key in keys):
        return None
    return "X-Webhook-Hmac does not match the body"


def _jwt_problem(exc: jwt.InvalidTokenError) -> str:
    """Why a bearer JWT was refused, in words of our own: PyJWT's messages may quote parts of
    the token."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the bearer JWT has expired (its exp is past)"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the bearer JWT has no {exc.claim} claim (Evolution's carry exp and iat)"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the bearer JWT is issued in the future (iat or nbf; check the clocks)"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "the bearer JWT is not signed with HS256"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "the bearer JWT is not signed with EVOLUTION_JWT_KEY"
    if isinstance(exc, jwt.DecodeError):
        return "the bearer value is not a well-formed JWT signed with EVOLUTION_JWT_KEY"
    return "the bearer JWT's claims are invalid (exp and iat must be numbers)"


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1,<base64>` signatures of a webhook-signature header; others skipped."""
    found = []
    for candidate in header.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def _matches_any(signers: Sequence[Webhook], msg_id: str, stamp: int, body: bytes,
                 given: list[bytes]) -> bool:
    """Whether any given signature is one of the signers'. The library signs; its verify() is
    not used because it reads the wall clock (time here is injected) and raises other errors
    than its own on a malformed header."""
    if not given:
        return False
    try:
        text = body.decode()  # the library signs text; a body that is not UTF-8 was not signed
    except UnicodeDecodeError:
        return False
    moment = dt.datetime.fromtimestamp(stamp, dt.UTC)
    for signer in signers:
        expected = base64.b64decode(signer.sign(msg_id, moment, text).partition(",")[2])
        if any(hmac.compare_digest(expected, signature) for signature in given):
            return True
    return False


def _is_query_token(given: str, token: str) -> bool:
    return any(_same(candidate, token) for candidate in query_token_candidates(given))


def query_token_candidates(given: str) -> list[str]:
    """What a `?token=` value may be: itself, or, as Evolution's byEvents appends "/<event>"
    after the query, the part before that segment."""
    head, slash, event = given.rpartition("/")
    if slash and EVENT_SEGMENT.fullmatch(event):
        return [head, given]
    return [given]


def _same(given: str, expected: str) -> bool:
    # A query value may hold lone surrogates (undecodable %-escapes); they match nothing.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def check_bearer(settings: Settings, authorization: str | None) -> None:
    """The read APIs take `Authorization: Bearer <API_TOKEN>`."""
    if not settings.api_token:
        raise Unauthorized("API_TOKEN is not set on this server, so the read APIs are closed")
    given = bearer(authorization)
    if not given or not _same(given, settings.api_token):
        raise Unauthorized("Send Authorization: Bearer <API_TOKEN>")


def bearer(value: str | None) -> str | None:
    """The value of an `Authorization: Bearer <value>` header, or None."""
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None
