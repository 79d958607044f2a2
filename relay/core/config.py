"""Settings read from the environment (12-factor).

Every knob lives here so a newcomer finds them in one place; the names and
defaults follow the product contract (SPEC.md, "Configuration").
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from relay.core.constants import WS_SEND_BUFFER

DEFAULT_RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


class ConfigError(ValueError):
    """An environment variable holds a value Relay cannot use."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _schedule(raw: str | None) -> tuple[float, ...]:
    if not raw:
        return tuple(float(s) for s in DEFAULT_RETRY_SCHEDULE)
    try:
        schedule = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"RELAY_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds: {raw!r}") from exc
    if not schedule or any(s < 0 for s in schedule):
        raise ConfigError("RELAY_WEBHOOK_RETRY_SCHEDULE needs at least one non-negative delay")
    return schedule


def sqlite_url(path: Path) -> str:
    """Tortoise reads ``sqlite:///abs`` as absolute and ``sqlite://rel`` as relative."""
    return f"sqlite://{path.resolve()}"


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


@dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    jwt_secret: str = field(default="", repr=False)
    webhook_retry_schedule: tuple[float, ...] = tuple(float(s) for s in DEFAULT_RETRY_SCHEDULE)
    webhook_timeout: float = 15.0
    webhook_allow_private: bool = False
    sandbox_qr_interval: float = 20.0
    whatsapp_store: str | None = None
    worker_capacity: int = 500
    lease_ttl: float = 15.0
    # Not in SPEC's table but named here so operators can tune them.
    max_body_bytes: int = 1024 * 1024
    send_wait: float = 5.0
    log_level: str = "info"
    # Events queued for one WebSocket before it is closed with 1013 (SPEC, "WebSocket feed").
    ws_send_buffer: int = WS_SEND_BUFFER

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("RELAY_DATA_DIR") or "./.relay").resolve()
        database_url = env.get("DATABASE_URL") or sqlite_url(data_dir / "relay.db")
        jwt_secret = env.get("RELAY_JWT_SECRET") or read_or_create_secret(data_dir / "jwt_secret")
        if len(jwt_secret.encode()) < 32:
            raise ConfigError("RELAY_JWT_SECRET must be at least 32 bytes")
        capacity = _int(env, "RELAY_WORKER_CAPACITY", 500)
        if capacity < 1:
            raise ConfigError("RELAY_WORKER_CAPACITY must be at least 1")
        ws_send_buffer = _int(env, "RELAY_WS_SEND_BUFFER", WS_SEND_BUFFER)
        if ws_send_buffer < 1:
            raise ConfigError("RELAY_WS_SEND_BUFFER must be at least 1")
        lease_ttl = _float(env, "RELAY_LEASE_TTL", 15.0)
        if lease_ttl < 1:
            raise ConfigError("RELAY_LEASE_TTL must be at least 1 second")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            host=env.get("RELAY_HOST") or "127.0.0.1",
            port=_int(env, "RELAY_PORT", 8080),
            admin_token=env.get("RELAY_ADMIN_TOKEN") or None,
            jwt_secret=jwt_secret,
            webhook_retry_schedule=_schedule(env.get("RELAY_WEBHOOK_RETRY_SCHEDULE")),
            webhook_timeout=_float(env, "RELAY_WEBHOOK_TIMEOUT", 15.0),
            webhook_allow_private=_bool(env.get("RELAY_WEBHOOK_ALLOW_PRIVATE", "false")),
            sandbox_qr_interval=_float(env, "RELAY_SANDBOX_QR_INTERVAL", 20.0),
            whatsapp_store=env.get("RELAY_WHATSAPP_STORE") or None,
            worker_capacity=capacity,
            lease_ttl=lease_ttl,
            max_body_bytes=_int(env, "RELAY_MAX_BODY_BYTES", 1024 * 1024),
            send_wait=_float(env, "RELAY_SEND_WAIT", 5.0),
            log_level=(env.get("RELAY_LOG_LEVEL") or "info").lower(),
            ws_send_buffer=ws_send_buffer,
        )

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigError("REDIS_URL is required (only `relay up` starts an embedded Valkey)")
        return self.redis_url
