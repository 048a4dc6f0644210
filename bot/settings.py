"""Settings, read once from a mapping (the environment plus an optional ``.env``).

``Settings.from_env(mapping)`` takes the mapping as an argument so tests pass a
dict and never touch ``os.environ``. Secrets are wrapped in ``Secret`` so that a
repr, a log line or an error message never shows them.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from compose.layout import MAX_ITEMS

from .choices import MAX_VARIATIONS as MAX_VARIATIONS
from .errors import ConfigError
from .model import Mode

DEFAULT_MEDIA_HOSTS = (
    "cdn.discordapp.com",
    "media.discordapp.net",
    "images-ext-1.discordapp.net",  # Discord's proxy for images linked in messages (embeds)
    "images-ext-2.discordapp.net",
    "files.slack.com",
    "slack-files.com",
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MIB = 1024 * 1024
MAX_SHEET_IMAGES = MAX_ITEMS  # the most pictures one reference sheet lays out
MIN_SHEET_SIDE, MAX_SHEET_SIDE = 256, 4096  # the largest model output is 3840 px on its long edge
MAX_PROMPT_CHARS = 32_000  # the GPT Image models' prompt limit


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Where state lives without MERGEBOT_DATA_DIR: the per-user data directory
    ($XDG_DATA_HOME/mergebot, else ~/.local/share/mergebot), never the working directory."""
    xdg = env.get("XDG_DATA_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "mergebot"
    home = env.get("HOME", "").strip()
    return (Path(home) if home else Path.home()) / ".local" / "share" / "mergebot"


@dataclass(frozen=True)
class Secret:
    """A credential. Its repr and str hide the value; ``reveal()`` gives it."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Limits:
    max_images: int = 16
    max_image_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_prompt_chars: int = 4000
    global_concurrency: int = 4
    per_user_concurrency: int = 2
    per_user_daily: int = 50
    workspace_daily_cost_usd: float = 25.0
    allow_unpriced_models: bool = False  # run models with no price, which the cost cap then cannot count
    blob_cap_bytes: int = 2 * 1024 * 1024 * 1024
    job_timeout_s: float = 300.0
    lease_s: float = 30.0  # a claimed job's lease, renewed every sixth of it; a dead worker's job moves on after it
    resume_within_s: float = 3600.0  # a job left by a dead process resumes by itself if younger than this
    fetch_timeout_s: float = 30.0
    decode_timeout_s: float = 10.0


@dataclass(frozen=True)
class ObjectStorage:
    """Where blobs go when they live in S3-compatible object storage (``MERGEBOT_BLOB_URL=s3://…``).

    Unset fields fall back to the client's own discovery (``AWS_*`` variables,
    instance roles), so AWS, MinIO and R2 all work with their usual settings.
    """

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: Secret | None = None


class ReplicaRole(StrEnum):
    """What one replica of a deployment does (``MERGEBOT_ROLE``)."""

    ALL = "all"  # takes platform events and runs jobs
    EVENTS = "events"  # takes platform events and enqueues their jobs; never claims one
    WORKER = "worker"  # claims and runs jobs, posting through the platforms' REST APIs only

    @property
    def takes_events(self) -> bool:
        return self is not ReplicaRole.WORKER

    @property
    def runs_jobs(self) -> bool:
        return self is not ReplicaRole.EVENTS


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    store_driver: str = "sqlite"
    database_url: Secret | None = None  # postgresql://user:password@host/db; a secret, it may hold a password
    object_storage: ObjectStorage | None = None  # None: blobs on local disk under data_dir
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    model: str = "gpt-image-2"
    mode: Mode = Mode.AUTO
    sheet_side: int = 2048
    partial_images: int = 2
    variations: int = 1  # pictures one merge asks for when the person does not say (images.edit's n)
    media_hosts: tuple[str, ...] = DEFAULT_MEDIA_HOSTS
    limits: Limits = field(default_factory=Limits)
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # model -> per-1M-token prices
    control_policy: str = "anyone"  # "anyone" or "requester"
    health_port: int | None = None  # /healthz and /readyz over HTTP, for load balancers and Kubernetes
    listen_host: str = "0.0.0.0"  # the address the health endpoint and Slack's HTTP mode listen on
    log_level: str = "INFO"
    shutdown_grace_s: float = 25.0  # on SIGTERM, how long running merges may take to finish
    library_log_level: str = "WARNING"  # discord, slack_sdk, openai, httpx… (at debug they print tokens)
    safety_salt: Secret | None = None  # salts the per-person safety_identifier; else kept in data_dir
    role: ReplicaRole = ReplicaRole.ALL

    discord_token: Secret | None = None
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    discord_application_id: str | None = None
    discord_shard_count: int | None = None  # with discord_shard_ids: this replica's part of the gateway
    discord_shard_ids: tuple[int, ...] | None = None

    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_port: int = 3000
    slack_rebalance_reactions: Mapping[str, str] = field(default_factory=dict)  # emoji name -> label

    @property
    def db_path(self) -> Path:
        return self.data_dir / "mergebot.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None and (
            self.slack_app_token is not None or self.slack_signing_secret is not None
        )

    def media_host_allowed(self, url: str) -> bool:
        """Whether a download may come from ``url``: https to a listed host, or
        plain http only to a loopback host that is listed explicitly."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host not in self.media_hosts:
            return False
        if parts.scheme == "https":
            return True
        return parts.scheme == "http" and host in LOOPBACK_HOSTS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``) and ``dotenv`` if it exists.

        Values in ``env`` win over the ``.env`` file.
        """
        merged: dict[str, str] = {}
        if dotenv is not None and dotenv.is_file():
            from dotenv import dotenv_values

            merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        merged.update(os.environ if env is None else env)
        return _parse(_Reader(merged))


class _Reader:
    """Typed access to string settings with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> Secret | None:
        value = self.text(name)
        return Secret(value) if value else None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number in ``low..high`` (the bounds say what the bot can serve, so a typo
        such as MERGEBOT_SHEET_SIDE=100000 is refused at start instead of hanging a merge)."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name} must be from {low} to {high}, got {value}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{name} must be from {low:g} to {high:g}, got {raw!r}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        value = raw.lower()
        if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"{name} must be true or false, got {raw!r}")
        return value in ("1", "true", "yes", "on")

    def port(self, name: str) -> int | None:
        """A TCP port, or None when unset."""
        return None if self.text(name) is None else self.integer(name, 0, low=1, high=65535)

    def address(self, name: str, default: str) -> str:
        """An IP address to listen on (IPv4 or IPv6)."""
        value = self.text(name) or default
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ConfigError(f"{name} must be an IP address such as 0.0.0.0 or 127.0.0.1, got {value!r}") from None

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = (self.text(name) or default).lower()
        if value not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return value

    def url(self, name: str, default: str | None) -> str | None:
        value = self.text(name) or default
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise ConfigError(f"{name} must be an absolute http(s) or ws(s) URL, got {value!r}")
        return value

    def json_object(self, name: str) -> dict[str, object]:
        raw = self.text(name)
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name} must be a JSON object: {exc.msg}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a JSON object")
        return value


