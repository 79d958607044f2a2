"""Settings read from the environment (12-factor).

Every knob lives here so a newcomer finds them in one place; the names and
defaults follow the product contract (SPEC.md, "Configuration"). Each setting
names its variable and its default once, in the ``Settings`` field; an unset
or empty variable leaves the default.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from relay.core.constants import WS_SEND_BUFFER
from relay.core.crypto import parse_keys
from relay.core.enums import LogFormat

T = TypeVar("T")
MAX_PORT = 65535
# Turns a variable's text into the setting's value; gets the variable's name for its error messages.
Reader = Callable[[str, str], T]


class ConfigError(ValueError):
    """An environment variable holds a value Relay cannot use."""


def _text(name: str, raw: str) -> str:
    return raw


def _lowercase(name: str, raw: str) -> str:
    return raw.lower()


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {raw!r}")


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _schedule(name: str, raw: str) -> tuple[float, ...]:
    try:
        schedule = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated seconds: {raw!r}") from exc
    if not schedule or any(s < 0 for s in schedule):
        raise ConfigError(f"{name} needs at least one non-negative delay")
    return schedule


def _log_format(name: str, raw: str) -> LogFormat:
    try:
        return LogFormat(raw.strip().lower())
    except ValueError as exc:
        choices = ", ".join(member.value for member in LogFormat)
        raise ConfigError(f"{name} must be one of {choices}, got {raw!r}") from exc


@dataclass(frozen=True)
class _Variable:
    name: str
    read: Reader[Any]


def _setting(variable: str, default: T, read: Reader[T]) -> T:
    """A ``Settings`` field and its default, replaced by ``read(variable)`` when the variable is set."""
    return field(default=default, metadata={"env": _Variable(variable, read)})


def sqlite_url(path: Path) -> str:
    """The embedded database's URL (tortoise reads ``sqlite:///abs`` as absolute).

    ``synchronous=NORMAL``: in WAL mode a commit no longer waits for the disk,
    only checkpoints do. A crash of Relay (or kill -9) loses nothing; a power
    loss or an OS crash can lose the last commits before the next checkpoint.
    It is what lets the default setup commit thousands of events a second.
    """
    return f"sqlite://{path.resolve()}?synchronous=NORMAL"


def read_or_create_secret(path: Path, nbytes: int = 32) -> str:
    """Keep a generated secret under the data dir so every process on this host agrees on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(nbytes)
    # O_EXCL: when two processes race, the loser reads the winner's value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _check_media(settings: Settings) -> None:
    if settings.media_download not in {"eager", "lazy", "off"}:
        raise ConfigError("RELAY_MEDIA_DOWNLOAD must be eager, lazy or off")
    if not settings.media_store_url.startswith(("file://", "s3://")):
        raise ConfigError("RELAY_MEDIA_STORE must be a file:// or s3:// URL")
    if settings.media_redirect and not settings.media_store_url.startswith("s3://"):
        raise ConfigError(
            "RELAY_MEDIA_REDIRECT needs an s3:// RELAY_MEDIA_STORE (a directory cannot sign URLs)"
        )
    if settings.media_retention_days <= 0:
        raise ConfigError("RELAY_MEDIA_RETENTION_DAYS must be more than 0")
    if settings.media_max_bytes < 1:
        raise ConfigError("RELAY_MEDIA_MAX_BYTES must be at least 1")


