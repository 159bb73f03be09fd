"""The operator commands inspect and stats, and what every script shares (one line naming the
variable, --help), run in-process against the private Redis and the real databases
(simulate_gateway: test_simulate_gateway.py)."""

import datetime as dt
import json

import pytest
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from models import keys
from models.activity import ActivityEvent, iso_ms, to_ms
from models.conflict import Check, check_resume, pause_session
from models.db import utcnow
from models.settings import Settings
from models.tables import Campaign
from scripts import inspect, simulate_gateway, stats
from scripts.local_servers import free_port
from tests.script_helpers import run


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
