"""Settings.from_env: the contract's defaults, and a bad value stops the process by name."""

import base64

import pytest

from models.errors import ConfigError
from models.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"a-webhook-signing-key").decode()


def test_defaults_match_the_contract():
    settings = Settings.from_env({})

    assert settings.database_url.startswith("sqlite:///var/")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert (settings.port, settings.web_concurrency) == (8000, 2)
    assert (settings.webhook_secrets, settings.waha_hmac_key, settings.webhook_token,
            settings.evolution_jwt_key, settings.api_token) == ((), None, None, None, None)
    assert settings.enabled is True
    assert settings.queue == "campaign-conflict"
    assert (settings.default_cooldown, settings.max_attempts) == (30, 5)
    assert dict(settings.tier_cooldown) == {1: 60, 2: 45, 3: 30, 4: 20}
    assert settings.trigger_device_types == {"android", "ios", "app", "desktop"}
    assert settings.activity_ttl == 60
    assert settings.webhook_max_body_bytes == 16 * 1024 * 1024


def test_the_dataclass_defaults_equal_the_environment_defaults():
    assert Settings() == Settings.from_env({})


@pytest.mark.parametrize("tiers, default, ttl", [
    ("1:90,2:45", "30", 90),
    ("1:10,2:5", "30", 60),
    ("1:60,2:300", "30", 300),
    ("1:60", "120", 120),  # tiers 2..4 fall back to the default cooldown
])
def test_the_activity_ttl_defaults_to_the_longest_cooldown_but_at_least_a_minute(
        tiers, default, ttl):
    settings = Settings.from_env({"CAMPAIGN_CONFLICT_TIER_COOLDOWN": tiers,
                                  "CAMPAIGN_CONFLICT_DEFAULT_COOLDOWN": default})
    assert settings.activity_ttl == ttl


def test_an_explicit_activity_ttl_is_taken():
    settings = Settings.from_env({"CAMPAIGN_CONFLICT_ACTIVITY_TTL": "600"})
    assert settings.activity_ttl == 600


def test_values_are_read_from_the_environment():
    settings = Settings.from_env({
        "WEBHOOK_SECRET": SECRET, "WAHA_HMAC_KEY": "k", "WEBHOOK_TOKEN": " t ",
        "API_TOKEN": "a", "CAMPAIGN_CONFLICT_ENABLED": "false", "CAMPAIGN_CONFLICT_QUEUE": "q",
        "CAMPAIGN_CONFLICT_TRIGGER_DEVICE_TYPES": "Android, desktop",
        "WEBHOOK_MAX_BODY_BYTES": "2048", "PORT": "5000",
    })

    assert settings.webhook_secrets == (b"a-webhook-signing-key",)
    assert (settings.waha_hmac_key, settings.webhook_token, settings.api_token) == ("k", "t", "a")
    assert settings.enabled is False and settings.queue == "q"
    assert settings.trigger_device_types == {"android", "desktop"}
    assert (settings.webhook_max_body_bytes, settings.port) == (2048, 5000)


def test_a_tier_missing_from_the_map_gets_the_default_cooldown():
    settings = Settings.from_env({"CAMPAIGN_CONFLICT_TIER_COOLDOWN": "1:60",
                                  "CAMPAIGN_CONFLICT_DEFAULT_COOLDOWN": "15"})
    assert (settings.cooldown_for(1), settings.cooldown_for(3)) == (60, 15)


