"""POST /api/v1/whatsapp/webhook and its workspace-scoped twin, each also with a last segment
naming the event (Evolution's byEvents: `.../webhook/messages-upsert`); the body decides."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

import dramatiq
import falcon
import gevent
import redis

from models.activity import ActivityEvent, ActivityStore
from models.errors import (
    BadRequest,
    InvalidPayload,
    PayloadTooLarge,
    SlowBody,
    StoreUnavailable,
    Unauthorized,
)
from models.settings import Settings
from web import devices, gateways, metrics
from web.auth import WebhookAuth
from web.body_slots import BodySlots
from web.workspace_auth import Verified, WorkspaceAuth

# (workspace_id, session_id, device_type, received_ms=epoch ms when the webhook was taken)
EnqueuePause = Callable[..., object]
READ_CHUNK = 64 * 1024
# Each read of READ_CHUNK bytes must arrive within this long (13 KB/s, far below any
# gateway's uplink): a client trickling its body would otherwise hold one of the few
# large-body slots (web.body_slots) for as long as it likes.
CHUNK_SECONDS = 5
ResolveWorkspace = Callable[[str], int]


class WebhookResource:
    def __init__(self, settings: Settings, store: ActivityStore, enqueue_pause: EnqueuePause,
                 resolve_workspace: ResolveWorkspace, clock: Callable[[], float] = time.time,
                 workspace_auth: WorkspaceAuth | None = None):
        self.settings = settings
        self.store = store
        self.enqueue_pause = enqueue_pause
        self.resolve_workspace = resolve_workspace
        self.auth = WebhookAuth(settings, clock)
        self.workspace_auth = workspace_auth or WorkspaceAuth(settings, clock=clock)
        self.clock = clock
        self.body_slots = BodySlots()

    def on_post(self, req: falcon.Request, resp: falcon.Response, workspace_id=None,
                event=None):
        headers = {k.lower(): v for k, v in req.headers.items()}
        with self.body_slots.reading(req.content_length):
            raw = read_body(req, self.settings.webhook_max_body_bytes)
            method, bound, body = self.authenticate(headers, raw, query_tokens(req),
                                                    workspace_id)
            report = gateways.read(decode_object(raw) if body is None else body)
            del raw, body  # a media body can be megabytes: not kept while the rest runs
        # Only a signed webhook-id is the sender's word that two deliveries are one.
        delivery = headers["webhook-id"] if method.endswith("standard-webhooks") else ""
        resp.media = self.take(report, workspace_id, delivery, bound)
        outcome = "duplicate" if resp.media.get("duplicate") else "accepted"
        metrics.WEBHOOKS.labels(resp.media.get("reason") or outcome).inc()

    def authenticate(self, headers: dict, raw: bytes, tokens: list[str],
                     url_workspace) -> tuple[str, int | None, dict | None]:
        """(the way that accepted the delivery, the workspace its credential binds it to or
        None for an install-wide one, the body when it had to be decoded to find the
        workspace it names); raise Unauthorized."""
        try:
            return self.auth.verify(headers, raw, tokens), None, None
        except Unauthorized as refused:
            body = None
            claimed, _ = gateways.checked(gateways.workspace_field, url_workspace)
            if claimed is None:
                body = _decoded_or_none(raw)
                claimed = _body_workspace(body)
            verified = self.workspace_auth.verify(headers, raw, tokens, claimed)
            if isinstance(verified, Verified):
                return verified.method, verified.workspace_id, body
            raise _refusal(str(refused), verified) from None

    def take(self, report, url_workspace, delivery_id: str = "",
             bound: int | None = None) -> dict:
        if isinstance(report, gateways.Ignored):
            return _ignored(report.reason, report.message)
        if not devices.is_phone_activity(report.device, self.settings.trigger_device_types):
            return _ignored("gateway_device", devices.why_not_activity(report.device,
                                                                      report.message_id),
                            report.device.as_data())
        event = self.event(report, url_workspace, delivery_id, bound)
        if not self.settings.enabled:
            return _ignored("feature_disabled", "CAMPAIGN_CONFLICT_ENABLED is false")
        now_ms = int(self.clock() * 1000)
        oldest_ms = now_ms - self.settings.activity_ttl * 1000
        if report.occurred_at_ms and report.occurred_at_ms < oldest_ms:
            return _ignored("stale_event", "The event is older than the activity TTL")
        trigger = event.device_type in self.settings.trigger_device_types
        recorded = self.store.record(event, now_ms=now_ms, queue_pause=trigger)
        if recorded.duplicate:
            return {"success": True, "duplicate": True, "message": "Already received"}
        if recorded.pause_queued:
            self.queue_pause(event, received_ms=now_ms)
        data = {"workspace_id": event.workspace_id, "session_id": event.session_id,
                **report.device.as_data()}
        if not trigger:
            return _ignored("device_type_not_trigger",
                            f"Device {event.device_type!r} is recorded but does not pause", data)
        return {"success": True, "message": "Mobile activity queued for processing",
                "data": data}

    def event(self, report: gateways.Report, url_workspace, delivery_id: str = "",
              bound: int | None = None) -> ActivityEvent:
        """The activity event; the workspace comes from the body (WAHA: its metadata), else the
        URL, else the workspace whose credential accepted the delivery (`bound`), else the one
        account with the session id. Raise InvalidPayload naming every field at fault, and
        Unauthorized when a workspace's credential was used for another workspace."""
        malformed = list(report.malformed)
        workspace = report.workspace_id
        url, url_ok = gateways.checked(gateways.workspace_field, url_workspace)
        if not url_ok and not _workspace_at_fault(malformed):
            malformed.append("workspace_id")
        if None not in (workspace, url) and workspace != url:
            # A gateway posting to one workspace's URL but naming another is misconfigured:
            # guessing either could pause the wrong tenant's campaigns, so say so instead.
            raise InvalidPayload(f"workspace_id {workspace} in the body does not match "
                                 f"workspace {url} of the URL")
        if workspace is None and not _workspace_at_fault(malformed):
            workspace = url if url is not None else bound
        if None not in (workspace, bound) and workspace != bound:
            raise Unauthorized(f"the credential is not valid for workspace {workspace}")
        if workspace is None and report.session_id and not malformed:
            workspace = self.resolve_workspace(report.session_id)
        missing = [name for name, value in (("workspace_id", workspace),
                                            ("session_id", report.session_id))
                   if value is None and not any(m.endswith(name) for m in malformed)]
        if missing or malformed:
            raise InvalidPayload(gateways.missing_fields_message(missing, malformed))
        return ActivityEvent(workspace, report.session_id, report.device_type, report.message_id,
                             delivery_id)

    def queue_pause(self, event: ActivityEvent, *, received_ms: int) -> None:
        try:
            self.enqueue_pause(event.workspace_id, event.session_id, event.device_type,
                               received_ms=received_ms)
        except (redis.RedisError, dramatiq.errors.DramatiqError) as exc:
            # Nothing half-written: drop the markers so the gateway's retry is taken afresh.
            with contextlib.suppress(StoreUnavailable):
                self.store.forget_delivery(event)
            raise StoreUnavailable(f"could not queue the pause: {exc}") from exc


