"""Domain errors mapped to HTTP once; every error body is {"success": false, "message": ...}."""

from __future__ import annotations

import logging

import dramatiq
import falcon
import peewee
import redis

from models.errors import (
    BadRequest,
    Busy,
    ConfigError,
    InvalidPayload,
    PayloadTooLarge,
    PhoneguardError,
    SessionNotFound,
    SlowBody,
    StoreUnavailable,
    Unauthorized,
)
from models.outages import OutageLog

log = logging.getLogger("phoneguard.web")
# A store that is down fails every request alike until it is back: one line per outage.
_outages = OutageLog(log)

STATUS = {
    BadRequest: falcon.HTTP_400,
    Unauthorized: falcon.HTTP_401,
    SessionNotFound: falcon.HTTP_404,
    SlowBody: falcon.HTTP_408,
    PayloadTooLarge: falcon.HTTP_413,
    InvalidPayload: falcon.HTTP_422,
    StoreUnavailable: falcon.HTTP_503,
    Busy: falcon.HTTP_503,
    ConfigError: falcon.HTTP_500,
}


def install(app: falcon.App) -> None:
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_error_handler(PhoneguardError, _domain)


def _fail(resp: falcon.Response, status: str, message: str) -> None:
    resp.status = status
    resp.media = {"success": False, "message": message}


def _domain(req, resp, exc: PhoneguardError, params):
    status = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), falcon.HTTP_500)
    if isinstance(exc, StoreUnavailable):
        _outages.failed(f"answering 503 ({req.method} {req.path})", exc)
        _fail(resp, status, "A backing store is unavailable; retry shortly")
        resp.append_header("Retry-After", "5")
        return
    _fail(resp, status, str(exc))
    if isinstance(exc, Busy):
        resp.append_header("Retry-After", "5")


def _http_error(req, resp, exc: falcon.HTTPError, params):
    message = exc.description or exc.title or "Request failed"
    if isinstance(exc, falcon.HTTPRouteNotFound):
        message = f"No such endpoint: {req.method} {req.path}"
    elif isinstance(exc, falcon.HTTPMethodNotAllowed):
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{req.method} is not allowed on {req.path}; use {allowed}"
    _fail(resp, exc.status, message)
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)


def _unexpected(req, resp, exc: Exception, params):
    # A database that is down or locked surfaces as a driver error: the caller should retry.
    if _is_database_outage(exc):
        _outages.failed(f"answering 503 ({req.method} {req.path}), database unavailable", exc)
        _fail(resp, falcon.HTTP_503, "The database is unreachable; retry shortly")
        return
    # Redis or the broker failing after a write committed (an operator's hold scheduling its
    # check, say): the write stands, and the caller's retry finds it done.
    if isinstance(exc, redis.RedisError | dramatiq.errors.DramatiqError):
        _outages.failed(f"answering 503 ({req.method} {req.path}), Redis unavailable", exc)
        _fail(resp, falcon.HTTP_503, "Redis or the broker is unreachable; retry shortly")
        resp.append_header("Retry-After", "5")
        return
    log.exception("%s %s failed", req.method, req.path)
    _fail(resp, falcon.HTTP_500, "Internal error; it has been logged")


def _is_database_outage(exc: Exception) -> bool:
    return isinstance(exc, peewee.OperationalError | peewee.InterfaceError)
