"""The original design's manual test flow, on the Procfile's real processes: a campaign is
ongoing, the owner sends a message from the phone, the campaign is paused_mobile, and after
the cooldown it is ongoing again. Once per gateway, with each gateway's real body and
signature; then the owner who keeps typing, and a worker stopped mid-cooldown.

Timings are printed, never asserted: the bounds below only catch wrong behaviour.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from dramatiq.common import dq_name

from models import keys
from models.settings import Settings
from scripts import simulate_gateway
from scripts.gateway_bodies import with_media
from scripts.stack import Stack
from tests import e2e_helpers as e2e
from tests import signatures
from tests.fixtures import gateway_body

pytestmark = pytest.mark.processes

COOLDOWN = 2
SECRET = signatures.new_webhook_secret()
ROTATED = base64.b64encode(os.urandom(24)).decode().rstrip("=")  # bare, unpadded: also taken
WAHA_KEY = "e2e-waha-key"
JWT_KEY = "e2e-evolution-jwt-key-of-32-characters"
QUEUED = "Mobile activity queued for processing"


@dataclass(frozen=True)
class Gateway:
    fixture: str
    workspace_id: int
    session_id: str
    path: str
    sign: Callable[[Stack, bytes], dict]


GATEWAYS = {
    # The Node gateway names its workspace in the body and signs with Standard Webhooks.
    "node": Gateway("node_mobile_activity_detected", 1, "ws1-acc3",
                    "/api/v1/whatsapp/webhook",
                    lambda stack, body: signatures.standard_webhooks_headers(SECRET, body)),
    # Evolution posts to the workspace's own URL (its `destination`) with a fixed token.
    "evolution": Gateway("evolution_messages_upsert_phone", 7, "shop-1",
                         "/api/v1/workspaces/7/whatsapp/webhook",
                         lambda stack, body: signatures.token_headers(stack.env["WEBHOOK_TOKEN"])),
    # WAHA signs with its HMAC key; the workspace comes from the one account of its session.
    "waha": Gateway("waha_message_any_app", 3, "default", "/api/v1/whatsapp/webhook",
                    lambda stack, body: signatures.waha_headers(WAHA_KEY, body)),
}
TYPING = Gateway("node_mobile_activity_detected", 1, "keeps-typing",
                 "/api/v1/whatsapp/webhook", GATEWAYS["node"].sign)
# A whatsapp-web.js gateway's own campaign send, labelled android by whatsapp-web.js.
OWN_SEND = Gateway("node_wwebjs_own_send", 1, "own-sends", "/api/v1/whatsapp/webhook",
                   GATEWAYS["node"].sign)
EVOLUTION_URL = "/api/v1/workspaces/7/whatsapp/webhook"


def jwt_bearer(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {simulate_gateway.evolution_jwt(JWT_KEY, time.time())}"}


def token_header(stack: Stack) -> dict[str, str]:
    return signatures.token_headers(stack.env["WEBHOOK_TOKEN"])


# Contract revision 2's new ways in, one Evolution delivery each: session, URL ({token} is
# WEBHOOK_TOKEN), headers, and the body's size when it carries a photo in base64.
MODES = {
    "query-token": ("shop-query", EVOLUTION_URL + "?token={token}", None, 0),
    "jwt": ("shop-jwt", EVOLUTION_URL, jwt_bearer, 0),
    "by-events": ("shop-events", EVOLUTION_URL + "/messages-upsert", jwt_bearer, 0),
    # Evolution's global webhook with WEBHOOK_BY_EVENTS appends the event after the query.
    "global-by-events": ("shop-global", "/api/v1/whatsapp/webhook?token={token}/messages-upsert",
                         None, 0),
    "media": ("shop-media", EVOLUTION_URL + "/messages-upsert", token_header, 8 * 1024 * 1024),
}


def stack_env(cooldown: int) -> dict[str, str]:
    return {"CAMPAIGN_CONFLICT_TIER_COOLDOWN": ",".join(f"{t}:{cooldown}" for t in (1, 2, 3, 4)),
            "WEBHOOK_SECRET": f"{SECRET} {ROTATED}", "WAHA_HMAC_KEY": WAHA_KEY,
            "EVOLUTION_JWT_KEY": JWT_KEY}


def seed(stack: Stack, gateway: Gateway, campaigns: int) -> None:
    stack.run_script("seed", "--workspace", str(gateway.workspace_id), "--session",
                     gateway.session_id, "--campaigns", str(campaigns))


def post(stack: Stack, gateway: Gateway, body: dict) -> float:
    """Post `body` as the gateway does; returns when the response came (epoch ms)."""
    raw = signatures.encode(body)
    status, reply = stack.post(gateway.path, raw, gateway.sign(stack, raw))
    answered_ms = time.time() * 1000
    assert (status, reply.get("message")) == (200, QUEUED), reply
    return answered_ms


def report(capsys, line: str) -> None:
    """Print past pytest's capture: these numbers are read by people, not asserted."""
    with capsys.disabled():
        print(f"\n  [e2e] {line}", end="")