def read_body(req: falcon.Request, limit: int) -> bytearray:
    """The raw body, never more than `limit` + 1 bytes of it in memory: PayloadTooLarge past
    the limit, whatever Content-Length said (absent with a chunked body, or false)."""
    length = req.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"Body is larger than {limit} bytes")
    if length is not None:
        stream = req.bounded_stream
    elif req.env.get("wsgi.input_terminated"):  # chunked: the server ends the stream
        stream = req.stream
    else:  # no length and a stream that may never end: there is no body
        return bytearray()
    body = bytearray()
    # Small reads: one huge read() makes gunicorn buffer, then copy, the whole body.
    while chunk := _read_within(stream, min(READ_CHUNK, limit + 1 - len(body))):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Body is larger than {limit} bytes")
    return body


def _read_within(stream, size: int) -> bytes:
    # gevent's timer interrupts the worker's blocking read (gunicorn's gevent workers patch
    # sockets); where nothing yields, as with an in-memory stream, it never fires.
    late = SlowBody(f"The body stopped arriving: less than {READ_CHUNK} bytes in "
                    f"{CHUNK_SECONDS} s")
    with gevent.Timeout(CHUNK_SECONDS, late):
        return stream.read(size)


def query_tokens(req: falcon.Request) -> list[str]:
    """The values of the `token` query parameter (a credential: never logged or echoed)."""
    value = req.params.get("token")
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def decode_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"Body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object")
    return body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _decoded_or_none(raw: bytes) -> dict | None:
    try:
        return decode_object(raw)
    except BadRequest:
        return None


def _body_workspace(body: dict | None) -> int | None:
    """The workspace a body names (WAHA: in its metadata), or None; never raises, since the
    delivery is not authenticated yet."""
    if body is None:
        return None
    try:
        report = gateways.read(body)
    except InvalidPayload:
        return None
    return report.workspace_id if isinstance(report, gateways.Report) else None


def _refusal(install_wide: str, workspace: str) -> Unauthorized:
    """One 401 message from both kinds of checks; "No credentials" alone when neither found
    anything to check."""
    if not workspace:
        return Unauthorized(install_wide)
    if install_wide.startswith("No credentials"):
        return Unauthorized(workspace[0].upper() + workspace[1:])
    return Unauthorized(f"{install_wide}; {workspace}")


def _workspace_at_fault(malformed: list[str]) -> bool:
    """A workspace id was given (in the body, WAHA's metadata or the URL) but is unusable."""
    return any(name.endswith("workspace_id") for name in malformed)


def _ignored(reason: str, message: str, data: dict | None = None) -> dict:
    body = {"success": True, "paused": False, "reason": reason, "message": message}
    if data:
        body["data"] = data
    return body
