"""A Relay of its own for a test that needs settings the shared stack cannot have.

Its own Valkey and database (Postgres when the suite runs on it, else SQLite), one web,
one worker, and one tenant: what the test gets is the stack, the tenant's client and a
client without credentials (for /metrics and the like).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from tests.helpers import create_tenant_key
from tests.servers import PrivateValkey
from tests.stack import RelayStack


@dataclass
class PrivateRelay:
    relay: RelayStack
    tenant: httpx.AsyncClient
    anonymous: httpx.AsyncClient


async def private_database(base_url: str, tmp_path: Path, suffix: str) -> str:
    """A fresh database on the suite's server: Postgres when the suite runs on it, else SQLite."""
    if not base_url.startswith(("postgres://", "postgresql://")):
        return f"sqlite://{tmp_path / 'relay.db'}"
    parts = urlsplit(base_url)
    name = parts.path.lstrip("/") + suffix
    connection = await asyncpg.connect(base_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


@asynccontextmanager
async def private_relay(
    relay_env: dict[str, str], tmp_path: Path, *, name: str, **settings: str
) -> AsyncIterator[PrivateRelay]:
    """``settings`` are the stack's extra environment variables; ``name`` keeps its database apart."""
    valkey = PrivateValkey(tmp_path / "valkey")
    relay: RelayStack | None = None
    valkey.start()
    try:
        env = {
            **relay_env,
            "DATABASE_URL": await private_database(relay_env["DATABASE_URL"], tmp_path, f"_{name}"),
            "REDIS_URL": valkey.url,
            "RELAY_DATA_DIR": str(tmp_path / "data"),
            **settings,
        }
        migrate = [sys.executable, "-P", "-m", "relay", "migrate"]
        await asyncio.to_thread(subprocess.run, migrate, env=env, check=True, capture_output=True, timeout=60)
        (tmp_path / "logs").mkdir()
        relay = RelayStack(env=env, log_dir=tmp_path / "logs")
        relay.start_web()
        relay.start_worker()
        admin_headers = {"Authorization": f"Bearer {relay.admin_token}"}
        async with httpx.AsyncClient(base_url=relay.base_url, headers=admin_headers, timeout=30) as admin:
            key = await create_tenant_key(admin, name)
        async with (
            httpx.AsyncClient(base_url=relay.base_url, headers=key.headers, timeout=30) as client,
            httpx.AsyncClient(base_url=relay.base_url, timeout=30) as anonymous,
        ):
            yield PrivateRelay(relay, client, anonymous)
    finally:
        if relay is not None:
            relay.stop_all()
        valkey.destroy()
