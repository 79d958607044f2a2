"""Webhook signing secrets are stored encrypted, and the key can be rotated.

The story runs a real `relay up` (SQLite, embedded Valkey with its append-only
file, the processes' logs written under the data dir) and reads every byte it
left on disk; deliveries are verified with ``standardwebhooks``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from relay.core.crypto import Keyring
from relay.core.db import tortoise_config
from tests.helpers import create_tenant_key
from tests.proxies import RefusingProxy
from tests.servers import PrivatePostgres
from tests.stack import free_port
from tests.test_relay_up import RelayUp
from tests.webhooks.receiver import Received, Receiver

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def relay_up(tmp_path: Path) -> Iterator[RelayUp]:
    # The receiver listens on loopback; the printed output is kept under the data dir, with the logs.
    up = RelayUp(tmp_path / "data", free_port(), RELAY_WEBHOOK_ALLOW_PRIVATE="true", RELAY_LOG_LEVEL="debug")
    up.data_dir.mkdir(parents=True)
    up.output = up.data_dir / "relay-up.log"
    try:
        yield up
    finally:
        if up.process is not None and up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait()


def secret_forms(secret: str) -> list[bytes]:
    """Every way a secret could sit in a file: as shown, its base64 part, and the raw HMAC key."""
    encoded = secret.removeprefix("whsec_")
    return [secret.encode(), encoded.encode(), base64.b64decode(encoded)]


def files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found += [f"{path.relative_to(root)} holds {needle!r}" for needle in needles if needle in content]
    return found


async def delivery_signed_with(
    client: httpx.AsyncClient, receiver: Receiver, endpoint_id: str, secret: str
) -> tuple[dict[str, Any], Received]:
    """Send ``webhook.test`` events until one arrives signed with ``secret``.

    Workers cache an endpoint for a second, so the delivery right after a
    rotation may still carry only the old signature.
    """
    for _ in range(20):
        count = len(receiver.at("hook")) + 1
        sent = await client.post(f"/v1/webhooks/{endpoint_id}/test")
        assert sent.status_code == 202, sent.text
        request = (await receiver.wait_for("hook", count, timeout=30))[-1]
        try:
            Webhook(secret).verify(request.body, request.headers)
        except WebhookVerificationError:
            await asyncio.sleep(0.2)
            continue
        return sent.json()["event"], request
    raise AssertionError(f"no delivery to {endpoint_id} was signed with the expected secret")


def sqlite_rows(path: Path, query: str, parameters: list[Any] | None = None) -> list[sqlite3.Row]:
    """One statement on its own connection, committed and closed (an open one would keep the WAL)."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.row_factory = sqlite3.Row
        return db.execute(query, parameters or []).fetchall()


def run_relay(command: str, data_dir: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_") and k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "relay", command],
        env={**clean, "RELAY_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


STORED_SECRETS = "SELECT encrypted_secret, encrypted_previous_secret FROM webhook_endpoints"


async def test_secrets_never_reach_the_disk_in_clear_and_survive_a_key_rotation(
    relay_up: RelayUp, receiver: Receiver
) -> None:
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30) as client:
        key = await create_tenant_key(client, "t", admin_token=relay_up.admin_token())
        client.headers.update(key.headers)
        created = await client.post("/v1/webhooks", json={"url": receiver.url("hook"), "events": ["*"]})
        assert created.status_code == 201, created.text
        endpoint_id, first_secret = created.json()["id"], created.json()["secret"]
        event, request = await delivery_signed_with(client, receiver, endpoint_id, first_secret)
        assert Webhook(first_secret).verify(request.body, request.headers) == event

        rotated = await client.post(f"/v1/webhooks/{endpoint_id}/rotate-secret", json={})
        assert rotated.status_code == 200, rotated.text
        second_secret = rotated.json()["secret"]
        event, request = await delivery_signed_with(client, receiver, endpoint_id, second_secret)
        # During the grace period both secrets sign: receivers holding either one accept it.
        for secret in (second_secret, first_secret):
            assert Webhook(secret).verify(request.body, request.headers) == event
    assert relay_up.stop() == 0

    needles = secret_forms(first_secret) + secret_forms(second_secret)
    assert (relay_up.data_dir / "relay.db").exists()
    assert any((relay_up.data_dir / "valkey").rglob("appendonly*"))
    assert "/rotate-secret" in relay_up.printed()  # the logs are among the files read
    assert files_holding(relay_up.data_dir, needles) == []
    # What the database holds is the secrets, encrypted with the key generated under the data dir.
    old_key = (relay_up.data_dir / "encryption_key").read_text().strip()
    (stored,) = sqlite_rows(relay_up.data_dir / "relay.db", STORED_SECRETS)
    assert [Keyring([old_key]).decrypt(value) for value in stored] == [second_secret, first_secret]

    # Rotation: a new key first, the old one after it; re-encrypt; then the old key goes.
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    printed = run_relay("rotate-key", relay_up.data_dir, RELAY_ENCRYPTION_KEY=f"{new_key},{old_key}")
    assert "webhook_endpoints.encrypted_secret: 1 re-encrypted" in printed
    assert "webhook_endpoints.encrypted_previous_secret: 1 re-encrypted" in printed
    again = run_relay("rotate-key", relay_up.data_dir, RELAY_ENCRYPTION_KEY=f"{new_key},{old_key}")
    assert "webhook_endpoints.encrypted_secret: 0 re-encrypted" in again
    relay_up.settings["RELAY_ENCRYPTION_KEY"] = new_key
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30, headers=key.headers) as client:
        event, request = await delivery_signed_with(client, receiver, endpoint_id, second_secret)
        for secret in (second_secret, first_secret):
            assert Webhook(secret).verify(request.body, request.headers) == event
    assert relay_up.stop() == 0
    assert files_holding(relay_up.data_dir, needles) == []
    (stored,) = sqlite_rows(relay_up.data_dir / "relay.db", STORED_SECRETS)
    assert all(Keyring([new_key]).is_current(value) for value in stored)
    assert not any(Keyring([old_key]).is_current(value) for value in stored)