@pytest.mark.parametrize("name, value", [
    ("CAMPAIGN_CONFLICT_TIER_COOLDOWN", "1=60"),
    ("CAMPAIGN_CONFLICT_TIER_COOLDOWN", "1:60,two:45"),
    ("CAMPAIGN_CONFLICT_TIER_COOLDOWN", "1:sixty"),
    ("CAMPAIGN_CONFLICT_TIER_COOLDOWN", "1:60,2:-5"),
    ("CAMPAIGN_CONFLICT_TIER_COOLDOWN", "1:60,1:30"),
    ("CAMPAIGN_CONFLICT_DEFAULT_COOLDOWN", "-1"),
    ("CAMPAIGN_CONFLICT_DEFAULT_COOLDOWN", "thirty"),
    ("CAMPAIGN_CONFLICT_MAX_ATTEMPTS", "0"),
    ("CAMPAIGN_CONFLICT_MAX_ATTEMPTS", "2.5"),
    ("CAMPAIGN_CONFLICT_ACTIVITY_TTL", "0"),
    ("CAMPAIGN_CONFLICT_ACTIVITY_TTL", "59"),  # shorter than tier 1's 60 s
    ("CAMPAIGN_CONFLICT_ENABLED", "maybe"),
    ("CAMPAIGN_CONFLICT_TRIGGER_DEVICE_TYPES", ","),
    ("WEBHOOK_MAX_BODY_BYTES", "1MB"),
    ("PORT", "http"),
    ("WEB_CONCURRENCY", "0"),
    ("REDIS_MAX_CONNECTIONS", "0"),
    ("WEBHOOK_SECRET", "a-plain-password"),
    ("WEBHOOK_SECRET", "whsec_abcde"),  # five characters: no padding makes that base64
    ("WEBHOOK_SECRET", "whsec_not*base64!"),
    ("WEBHOOK_SECRET", "whsec_"),
])
def test_a_bad_value_is_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value)


def test_the_web_process_needs_one_webhook_authentication_method():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({}).require_webhook_auth()

    for name in ("WEBHOOK_SECRET", "WAHA_HMAC_KEY", "WEBHOOK_TOKEN", "?token=",
                 "EVOLUTION_JWT_KEY"):
        assert name in str(error.value)


@pytest.mark.parametrize("env", [
    {"WEBHOOK_SECRET": SECRET}, {"WAHA_HMAC_KEY": "k"}, {"WEBHOOK_TOKEN": "t"},
    {"EVOLUTION_JWT_KEY": "evolution-jwt-key"},
])
def test_any_one_webhook_authentication_method_is_enough(env):
    Settings.from_env(env).require_webhook_auth()


def test_several_webhook_secrets_are_read_with_or_without_prefix_and_padding():
    keys = [b"old-key-1", b"new-key-22", b"third-key-333"]
    encoded = [base64.b64encode(key).decode() for key in keys]
    value = f"whsec_{encoded[0]}  {encoded[1].rstrip('=')}\twhsec_{encoded[2].rstrip('=')}"

    assert Settings.from_env({"WEBHOOK_SECRET": value}).webhook_secrets == tuple(keys)


def test_a_bad_secret_among_several_is_named_by_its_place_without_its_value():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"WEBHOOK_SECRET": f"{SECRET} whsec_not*base64!"})

    assert "WEBHOOK_SECRET (secret 2 of 2)" in str(error.value)
    assert "not*base64" not in str(error.value)


def test_events_go_to_the_url_signed_with_the_secret_on_a_queue_of_their_own():
    settings = Settings.from_env({"EVENTS_WEBHOOK_URL": "https://sender.example/hooks",
                                  "EVENTS_WEBHOOK_SECRET": SECRET})

    assert (settings.events_url, settings.events_secret) == ("https://sender.example/hooks",
                                                             SECRET)
    assert settings.events_queue == "campaign-conflict-events"
    assert Settings.from_env({}).events_url is None


@pytest.mark.parametrize("env, names", [
    ({"EVENTS_WEBHOOK_URL": "https://sender.example/hooks"}, "EVENTS_WEBHOOK_SECRET is not"),
    ({"EVENTS_WEBHOOK_URL": "sender.example/hooks", "EVENTS_WEBHOOK_SECRET": SECRET},
     "EVENTS_WEBHOOK_URL='sender.example/hooks' is not an http"),
    ({"EVENTS_WEBHOOK_URL": "https://sender.example", "EVENTS_WEBHOOK_SECRET": "whsec_"},
     "EVENTS_WEBHOOK_SECRET is not a whsec_"),
])
def test_a_bad_events_setting_stops_the_process_naming_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)
