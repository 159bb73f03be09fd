"""The operator commands, run in-process against the private Redis and the real databases."""

import base64
import datetime as dt
import json
import os
import re
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from models import keys
from models.activity import ActivityEvent, iso_ms, to_ms
from models.conflict import Check, check_resume, pause_session
from models.db import database, utcnow
from models.settings import Settings
from models.tables import Campaign
from scripts import inspect, simulate_gateway, stats
from scripts.local_servers import free_port
from web.app import create_app

SETTINGS_VARIABLES = {"DATABASE_URL", "REDIS_URL", "PORT", "WEB_CONCURRENCY", "WEBHOOK_SECRET",
                      "WAHA_HMAC_KEY", "WEBHOOK_TOKEN", "API_TOKEN", "WEBHOOK_MAX_BODY_BYTES",
                      "EVOLUTION_JWT_KEY"}


@pytest.fixture
def bare_env(monkeypatch):
    """No phoneguard variable from the machine running the tests leaks into the scripts."""
    for name in list(os.environ):
        if name in SETTINGS_VARIABLES or name.startswith("CAMPAIGN_CONFLICT_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def env(bare_env, redis_url, database_url, db, redis_client):
    bare_env.setenv("REDIS_URL", redis_url)
    bare_env.setenv("DATABASE_URL", database_url)
    return bare_env


def run(main, *args: str) -> int:
    """main(args) in-process; the scripts bind the tables to a database object of their own,
    so bind them back to the test's afterwards."""
    handle = database.obj
    try:
        return main(list(args))
    finally:
        database.initialize(handle)


def inspect_json(capsys, *args: str) -> dict:
    assert run(inspect.main, "--json", *args) == 0
    return json.loads(capsys.readouterr().out)


# -- inspect ------------------------------------------------------------------------------
def test_inspect_lists_an_activity_key_with_its_ttl_and_a_paused_campaign_with_its_due_time(
        env, store, account_factory, capsys):
    _, (campaign,) = account_factory(1, "s1", tier=4)
    now = utcnow()
    store.record(ActivityEvent(1, "s1", "android", "m1"), now_ms=to_ms(now), queue_pause=True)
    pause_session(Settings(), 1, "s1", now=now, last_activity_ms=to_ms(now))

    report = inspect_json(capsys)

    (activity,) = report["activity"]
    assert activity["key"] == keys.activity(1, "s1") and 0 < activity["ttl_seconds"] <= 60
    assert activity["fields"]["device_type"] == "android"
    assert activity["fields"]["message_count"] == "1"
    assert [p["key"] for p in report["pause_pending"]] == [keys.pause_pending(1, "s1")]
    (paused,) = report["paused_campaigns"]
    assert paused["campaign_id"] == campaign.id and paused["pause_count"] == 1
    assert paused["paused_at"] == iso_ms(to_ms(now))
    assert paused["check_due"] == iso_ms(to_ms(now) + 20_000)  # tier 4: 20 s after the typing
    assert 0 < paused["check_due_in_seconds"] <= 20

    assert run(inspect.main) == 0  # the same, for a person
    out = capsys.readouterr().out
    assert f"{keys.activity(1, 's1')}  ttl " in out and "device_type=android" in out
    assert f"check due {paused['check_due']} (in " in out and "pause_count 1" in out


def test_inspect_counts_the_cooldown_from_paused_at_once_the_activity_key_is_gone(
        env, account_factory, capsys):
    account_factory(1, "s1", tier=1)
    paused_at = utcnow() - dt.timedelta(seconds=90)
    pause_session(Settings(), 1, "s1", now=paused_at, last_activity_ms=None)

    (paused,) = inspect_json(capsys)["paused_campaigns"]

    assert paused["last_activity"] is None
    assert paused["check_due"] == iso_ms(to_ms(paused_at) + 60_000)
    assert paused["check_due_in_seconds"] < 0  # overdue: the clock will stand in for it


def test_inspect_shows_only_the_workspace_asked_for(env, store, account_factory, capsys):
    now = utcnow()
    for workspace in (1, 2):
        account_factory(workspace, "s1")
        store.record(ActivityEvent(workspace, "s1", "android", "m"), now_ms=to_ms(now),
                     queue_pause=False)
        pause_session(Settings(), workspace, "s1", now=now, last_activity_ms=None)

    report = inspect_json(capsys, "--workspace", "2")

    assert [a["workspace_id"] for a in report["activity"]] == [2]
    assert [c["workspace_id"] for c in report["paused_campaigns"]] == [2]


def test_inspect_reads_the_depths_of_the_configured_queue_from_the_broker_keys(
        env, redis_client, capsys):
    env.setenv("CAMPAIGN_CONFLICT_QUEUE", "ops-test")
    broker = RedisBroker(client=redis_client)
    broker.declare_queue("ops-test")
    for n in range(3):
        broker.enqueue(Message("ops-test", "handle_mobile_activity", (1, f"s{n}", "ios"), {}, {}))
    check = Message("ops-test", "auto_resume_campaign", (1, "s9", "2025-11-24T16:00:00", 2), {}, {})
    broker.enqueue(check, delay=60_000)
    consumer = broker.consume("ops-test", prefetch=1, timeout=100)
    consumer.nack(next(consumer))  # dead-lettered
    next(consumer)  # taken by a "worker", not acknowledged

    report = inspect_json(capsys)
    consumer.close()

    queue = report["queue"]
    assert (queue["waiting"], queue["in_progress"], queue["delayed"], queue["dead_letters"]) \
        == (1, 1, 1, 1)
    assert queue["keys"]["waiting"] == keys.broker_queue("ops-test")
    resume = [j for j in report["jobs"] if j["actor"] == "auto_resume_campaign"]
    assert [(j["session_id"], j["attempt"]) for j in resume] == [("s9", 2)]
    assert 55 < resume[0]["eta_in_seconds"] <= 60


# -- stats --------------------------------------------------------------------------------
@pytest.fixture
def history(env, account_factory):
    """Workspace 1: three campaigns paused and resumed 30 s later, two of them paused again;
    workspace 2: one paused campaign, to show it is not counted."""
    now = utcnow()
    _, campaigns = account_factory(1, "s1", tier=4, campaigns=("ongoing",) * 3)
    account_factory(2, "s1")
    first = now - dt.timedelta(seconds=31)
    pause_session(Settings(), 1, "s1", now=first, last_activity_ms=to_ms(first))
    check_resume(Settings(), Check(1, "s1", first, 1, 0), now=now - dt.timedelta(seconds=1),
                 last_activity_ms=None)
    Campaign.update(status="completed").where(Campaign.id == campaigns[2].id).execute()
    pause_session(Settings(), 1, "s1", now=now, last_activity_ms=None)
    pause_session(Settings(), 2, "s1", now=now, last_activity_ms=None)


EXPECTED = {"total_paused": 2, "total_resumed_today": 3, "average_pause_duration": 30.0,
            "campaigns_paused_multiple_times": 2, "total_held": 0}


def test_stats_prints_the_workspace_figures_as_json_or_as_a_table_naming_each(
        history, capsys):
    assert run(stats.main, "--workspace", "1", "--json") == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED

    assert run(stats.main, "--workspace", "1") == 0
    lines = capsys.readouterr().out.splitlines()
    figures = {line.rsplit("(", 1)[1].rstrip(")"): line.split()[-2] for line in lines[1:]}
    assert figures == {name: str(value) for name, value in EXPECTED.items()}
    assert "workspace 1" in lines[0]


# -- simulate_gateway ---------------------------------------------------------------------
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


# -- failures and help ---------------------------------------------------------------------
@pytest.mark.parametrize("script, variables, code, named", [
    (inspect, {"REDIS_URL": "redis://127.0.0.1:{port}/0"}, 1, "REDIS_URL"),
    (stats, {"DATABASE_URL": "postgresql://nobody@127.0.0.1:{port}/none"}, 1, "DATABASE_URL"),
    (inspect, {"CAMPAIGN_CONFLICT_TIER_COOLDOWN": "fast"}, 2, "CAMPAIGN_CONFLICT_TIER_COOLDOWN"),
    (stats, {"DATABASE_URL": "mongodb://localhost/phoneguard"}, 2, "DATABASE_URL"),
    (simulate_gateway, {}, 2, "WEBHOOK_TOKEN")])  # nothing to sign with
def test_a_bad_setting_or_a_store_out_of_reach_is_one_line_naming_the_variable(
        bare_env, tmp_path, script, variables, code, named, capsys):
    bare_env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    for name, value in variables.items():
        bare_env.setenv(name, value.format(port=free_port()))

    assert run(script.main, "--workspace", "1") == code

    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("script, purpose", [
    (inspect, "phone-activity keys"), (stats, "conflict statistics"),
    (simulate_gateway, "Post webhooks")])
def test_help_explains_each_script_and_exits_0(script, purpose, capsys):
    with pytest.raises(SystemExit) as exit_:
        script.main(["--help"])
    assert exit_.value.code == 0
    assert purpose in " ".join(capsys.readouterr().out.split())