@dataclass(frozen=True, kw_only=True)
class Settings:
    # ``from_env`` reads these five itself: the database, the JWT secret and the encryption keys
    # default to files in the data dir, and only `relay up` has a Redis of its own to fall back on.
    data_dir: Path
    database_url: str
    redis_url: str | None
    jwt_secret: str = field(default="", repr=False)
    # RELAY_ENCRYPTION_KEY: the first key encrypts stored secrets, every key decrypts (relay.core.crypto).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    host: str = _setting("RELAY_HOST", "127.0.0.1", _text)
    port: int = _setting("RELAY_PORT", 8080, _int)
    admin_token: str | None = _setting("RELAY_ADMIN_TOKEN", None, _text)
    webhook_retry_schedule: tuple[float, ...] = _setting(
        "RELAY_WEBHOOK_RETRY_SCHEDULE",
        (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
        _schedule,
    )
    webhook_timeout: float = _setting("RELAY_WEBHOOK_TIMEOUT", 15.0, _float)
    webhook_allow_private: bool = _setting("RELAY_WEBHOOK_ALLOW_PRIVATE", False, _bool)
    media_allow_private: bool = _setting("RELAY_MEDIA_ALLOW_PRIVATE", False, _bool)
    proxy_allow_private: bool = _setting("RELAY_PROXY_ALLOW_PRIVATE", False, _bool)
    sandbox_qr_interval: float = _setting("RELAY_SANDBOX_QR_INTERVAL", 20.0, _float)
    # A sandbox session unscanned this long stops with reason qr_timeout, as a real one does after
    # WhatsApp's window (its first code lives 60 s, five more 20 s each: 160 s).
    sandbox_qr_timeout: float = _setting("RELAY_SANDBOX_QR_TIMEOUT", 160.0, _float)
    whatsapp_store: str | None = _setting("RELAY_WHATSAPP_STORE", None, _text)
    worker_capacity: int = _setting("RELAY_WORKER_CAPACITY", 500, _int)
    # A connected WhatsApp session that hears nothing this long is pinged, and reconnected if deaf.
    whatsapp_silence: float = _setting("RELAY_WHATSAPP_SILENCE_SECONDS", 600.0, _float)
    lease_ttl: float = _setting("RELAY_LEASE_TTL", 15.0, _float)
    # WhatsApp clients run in engine host processes (docs/whatsapp-engine.md, "Engine hosts"):
    # how many per host, and the limits past which a host is retired and replaced.
    engine_host_sessions: int = _setting("RELAY_ENGINE_HOST_SESSIONS", 50, _int)
    engine_host_max_connects: int = _setting("RELAY_ENGINE_HOST_MAX_CONNECTS", 300, _int)
    engine_host_max_fds: int = _setting("RELAY_ENGINE_HOST_MAX_FDS", 768, _int)
    engine_host_max_rss_mb: int = _setting("RELAY_ENGINE_HOST_MAX_RSS_MB", 1024, _int)
    # Not in SPEC's table but named here so operators can tune them.
    max_body_bytes: int = _setting("RELAY_MAX_BODY_BYTES", 1024 * 1024, _int)
    send_wait: float = _setting("RELAY_SEND_WAIT", 5.0, _float)
    # Messages a session sends per minute, evenly spaced, when it sets none itself; 0: unpaced.
    send_per_minute: int = _setting("RELAY_SEND_PER_MINUTE", 0, _int)
    # Queued messages one session may hold before a send is refused with 429.
    send_queue_limit: int = _setting("RELAY_SEND_QUEUE_LIMIT", 1000, _int)
    log_level: str = _setting("RELAY_LOG_LEVEL", "info", _lowercase)
    # Events queued for one WebSocket before it is closed with 1013 (SPEC, "WebSocket feed").
    ws_send_buffer: int = _setting("RELAY_WS_SEND_BUFFER", WS_SEND_BUFFER, _int)
    # Operations (SPEC "Configuration", README "Operations"): the worker's own /metrics (0: off;
    # `relay up` gives worker i the port + i) on RELAY_WORKER_METRICS_HOST, RELAY_HOST when unset;
    # and the log format of every process.
    worker_metrics_port: int = _setting("RELAY_WORKER_METRICS_PORT", 9400, _int)
    worker_metrics_host: str | None = _setting("RELAY_WORKER_METRICS_HOST", None, _text)
    log_format: LogFormat = _setting(  # noqa: RUF009 - a StrEnum member is immutable
        "RELAY_LOG_FORMAT", LogFormat.TEXT, _log_format
    )

    # Inbound media (SPEC "Inbound media"): when the bytes are fetched, where they are kept
    # (None: file://<data dir>/media), for how long, and up to what size.
    media_download: str = _setting("RELAY_MEDIA_DOWNLOAD", "eager", _lowercase)
    media_store: str | None = _setting("RELAY_MEDIA_STORE", None, _text)
    media_redirect: bool = _setting("RELAY_MEDIA_REDIRECT", False, _bool)
    media_retention_days: float = _setting("RELAY_MEDIA_RETENTION_DAYS", 30.0, _float)
    media_max_bytes: int = _setting("RELAY_MEDIA_MAX_BYTES", 100 * 1024 * 1024, _int)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("RELAY_DATA_DIR") or "./.relay").resolve()
        database_url = env.get("DATABASE_URL") or sqlite_url(data_dir / "relay.db")
        jwt_secret = env.get("RELAY_JWT_SECRET") or read_or_create_secret(data_dir / "jwt_secret")
        if len(jwt_secret.encode()) < 32:
            raise ConfigError("RELAY_JWT_SECRET must be at least 32 bytes")
        try:
            encryption_keys = parse_keys(
                env.get("RELAY_ENCRYPTION_KEY") or read_or_create_secret(data_dir / "encryption_key")
            )
        except ValueError as exc:
            raise ConfigError(f"RELAY_ENCRYPTION_KEY: {exc}") from exc
        overrides = {
            setting.name: variable.read(variable.name, env[variable.name])
            for setting in fields(cls)
            if (variable := setting.metadata.get("env")) is not None and env.get(variable.name)
        }
        settings = cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            jwt_secret=jwt_secret,
            encryption_keys=encryption_keys,
            **overrides,
        )
        if settings.worker_capacity < 1:
            raise ConfigError("RELAY_WORKER_CAPACITY must be at least 1")
        if settings.ws_send_buffer < 1:
            raise ConfigError("RELAY_WS_SEND_BUFFER must be at least 1")
        if settings.engine_host_sessions < 1:
            raise ConfigError("RELAY_ENGINE_HOST_SESSIONS must be at least 1")
        if not 0 <= settings.worker_metrics_port <= MAX_PORT:
            raise ConfigError("RELAY_WORKER_METRICS_PORT must be a port number (0 turns it off)")
        if settings.lease_ttl < 1:
            raise ConfigError("RELAY_LEASE_TTL must be at least 1 second")
        _check_media(settings)
        return settings

    @property
    def media_store_url(self) -> str:
        return self.media_store or (self.data_dir / "media").resolve().as_uri()

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigError("REDIS_URL is required (only `relay up` starts an embedded Valkey)")
        return self.redis_url