@pytest.fixture(scope="module")
def stack():
    with Stack(env=stack_env(COOLDOWN)) as running:
        for gateway in [*GATEWAYS.values(), TYPING, OWN_SEND]:
            seed(running, gateway, campaigns=2)
        for session, *_ in MODES.values():
            running.run_script("seed", "--workspace", "7", "--session", session,
                               "--campaigns", "1")
        running.run_script("seed", "--workspace", "1", "--session", "rotated", "--campaigns", "1")
        running.start("web")
        e2e.start_worker(running)
        yield running


@pytest.mark.parametrize("name", list(GATEWAYS))
def test_phone_message_pauses_the_campaigns_until_the_phone_was_quiet_for_the_cooldown(
        stack, name, capsys):
    gw = GATEWAYS[name]
    assert [c.status for c in e2e.campaigns(stack, gw.workspace_id, gw.session_id)] \
        == ["ongoing", "ongoing"]

    answered_ms = post(stack, gw, gateway_body(gw.fixture))
    paused = e2e.wait_for_status(stack, gw.workspace_id, gw.session_id, "paused_mobile", 10)
    due_ms = e2e.last_activity_ms(stack, gw.workspace_id, gw.session_id) + COOLDOWN * 1000
    resumed = e2e.wait_for_status(stack, gw.workspace_id, gw.session_id, "ongoing",
                                  COOLDOWN + 15)

    pause_ms = max(c.paused_at_ms for c in paused) - answered_ms
    late_ms = max(c.auto_resume_at_ms for c in resumed) - due_ms
    report(capsys, f"{name:9} paused {pause_ms:+6.0f} ms after the webhook's response; "
                   f"resumed {late_ms:+6.0f} ms after due (last activity + {COOLDOWN} s)")
    assert all(c.auto_resume_at_ms >= due_ms for c in resumed), "resumed before due"
    assert [c.pause_count for c in resumed] == [1, 1]


def test_owner_who_keeps_typing_gets_the_resume_one_cooldown_after_the_last_message(
        stack, capsys):
    ws, sid = TYPING.workspace_id, TYPING.session_id
    post(stack, TYPING, typing_body(1))
    e2e.wait_for_status(stack, ws, sid, "paused_mobile", 10)
    first_ms = e2e.last_activity_ms(stack, ws, sid)

    time.sleep(max(0.0, (first_ms + 1200) / 1000 - time.time()))  # within the cooldown
    post(stack, TYPING, typing_body(2))
    last_ms = e2e.last_activity_ms(stack, ws, sid)
    resumed = e2e.wait_for_status(stack, ws, sid, "ongoing", COOLDOWN + 15)

    due_ms = last_ms + COOLDOWN * 1000
    late_ms = max(c.auto_resume_at_ms for c in resumed) - due_ms
    attempts = [attempt for event, attempt in e2e.pause_events(stack, ws, sid)
                if event == "resumed"]
    report(capsys, f"typing    second message {last_ms - first_ms} ms after the first; "
                   f"resumed {late_ms:+6.0f} ms after due from the last, by check #{attempts[0]}")
    assert last_ms - first_ms >= 1000
    assert all(c.auto_resume_at_ms >= due_ms for c in resumed), "resumed before the cooldown"
    assert [c.pause_count for c in resumed] == [1, 1]  # typing on pauses nothing twice


def test_a_gateways_own_send_labelled_android_pauses_nothing(stack):
    body = gateway_body(OWN_SEND.fixture)
    body["session_id"] = OWN_SEND.session_id
    raw = signatures.encode(body)

    status, reply = stack.post(OWN_SEND.path, raw, OWN_SEND.sign(stack, raw))

    assert (status, reply["reason"], reply["data"]["decided_by"]) \
        == (200, "gateway_device", "message_id"), reply
    time.sleep(0.5)  # a pause job, had one been queued, would have run by now
    assert stack.redis_client().exists(keys.activity(1, OWN_SEND.session_id)) == 0
    assert [c.status for c in e2e.campaigns(stack, 1, OWN_SEND.session_id)] == ["ongoing"] * 2


