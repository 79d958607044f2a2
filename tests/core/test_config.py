"""Settings from the environment: every variable, its default, and the refusals an operator sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.core.config import ConfigError, Settings


def settings_from(tmp_path: Path, **variables: str) -> Settings:
    return Settings.from_env({"RELAY_DATA_DIR": str(tmp_path), **variables})


def test_nothing_set_gives_a_laptop_setup_under_the_data_dir(tmp_path: Path) -> None:
    settings = settings_from(tmp_path)
    assert settings.data_dir == tmp_path.resolve()
    assert settings.database_url == f"sqlite://{tmp_path.resolve() / 'relay.db'}?synchronous=NORMAL"
    assert settings.redis_url is None
    assert settings.jwt_secret == (tmp_path / "jwt_secret").read_text()
    assert (settings.host, settings.port, settings.admin_token) == ("127.0.0.1", 8080, None)
    assert settings.webhook_retry_schedule == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert (settings.webhook_timeout, settings.webhook_allow_private) == (15, False)
    assert (settings.sandbox_qr_interval, settings.whatsapp_store) == (20, None)
    # The real engine's QR window: WhatsApp's first code lives 60 s, five more 20 s each.
    assert settings.sandbox_qr_timeout == 60 + 5 * 20
    assert (settings.send_per_minute, settings.send_queue_limit) == (0, 1000)  # unpaced
    assert (settings.worker_capacity, settings.lease_ttl, settings.send_wait) == (500, 15, 5)
    assert (settings.max_body_bytes, settings.log_level, settings.ws_send_buffer) == (
        1024 * 1024,
        "info",
        1000,
    )
    # The worker's /metrics listens where the web does unless told otherwise; logs are text.
    assert (settings.worker_metrics_port, settings.worker_metrics_host, settings.log_format) == (
        9400,
        None,
        "text",
    )


def test_every_variable_is_read_and_an_empty_one_keeps_the_default(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        DATABASE_URL="postgres://relay@db/relay",
        REDIS_URL="redis://cache:6379/0",
        RELAY_JWT_SECRET="s" * 32,
        RELAY_HOST="0.0.0.0",
        RELAY_PORT="9000",
        RELAY_ADMIN_TOKEN="adm",
        RELAY_WEBHOOK_RETRY_SCHEDULE="1, 2,",
        RELAY_WEBHOOK_TIMEOUT="2.5",
        RELAY_SANDBOX_QR_TIMEOUT="30",
        RELAY_SEND_PER_MINUTE="20",
        RELAY_SEND_QUEUE_LIMIT="50",
        RELAY_WEBHOOK_ALLOW_PRIVATE="yes",
        RELAY_SANDBOX_QR_INTERVAL="1",
        RELAY_WHATSAPP_STORE="postgres://relay@db/wa",
        RELAY_WORKER_CAPACITY="3",
        RELAY_LEASE_TTL="2",
        RELAY_MAX_BODY_BYTES="10",
        RELAY_SEND_WAIT="0.5",
        RELAY_LOG_LEVEL="DEBUG",
        RELAY_WS_SEND_BUFFER="7",
        RELAY_WORKER_METRICS_PORT="0",
        RELAY_WORKER_METRICS_HOST="0.0.0.0",
        RELAY_LOG_FORMAT="JSON",
    )
    assert (settings.database_url, settings.redis_url) == (
        "postgres://relay@db/relay",
        "redis://cache:6379/0",
    )
    assert (settings.jwt_secret, settings.host, settings.port, settings.admin_token) == (
        "s" * 32,
        "0.0.0.0",
        9000,
        "adm",
    )
    assert settings.webhook_retry_schedule == (1.0, 2.0)
    assert (settings.webhook_timeout, settings.webhook_allow_private) == (2.5, True)
    assert (settings.sandbox_qr_interval, settings.whatsapp_store) == (1.0, "postgres://relay@db/wa")
    assert settings.sandbox_qr_timeout == 30
    assert (settings.send_per_minute, settings.send_queue_limit) == (20, 50)
    assert (settings.worker_capacity, settings.lease_ttl, settings.send_wait) == (3, 2.0, 0.5)
    assert (settings.max_body_bytes, settings.log_level, settings.ws_send_buffer) == (10, "debug", 7)
    assert (settings.worker_metrics_port, settings.worker_metrics_host, settings.log_format) == (
        0,
        "0.0.0.0",
        "json",
    )

    emptied = settings_from(tmp_path, RELAY_PORT="", RELAY_LOG_LEVEL="", REDIS_URL="", RELAY_ADMIN_TOKEN="")
    assert (emptied.port, emptied.log_level, emptied.redis_url, emptied.admin_token) == (
        8080,
        "info",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"RELAY_JWT_SECRET": "short"}, "RELAY_JWT_SECRET must be at least 32 bytes"),
        ({"RELAY_PORT": "http"}, "RELAY_PORT must be an integer, got 'http'"),
        ({"RELAY_WEBHOOK_TIMEOUT": "soon"}, "RELAY_WEBHOOK_TIMEOUT must be a number, got 'soon'"),
        ({"RELAY_WEBHOOK_ALLOW_PRIVATE": "maybe"}, "not a boolean: 'maybe'"),
        (
            {"RELAY_WEBHOOK_RETRY_SCHEDULE": "1,x"},
            "RELAY_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds: '1,x'",
        ),
        (
            {"RELAY_WEBHOOK_RETRY_SCHEDULE": "-1"},
            "RELAY_WEBHOOK_RETRY_SCHEDULE needs at least one non-negative delay",
        ),
        ({"RELAY_WORKER_CAPACITY": "0"}, "RELAY_WORKER_CAPACITY must be at least 1"),
        ({"RELAY_WS_SEND_BUFFER": "0"}, "RELAY_WS_SEND_BUFFER must be at least 1"),
        ({"RELAY_LEASE_TTL": "0.5"}, "RELAY_LEASE_TTL must be at least 1 second"),
        ({"RELAY_LOG_FORMAT": "xml"}, "RELAY_LOG_FORMAT must be one of text, json, got 'xml'"),
        (
            {"RELAY_WORKER_METRICS_PORT": "70000"},
            "RELAY_WORKER_METRICS_PORT must be a port number (0 turns it off)",
        ),
    ],
)
def test_a_value_relay_cannot_use_is_refused_by_name(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        settings_from(tmp_path, **variables)
    assert str(refused.value) == message


def test_serve_and_worker_need_a_redis_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL is required"):
        settings_from(tmp_path).require_redis_url()