PLAINTEXT_ROW = {
    "id": "whk_legacy",
    "tenant_id": "ten_legacy",
    "url": "https://example.com/hook",
    "events": '["*"]',
    "enabled": True,
    "secret": "whsec_" + base64.b64encode(b"c" * 32).decode(),
    "previous_secret": "whsec_" + base64.b64encode(b"p" * 32).decode(),
    "created_at": "2026-01-01 00:00:00+00:00",
    "updated_at": "2026-01-01 00:00:00+00:00",
}


async def _migrate_to_plaintext_schema(database_url: str) -> None:
    await migrate(config=tortoise_config(database_url), target="webhooks.0002_delivery_lease")
    await Tortoise.close_connections()


async def _insert_plaintext_row(database_url: str) -> None:
    columns = ", ".join(PLAINTEXT_ROW)
    if database_url.startswith("sqlite://"):
        marks = ", ".join("?" for _ in PLAINTEXT_ROW)
        insert = f"INSERT INTO webhook_endpoints ({columns}) VALUES ({marks})"
        sqlite_rows(Path(database_url.removeprefix("sqlite://")), insert, list(PLAINTEXT_ROW.values()))
        return
    values = [datetime.fromisoformat(v) if k.endswith("_at") else v for k, v in PLAINTEXT_ROW.items()]
    marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"INSERT INTO webhook_endpoints ({columns}) VALUES ({marks})", *values)
    finally:
        await connection.close()


async def _stored_row(database_url: str) -> dict[str, Any]:
    query = "SELECT * FROM webhook_endpoints WHERE id = 'whk_legacy'"
    if database_url.startswith("sqlite://"):
        (row,) = sqlite_rows(Path(database_url.removeprefix("sqlite://")), query)
        return dict(row)
    connection = await asyncpg.connect(database_url)
    try:
        return dict(await connection.fetchrow(query))
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def legacy_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'relay.db'}"
        return
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server.url
    finally:
        server.destroy()


async def test_relay_migrate_encrypts_secrets_stored_in_clear(legacy_database: str, tmp_path: Path) -> None:
    """A database from before encryption: `relay migrate` leaves no plaintext column behind."""
    await _migrate_to_plaintext_schema(legacy_database)
    await _insert_plaintext_row(legacy_database)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    run_relay("migrate", tmp_path / "data", DATABASE_URL=legacy_database, RELAY_ENCRYPTION_KEY=key)

    row = await _stored_row(legacy_database)
    assert "secret" not in row and "previous_secret" not in row
    keys = Keyring([key])
    assert keys.decrypt(row["encrypted_secret"]) == PLAINTEXT_ROW["secret"]
    assert keys.decrypt(row["encrypted_previous_secret"]) == PLAINTEXT_ROW["previous_secret"]
    if legacy_database.startswith("sqlite://"):
        plaintexts = [str(PLAINTEXT_ROW["secret"]).encode(), str(PLAINTEXT_ROW["previous_secret"]).encode()]
        assert files_holding(Path(legacy_database.removeprefix("sqlite://")).parent, plaintexts) == []


async def test_a_session_proxy_password_never_reaches_the_disk_and_survives_a_key_rotation(
    relay_up: RelayUp,
) -> None:
    password = "pr0xy-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
    # What could sit in a file: the password itself, and the Proxy-Authorization header's form.
    needles = [password.encode(), base64.b64encode(f"alice:{password}".encode())]
    async with RefusingProxy() as proxy:
        url = proxy.url(user="alice", password=password)
        relay_up.settings["RELAY_PROXY_ALLOW_PRIVATE"] = "true"
        relay_up.start()
        async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30) as client:
            key = await create_tenant_key(client, "t", admin_token=relay_up.admin_token())
            client.headers.update(key.headers)
            created = await client.post("/v1/sessions", json={"name": "behind", "proxy": url})
            assert created.status_code == 201, created.text
            session_id = created.json()["id"]
            # The worker read the proxy from the database and the core used it.
            assert (await proxy.wait_for_request(timeout=60)).authorization == f"Basic {needles[1].decode()}"
            assert (await client.post(f"/v1/sessions/{session_id}/stop")).status_code == 202
    assert relay_up.stop() == 0
    assert files_holding(relay_up.data_dir, needles) == []

    old_key = (relay_up.data_dir / "encryption_key").read_text().strip()
    (row,) = sqlite_rows(relay_up.data_dir / "relay.db", "SELECT encrypted_proxy FROM sessions")
    assert Keyring([old_key]).decrypt(row["encrypted_proxy"]) == url
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    printed = run_relay("rotate-key", relay_up.data_dir, RELAY_ENCRYPTION_KEY=f"{new_key},{old_key}")
    assert "sessions.encrypted_proxy: 1 re-encrypted" in printed
    (row,) = sqlite_rows(relay_up.data_dir / "relay.db", "SELECT encrypted_proxy FROM sessions")
    assert Keyring([new_key]).decrypt(row["encrypted_proxy"]) == url
    assert not Keyring([old_key]).is_current(row["encrypted_proxy"])
    assert files_holding(relay_up.data_dir, needles) == []
