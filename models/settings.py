"""The one settings object, built once from the environment and validated at start.

Nothing else in phoneguard reads os.environ: processes call Settings.from_env() at start and
pass the result down.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from models.errors import ConfigError
from models.urls import REDIS_CERT_REQS, check_database_url, check_redis_url

DEFAULT_DATABASE_URL = "sqlite:///var/phoneguard.db"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Evolution with base64 media on posts photos and videos inline.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
CREDENTIALS_KEY_MIN = 32


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    # How a rediss:// server's certificate is checked: "none" for a provider's self-signed one.
    redis_ssl_cert_reqs: str = "required"
    # Connections to Redis one process may hold at once; more users wait for one.
    redis_max_connections: int = 8
    port: int = 8000
    web_concurrency: int = 2
    webhook_secrets: tuple[bytes, ...] = ()
    waha_hmac_key: str | None = None
    webhook_token: str | None = None
    evolution_jwt_key: str | None = None
    # The server-side key that per-workspace signing keys are derived from (docs/credentials.md).
    webhook_credentials_key: str | None = None
    api_token: str | None = None
    enabled: bool = True
    queue: str = "campaign-conflict"
    default_cooldown: int = 30
    max_attempts: int = 5
    tier_cooldown: Mapping[int, int] = field(
        default_factory=lambda: {1: 60, 2: 45, 3: 30, 4: 20}
    )
    trigger_device_types: frozenset[str] = frozenset({"android", "ios", "app", "desktop"})
    activity_ttl: int = 60
    seen_ttl: int = 3600
    webhook_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    reconcile_interval: int = 10
    events_url: str | None = None
    events_secret: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default os.environ); raise ConfigError naming the
        variable on the first bad value."""
        env = _Env(os.environ if environ is None else environ)
        tiers = env.tier_map("CAMPAIGN_CONFLICT_TIER_COOLDOWN", "1:60,2:45,3:30,4:20")
        default_cooldown = env.integer("CAMPAIGN_CONFLICT_DEFAULT_COOLDOWN", 30, minimum=0)
        longest = max(default_cooldown, *tiers.values())
        database_url = env.text("DATABASE_URL") or DEFAULT_DATABASE_URL
        redis_url = env.text("REDIS_URL") or DEFAULT_REDIS_URL
        cert_reqs = env.choice("REDIS_SSL_CERT_REQS", REDIS_CERT_REQS)
        check_database_url(database_url)
        check_redis_url(redis_url, cert_reqs)
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            redis_ssl_cert_reqs=cert_reqs,
            redis_max_connections=env.integer("REDIS_MAX_CONNECTIONS", 8, minimum=1),
            port=env.integer("PORT", 8000, minimum=1),
            web_concurrency=env.integer("WEB_CONCURRENCY", 2, minimum=1),
            webhook_secrets=env.webhook_secrets("WEBHOOK_SECRET"),
            waha_hmac_key=env.text("WAHA_HMAC_KEY"),
            webhook_token=env.text("WEBHOOK_TOKEN"),
            evolution_jwt_key=env.text("EVOLUTION_JWT_KEY"),
            webhook_credentials_key=env.credentials_key("WEBHOOK_CREDENTIALS_KEY"),
            api_token=env.text("API_TOKEN"),
            enabled=env.boolean("CAMPAIGN_CONFLICT_ENABLED", True),
            queue=env.text("CAMPAIGN_CONFLICT_QUEUE") or "campaign-conflict",
            default_cooldown=default_cooldown,
            max_attempts=env.integer("CAMPAIGN_CONFLICT_MAX_ATTEMPTS", 5, minimum=1),
            tier_cooldown=tiers,
            trigger_device_types=env.words(
                "CAMPAIGN_CONFLICT_TRIGGER_DEVICE_TYPES", "android,ios,app,desktop"
            ),
            activity_ttl=env.activity_ttl("CAMPAIGN_CONFLICT_ACTIVITY_TTL", longest),
            webhook_max_body_bytes=env.integer("WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES,
                                               minimum=1),
            reconcile_interval=env.integer("CAMPAIGN_CONFLICT_RECONCILE_INTERVAL", 10, minimum=1),
            **env.events_webhook("EVENTS_WEBHOOK_URL", "EVENTS_WEBHOOK_SECRET"),
        )

    def cooldown_for(self, tier: int | None) -> int:
        """Seconds of phone silence an account of `tier` needs before its campaigns resume."""
        return self.tier_cooldown.get(tier or 1, self.default_cooldown)

    @property
    def events_queue(self) -> str:
        """The queue of the events to the campaign sender: its own, so that a slow receiver
        never holds up a pause or a resume check."""
        return f"{self.queue}-events"

    @property
    def longest_cooldown(self) -> int:
        return max(self.default_cooldown, *self.tier_cooldown.values())

    def has_global_webhook_auth(self) -> bool:
        """Whether any of the five install-wide ways to authenticate a webhook is configured."""
        return bool(self.webhook_secrets or self.waha_hmac_key or self.webhook_token
                    or self.evolution_jwt_key)

    def require_webhook_auth(self, workspace_credentials: bool = False) -> None:
        """The web process refuses to start only when no webhook could ever be authenticated:
        none of the five install-wide ways is configured and no workspace has an active
        credential of its own (`workspace_credentials`, read from the database at start)."""
        if not (self.has_global_webhook_auth() or workspace_credentials):
            raise ConfigError(
                "No webhook authentication configured: set at least one of WEBHOOK_SECRET "
                "(Standard Webhooks, whsec_...), WAHA_HMAC_KEY (WAHA's X-Webhook-Hmac), "
                "WEBHOOK_TOKEN (X-Webhook-Token, Authorization: Bearer or ?token=) or "
                "EVOLUTION_JWT_KEY (Evolution's jwt_key), or issue a workspace its own with "
                "python -m scripts.credentials issue --workspace N. Without one, anybody could "
                "pause your campaigns."
            )