def _parse(r: _Reader) -> Settings:
    base = Settings()
    limits = Limits(
        max_images=r.integer("MERGEBOT_MAX_IMAGES", Limits.max_images, 1, MAX_SHEET_IMAGES),
        max_image_bytes=r.integer("MERGEBOT_MAX_IMAGE_BYTES", Limits.max_image_bytes, 1024, 256 * MIB),
        max_image_pixels=r.integer("MERGEBOT_MAX_IMAGE_PIXELS", Limits.max_image_pixels, 1, 250_000_000),
        max_prompt_chars=r.integer("MERGEBOT_MAX_PROMPT_CHARS", Limits.max_prompt_chars, 1, MAX_PROMPT_CHARS),
        global_concurrency=r.integer("MERGEBOT_CONCURRENCY", Limits.global_concurrency, 1, 256),
        per_user_concurrency=r.integer("MERGEBOT_USER_CONCURRENCY", Limits.per_user_concurrency, 1, 256),
        per_user_daily=r.integer("MERGEBOT_USER_DAILY_MERGES", Limits.per_user_daily, 1, 1_000_000),
        workspace_daily_cost_usd=r.number(
            "MERGEBOT_WORKSPACE_DAILY_USD", Limits.workspace_daily_cost_usd, 0.0, 1_000_000.0
        ),
        allow_unpriced_models=r.flag("MERGEBOT_ALLOW_UNPRICED_MODELS", Limits.allow_unpriced_models),
        blob_cap_bytes=r.integer("MERGEBOT_BLOB_CAP_BYTES", Limits.blob_cap_bytes, MIB, 2**50),
        job_timeout_s=r.number("MERGEBOT_JOB_TIMEOUT", Limits.job_timeout_s, 1.0, 3600.0),
        lease_s=r.number("MERGEBOT_LEASE_SECONDS", Limits.lease_s, 1.0, 600.0),
        resume_within_s=r.number("MERGEBOT_RESUME_WITHIN", Limits.resume_within_s, 0.0, 30 * 86400.0),
        fetch_timeout_s=r.number("MERGEBOT_FETCH_TIMEOUT", Limits.fetch_timeout_s, 0.1, 600.0),
        decode_timeout_s=r.number("MERGEBOT_DECODE_TIMEOUT", Limits.decode_timeout_s, 0.1, 600.0),
    )
    hosts_raw = r.text("MERGEBOT_MEDIA_HOSTS")
    media_hosts = (
        tuple(h.strip().lower() for h in hosts_raw.split(",") if h.strip()) if hosts_raw else DEFAULT_MEDIA_HOSTS
    )
    prices: dict[str, dict[str, float]] = {}
    for model, table in r.json_object("MERGEBOT_PRICES").items():
        if not isinstance(table, dict) or not all(isinstance(v, int | float) for v in table.values()):
            raise ConfigError("MERGEBOT_PRICES must map model names to objects of numbers")
        prices[model] = {str(k): float(v) for k, v in table.items()}
    reactions: dict[str, str] = {}
    for emoji, label in r.json_object("SLACK_REBALANCE_REACTIONS").items():
        if not isinstance(label, str) or not label.isalpha() or not label.isupper():
            raise ConfigError('SLACK_REBALANCE_REACTIONS must map emoji names to labels such as "A"')
        reactions[emoji] = label
    database_url = r.secret("MERGEBOT_DATABASE_URL")
    shard_count = r.integer("DISCORD_SHARD_COUNT", 0, low=1, high=65536) if r.text("DISCORD_SHARD_COUNT") else None
    store_driver = r.text("MERGEBOT_STORE") or _driver_for(database_url) or base.store_driver
    role = ReplicaRole(r.choice("MERGEBOT_ROLE", base.role.value, tuple(role.value for role in ReplicaRole)))
    if role is not ReplicaRole.ALL and store_driver == "sqlite":
        raise ConfigError(
            f"MERGEBOT_ROLE={role.value} needs a job store other replicas share (set MERGEBOT_DATABASE_URL); "
            "a SQLite store belongs to one process"
        )
    return Settings(
        data_dir=Path(r.text("MERGEBOT_DATA_DIR") or default_data_dir(r.env)).expanduser(),
        store_driver=store_driver,
        database_url=database_url,
        object_storage=_object_storage(r),
        openai_api_key=r.secret("OPENAI_API_KEY"),
        openai_base_url=r.url("OPENAI_BASE_URL", None),
        model=r.text("MERGEBOT_MODEL") or base.model,
        mode=Mode(r.choice("MERGEBOT_MODE", base.mode.value, tuple(m.value for m in Mode))),
        sheet_side=r.integer("MERGEBOT_SHEET_SIDE", base.sheet_side, MIN_SHEET_SIDE, MAX_SHEET_SIDE),
        partial_images=r.integer("MERGEBOT_PARTIAL_IMAGES", base.partial_images, 0, 3),
        variations=r.integer("MERGEBOT_VARIATIONS", base.variations, 1, MAX_VARIATIONS),
        media_hosts=media_hosts,
        limits=limits,
        prices=prices,
        health_port=r.port("MERGEBOT_HEALTH_PORT"),
        listen_host=r.address("MERGEBOT_LISTEN_HOST", base.listen_host),
        control_policy=r.choice("MERGEBOT_CONTROL_POLICY", base.control_policy, ("anyone", "requester")),
        shutdown_grace_s=r.number("MERGEBOT_SHUTDOWN_GRACE", base.shutdown_grace_s, 0.0, 3600.0),
        log_level=r.choice("MERGEBOT_LOG_LEVEL", base.log_level, ("debug", "info", "warning", "error")).upper(),
        library_log_level=r.choice(
            "MERGEBOT_LIBRARY_LOG_LEVEL", base.library_log_level.lower(), ("debug", "info", "warning", "error")
        ).upper(),
        safety_salt=r.secret("MERGEBOT_SAFETY_SALT"),
        role=role,
        discord_token=r.secret("DISCORD_TOKEN"),
        discord_api_base_url=r.url("DISCORD_API_BASE_URL", base.discord_api_base_url) or "",
        discord_gateway_url=r.url("DISCORD_GATEWAY_URL", base.discord_gateway_url) or "",
        discord_application_id=r.text("DISCORD_APPLICATION_ID"),
        discord_shard_count=shard_count,
        discord_shard_ids=_shard_ids(r, shard_count),
        slack_bot_token=r.secret("SLACK_BOT_TOKEN"),
        slack_app_token=r.secret("SLACK_APP_TOKEN"),
        slack_signing_secret=r.secret("SLACK_SIGNING_SECRET"),
        slack_api_url=r.url("SLACK_API_URL", base.slack_api_url) or "",
        slack_port=r.integer("SLACK_PORT", base.slack_port, 1, 65535),
        slack_rebalance_reactions=reactions,
    )