@pytest.mark.parametrize("mode", list(MODES))
def test_each_new_way_in_pauses_through_the_real_processes(stack, mode, capsys):
    session, url, headers, media = MODES[mode]
    body = gateway_body("evolution_messages_upsert_phone")
    body["instance"] = session
    raw = signatures.encode(with_media(body, media) if media else body)

    started = time.monotonic()
    status, reply = stack.post(url.format(token=stack.env["WEBHOOK_TOKEN"]), raw,
                               headers(stack) if headers else {})
    answered_ms = (time.monotonic() - started) * 1000
    (paused,) = e2e.wait_for_status(stack, 7, session, "paused_mobile", 10)

    assert (status, reply.get("message")) == (200, QUEUED), reply
    size = f" ({len(raw) / 2**20:.1f} MiB body)" if media else ""
    report(capsys, f"{mode:16} answered in {answered_ms:5.0f} ms{size}")
    assert paused.pause_count == 1


def test_a_delivery_signed_with_the_rotated_secret_pauses_and_its_redelivery_counts_once(stack):
    body = typing_body(1)
    body["session_id"] = "rotated"
    del body["data"]["message_id"]  # counted once by its webhook-id alone
    raw, key = signatures.encode(body), base64.b64decode(ROTATED + "=" * (-len(ROTATED) % 4))

    answers = [stack.post(TYPING.path, raw, simulate_gateway.standard_webhooks_headers(
        key, "msg_rotated_1", int(time.time()), raw))[1] for _ in range(2)]

    (paused,) = e2e.wait_for_status(stack, 1, "rotated", "paused_mobile", 10)
    assert answers[0]["message"] == QUEUED and answers[1].get("duplicate") is True
    assert paused.pause_count == 1
    activity = stack.redis_client().hget(keys.activity(1, "rotated"), "message_count")
    assert activity == b"1"


def typing_body(n: int) -> dict:
    """The Node gateway's fixture for the owner's n-th message on the TYPING session."""
    body = gateway_body(TYPING.fixture)
    body["session_id"] = TYPING.session_id
    body["data"]["message_id"] += f"-{n}"
    return body


def test_worker_stopped_by_sigterm_hands_back_its_pending_checks_for_the_next_worker(capsys):
    cooldown = 8  # long enough that the check is still pending after stop and restart
    gw = Gateway(TYPING.fixture, 1, "shutdown", TYPING.path, TYPING.sign)
    with Stack(env=stack_env(cooldown)) as stack:
        seed(stack, gw, campaigns=1)
        stack.start("web")
        e2e.start_worker(stack)
        body = gateway_body(gw.fixture)
        body["session_id"] = gw.session_id
        post(stack, gw, body)
        e2e.wait_for_status(stack, 1, gw.session_id, "paused_mobile", 10)
        due_ms = e2e.last_activity_ms(stack, 1, gw.session_id) + cooldown * 1000

        started = time.monotonic()
        stack.signal("worker")  # SIGTERM to the process group, as Heroku and honcho do
        exit_code = stack.wait_exit("worker", timeout=25)
        stopped_s = time.monotonic() - started

        assert exit_code == 0, stack.logs()
        assert [m["actor_name"] for m in delayed_in_redis(stack)] == ["auto_resume_campaign"]
        assert not stack.redis_client().keys(keys.broker_acks("*", "*")), "a check is still held"
        e2e.start_worker(stack)
        (resumed,) = e2e.wait_for_status(stack, 1, gw.session_id, "ongoing", cooldown + 15)

    report(capsys, f"shutdown  worker exited {stopped_s:.1f} s after SIGTERM; the next worker "
                   f"resumed {resumed.auto_resume_at_ms - due_ms:+6.0f} ms after due")
    assert resumed.auto_resume_at_ms >= due_ms


def delayed_in_redis(stack: Stack) -> list[dict]:
    """The messages waiting on the conflict queue's delay queue, in Dramatiq's own keys."""
    client = stack.redis_client()
    delayed = dq_name(Settings().queue)
    ids = client.lrange(keys.broker_queue(delayed), 0, -1)
    return [json.loads(client.hget(keys.broker_messages(delayed), i)) for i in ids]
