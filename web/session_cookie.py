"""The operator page's sign-in cookie: proof that its bearer typed API_TOKEN, until it expires.

The value is `{expires}.{signature}`: an HMAC-SHA256 (the standard library's hmac) of the
expiry under a key derived from API_TOKEN, so the server keeps no session store, and changing
API_TOKEN signs every operator out. The cookie is HttpOnly and SameSite=Strict, so no other
site's page can send it; the page's own requests that change something also carry HEADER,
which a cross-site form cannot set (defence in depth).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import falcon

from models.errors import Unauthorized
from models.settings import Settings

NAME = "phoneguard_operator"
HEADER = "X-Phoneguard-Operator"
LIFETIME_SECONDS = 8 * 3600  # a working day; then the operator signs in again
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def _key(api_token: str) -> bytes:
    # A key of its own, so that the cookie's signature never equals any other use of the token.
    return hmac.new(api_token.encode(), b"phoneguard operator cookie v1", hashlib.sha256).digest()


def _signature(api_token: str, expires: int) -> str:
    digest = hmac.new(_key(api_token), str(expires).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(settings: Settings, given: str) -> bool:
    """Whether `given` is API_TOKEN, compared in constant time."""
    return bool(settings.api_token) and hmac.compare_digest(given.encode(),
                                                            settings.api_token.encode())


def issue(settings: Settings, *, now: float) -> str:
    """A cookie value valid for LIFETIME_SECONDS from `now` (epoch seconds)."""
    if not settings.api_token:
        raise Unauthorized("API_TOKEN is not set on this server, so nobody can sign in")
    expires = int(now) + LIFETIME_SECONDS
    return f"{expires}.{_signature(settings.api_token, expires)}"


def valid(settings: Settings, value: str, *, now: float) -> bool:
    """Whether `value` was issued with this API_TOKEN and has not expired."""
    expires, _, signature = value.partition(".")
    if not settings.api_token or not (expires.isascii() and expires.isdigit()) \
            or len(expires) > 12:
        return False
    expected = _signature(settings.api_token, int(expires))
    return hmac.compare_digest(signature.encode(), expected.encode()) and int(expires) > now


def signed_in(settings: Settings, req: falcon.Request, *, now: float) -> bool:
    """Whether the request comes from a signed-in operator page: a valid cookie, and HEADER
    on anything but a read."""
    if req.method not in _SAFE_METHODS and req.get_header(HEADER) != "1":
        return False
    return any(valid(settings, value, now=now) for value in req.get_cookie_values(NAME) or [])


def set_on(resp: falcon.Response, req: falcon.Request, value: str) -> None:
    """Set the cookie; Secure whenever the operator reached us over https, directly or
    through the platform's router."""
    resp.set_cookie(NAME, value, max_age=LIFETIME_SECONDS, path="/", http_only=True,
                    same_site="Strict", secure=req.forwarded_scheme == "https")


def clear_on(resp: falcon.Response) -> None:
    """Tell the browser to drop the cookie (an empty value that expired long ago)."""
    resp.unset_cookie(NAME, path="/", same_site="Strict")