POSTGRES_SCHEMES = ("postgresql", "postgres")


def _driver_for(database_url: Secret | None) -> str | None:
    if database_url is None:
        return None
    scheme = urlsplit(database_url.reveal()).scheme
    if scheme in POSTGRES_SCHEMES:
        return "postgres"
    raise ConfigError(f"MERGEBOT_DATABASE_URL must start with postgresql://, got a {scheme or 'schemeless'} URL")


def _object_storage(r: _Reader) -> ObjectStorage | None:
    url = r.text("MERGEBOT_BLOB_URL")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"MERGEBOT_BLOB_URL must look like s3://bucket/prefix, got {url!r}")
    return ObjectStorage(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        endpoint=r.url("AWS_ENDPOINT_URL_S3", None) or r.url("AWS_ENDPOINT_URL", None),
        region=r.text("AWS_REGION") or r.text("AWS_DEFAULT_REGION"),
        access_key_id=r.text("AWS_ACCESS_KEY_ID"),
        secret_access_key=r.secret("AWS_SECRET_ACCESS_KEY"),
    )


def _shard_ids(r: _Reader, shard_count: int | None) -> tuple[int, ...] | None:
    raw = r.text("DISCORD_SHARD_IDS")
    if raw is None:
        return None
    if shard_count is None:
        raise ConfigError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (how many shards there are in all)")
    try:
        ids = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        raise ConfigError(f"DISCORD_SHARD_IDS must be shard numbers separated by commas, got {raw!r}") from None
    if not ids or ids[0] < 0 or ids[-1] >= shard_count:
        raise ConfigError(f"DISCORD_SHARD_IDS must be numbers from 0 to {shard_count - 1}, got {raw!r}")
    return ids
