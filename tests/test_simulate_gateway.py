"""scripts.simulate_gateway against the real Falcon app in a server thread: what it posts is
accepted, signed as each gateway signs, and pauses what a gateway's delivery would."""

import base64
import re
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from models import keys
from models.settings import Settings
from scripts import simulate_gateway
from tests.script_helpers import run
from web.app import create_app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web(stub_broker, settings, store, db, bare_env):
    """The real Falcon app in a wsgiref server thread, with the StubBroker and private Redis."""
    from actors.conflict import handle_mobile_activity

    app = create_app(settings, store, handle_mobile_activity.send)
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def keys_of(settings: Settings) -> dict[str, str]:
    """The web app's credentials, as the gateway's environment would hold them."""
    secret = base64.b64encode(settings.webhook_secrets[0]).decode()
    return {"WEBHOOK_SECRET": "whsec_" + secret,
            "WAHA_HMAC_KEY": settings.waha_hmac_key, "WEBHOOK_TOKEN": settings.webhook_token,
            "EVOLUTION_JWT_KEY": settings.evolution_jwt_key}


def simulate(web, *args: str) -> int:
    return run(simulate_gateway.main, "--url", web, *args)


def pause_jobs(broker) -> int:
    return broker.queues["campaign-conflict"].qsize()


@pytest.mark.parametrize("fmt, variable, method", [
    ("node", "WEBHOOK_SECRET", "Standard Webhooks"), ("node", "WEBHOOK_TOKEN", "X-Webhook-Token"),
    ("evolution", "WEBHOOK_TOKEN", "X-Webhook-Token"), ("waha", "WAHA_HMAC_KEY", "sha512")])
def test_simulated_gateways_are_accepted_when_signed_with_the_one_key_configured(
        web, bare_env, settings, stub_broker, redis_client, fmt, variable, method, capsys):
    bare_env.setenv(variable, keys_of(settings)[variable])

    code = simulate(web, "--format", fmt, "--session", "s1", "--workspace", "3")

    out = capsys.readouterr().out
    assert code == 0, out
    assert f"signing {fmt} webhooks with" in out and method in out.splitlines()[0]
    assert "-> 200" in out and "Mobile activity queued for processing" in out
    assert redis_client.hget(keys.activity(3, "s1"), "message_count") == b"1"
    assert pause_jobs(stub_broker) == 1


@pytest.mark.parametrize("variable, args, method", [
    ("WEBHOOK_TOKEN", ("--auth", "query-token"), "?token="),
    ("WEBHOOK_TOKEN", ("--auth", "query-token", "--by-events"), "?token="),
    ("WEBHOOK_TOKEN", ("--auth", "bearer", "--by-events"), "Bearer (WEBHOOK_TOKEN)"),
    ("EVOLUTION_JWT_KEY", (), "jwt_key"),
    ("WEBHOOK_TOKEN", ("--media-bytes", "300000"), "X-Webhook-Token"),
], ids=["query-token", "query-token-by-events", "bearer-by-events", "jwt", "media"])
def test_the_simulated_evolution_is_accepted_in_each_of_its_modes(
        web, bare_env, settings, stub_broker, redis_client, variable, args, method, capsys):
    bare_env.setenv(variable, keys_of(settings)[variable])

    code = simulate(web, "--format", "evolution", "--session", "s1", "--workspace", "3", *args)

    out = capsys.readouterr().out
    assert code == 0, out
    assert method in out.splitlines()[0] and "Mobile activity queued for processing" in out
    assert pause_jobs(stub_broker) == 1
    if "--media-bytes" in args:
        assert re.search(r"body=(299[0-9]{3}|300000) bytes", out)


@pytest.mark.parametrize("fmt", ["node", "evolution", "waha"])
def test_a_gateways_own_send_pauses_nothing_whatever_its_label(
        web, bare_env, settings, stub_broker, redis_client, fmt, capsys):
    bare_env.setenv("WEBHOOK_TOKEN", settings.webhook_token)
    code = simulate(web, "--format", fmt, "--session", "s1", "--workspace", "3", "--own-send")
    out = capsys.readouterr().out
    assert code == 0 and "gateway_device" in out, out
    assert redis_client.exists(keys.activity(3, "s1")) == 0 and pause_jobs(stub_broker) == 0


def test_media_is_evolutions_alone(bare_env, capsys):
    assert run(simulate_gateway.main, "--format", "waha", "--media-bytes", "10") == 2
    assert "--format evolution" in capsys.readouterr().err


def test_a_repeated_delivery_is_taken_once_like_a_gateway_retry(
        web, bare_env, settings, redis_client, capsys):
    bare_env.setenv("WAHA_HMAC_KEY", settings.waha_hmac_key)
    code = simulate(web, "--format", "waha", "--session", "s1", "--workspace", "3", "--repeat-id")
    responses = [line for line in capsys.readouterr().out.splitlines() if "-> 200" in line]
    assert code == 0 and len(responses) == 2
    assert '"duplicate": true' in responses[1]
    assert redis_client.hget(keys.activity(3, "s1"), "message_count") == b"1"


def test_a_burst_of_typing_counts_every_message_and_queues_one_pause(
        web, bare_env, settings, stub_broker, redis_client):
    bare_env.setenv("WEBHOOK_SECRET", keys_of(settings)["WEBHOOK_SECRET"])
    code = simulate(web, "--session", "s1", "--workspace", "3", "--burst", "3", "--interval", "0")
    assert code == 0
    assert redis_client.hget(keys.activity(3, "s1"), "message_count") == b"3"
    assert pause_jobs(stub_broker) == 1


@pytest.mark.parametrize("args, reason", [
    (("--format", "waha", "--device", "api"), "gateway_device"),
    (("--format", "waha", "--from-contact"), "not_from_me"),
    (("--format", "evolution", "--device", "web"), "gateway_device"),
    (("--format", "evolution", "--from-contact"), "not_from_me")])
def test_gateway_sends_and_contact_messages_are_acknowledged_and_pause_nothing(
        web, bare_env, settings, stub_broker, redis_client, args, reason, capsys):
    for variable, value in keys_of(settings).items():
        bare_env.setenv(variable, value)
    assert simulate(web, *args, "--session", "s1", "--workspace", "3") == 0
    assert reason in capsys.readouterr().out
    assert redis_client.exists(keys.activity(3, "s1")) == 0 and pause_jobs(stub_broker) == 0


def test_without_workspace_the_service_finds_it_from_the_session(
        web, bare_env, settings, account_factory, redis_client):
    account_factory(7, "shop-1")
    bare_env.setenv("WEBHOOK_TOKEN", settings.webhook_token)
    assert simulate(web, "--format", "evolution", "--session", "shop-1", "--device", "ios") == 0
    assert redis_client.hget(keys.activity(7, "shop-1"), "device_type") == b"ios"


def test_a_wrong_key_is_refused_and_the_exit_code_says_so(web, bare_env, capsys):
    bare_env.setenv("WAHA_HMAC_KEY", "not-the-key")
    assert simulate(web, "--format", "waha", "--session", "s1", "--workspace", "3") == 1
    assert "-> 401" in capsys.readouterr().out