class _Env:
    """Typed reads of one environment mapping; every error names its variable."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ

    def text(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, minimum: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number") from None
        if value < minimum:
            raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
        return value

    def activity_ttl(self, name: str, longest_cooldown: int) -> int:
        # Activity forgotten before the cooldown ends would let senders resume too early.
        ttl = self.integer(name, max(60, longest_cooldown), minimum=1)
        if ttl < longest_cooldown:
            raise ConfigError(f"{name}={ttl} is shorter than the longest cooldown "
                              f"({longest_cooldown} s): set it to at least that, or leave it unset")
        return ttl

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """One of `choices` (the first is the default)."""
        raw = (self.text(name) or choices[0]).lower()
        if raw not in choices:
            raise ConfigError(f"{name}={raw!r} is not one of {', '.join(choices)}")
        return raw

    def boolean(self, name: str, default: bool) -> bool:
        raw = (self.text(name) or "").lower()
        if not raw:
            return default
        if raw in {"1", "true", "yes", "on"}:
            return True
        if raw in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")

    def words(self, name: str, default: str) -> frozenset[str]:
        raw = self.text(name) or default
        words = frozenset(w.strip().lower() for w in raw.split(",") if w.strip())
        if not words:
            raise ConfigError(f"{name} must list at least one device type, as android,ios,app")
        return words

    def tier_map(self, name: str, default: str) -> dict[int, int]:
        raw = self.text(name) or default
        tiers = {}
        for pair in raw.split(","):
            tier, sep, seconds = pair.partition(":")
            try:
                if not sep or int(tier) in tiers:
                    raise ValueError
                tiers[int(tier)] = int(seconds)
            except ValueError:
                raise ConfigError(
                    f"{name}={raw!r} does not parse: write tier:seconds pairs, each tier once, "
                    "as 1:60,2:45"
                ) from None
            if tiers[int(tier)] < 0:
                raise ConfigError(f"{name}={raw!r} has a negative cooldown for tier {tier}")
        return tiers

    def webhook_secrets(self, name: str) -> tuple[bytes, ...]:
        """Space-separated Standard Webhooks secrets (several during a rotation), each base64
        after an optional whsec_ prefix, padding optional, as the Standard Webhooks libraries
        take them. Decoded strictly here: a lenient decoder would turn a typo into another key."""
        keys, secrets = [], (self.text(name) or "").split()
        for n, secret in enumerate(secrets, start=1):
            where = f"{name} (secret {n} of {len(secrets)})" if len(secrets) > 1 else name
            encoded = secret.removeprefix("whsec_")
            try:
                key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"{where} is not base64 (whsec_ followed by base64, the "
                                  "prefix optional)") from None
            if not key:
                raise ConfigError(f"{where}: the key after whsec_ is empty")
            keys.append(key)
        return tuple(keys)

    def credentials_key(self, name: str) -> str | None:
        """The key per-workspace signing keys are derived from: long enough to be guessed by
        nobody, since every derived key is only as strong as it."""
        value = self.text(name)
        if value is not None and len(value) < CREDENTIALS_KEY_MIN:
            raise ConfigError(
                f"{name} must be at least {CREDENTIALS_KEY_MIN} characters (for example the "
                "output of: python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
        return value

    def events_webhook(self, url_name: str, secret_name: str) -> dict[str, str | None]:
        url, secret = self.text(url_name), self.text(secret_name)
        if url is None:
            return {"events_url": None, "events_secret": secret}
        parsed = urlsplit(url)
        if parsed.scheme not in {"http", "https"} or not parsed.hostname:
            raise ConfigError(f"{url_name}={url!r} is not an http:// or https:// URL")
        if secret is None:
            raise ConfigError(f"{url_name} is set but {secret_name} is not: set it to the "
                              "whsec_ secret the campaign sender verifies events with")
        try:
            Webhook(secret)
        except Exception:  # the library raises binascii.Error, its own, or RuntimeError
            raise ConfigError(f"{secret_name} is not a whsec_ + base64 secret") from None
        return {"events_url": url, "events_secret": secret}
