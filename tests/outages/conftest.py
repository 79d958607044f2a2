"""Relay on private servers that a test takes down: real outages under real processes.

Each test gets its own Postgres cluster or Valkey (``tests/servers.py``), its own data
dir and its own `relay serve` and `relay worker` processes, so stopping a server hurts
no other test. A tenant with a connected sandbox session and a webhook endpoint on a
loopback receiver is the scene; what the receiver gets is checked with
``standardwebhooks``, as an integrator would.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.helpers import create_tenant_key, wait_until
from tests.servers import PrivatePostgres, PrivateValkey
from tests.sessions import connected_sandbox_session
from tests.stack import RelayStack
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver

BURST = 600
CONTACT = "15550007777"
HOOK = "/hook"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()  # skips, saying why, where initdb is not installed
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def private_valkey(tmp_path: Path) -> Iterator[PrivateValkey]:
    server = PrivateValkey(tmp_path / "valkey")
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def relay_on(
    relay_env: dict[str, str], tmp_path: Path, *, database_url: str, redis_url: str, **overrides: str
) -> RelayStack:
    """Migrate, then start one web and one worker process on the given database and Redis."""
    env = {
        **relay_env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RELAY_DATA_DIR": str(tmp_path / "data"),
        **overrides,
    }
    subprocess.run(
        [sys.executable, "-m", "relay", "migrate"], env=env, check=True, capture_output=True, timeout=60
    )
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    stack = RelayStack(env=env, log_dir=log_dir)
    stack.start_web()
    stack.start_worker()
    return stack


@contextlib.contextmanager
def logs_on_failure(stack: RelayStack) -> Iterator[None]:
    """A failed outage test is only debuggable with what the processes said: print it."""
    try:
        yield
    except BaseException:
        for path in sorted(stack.log_dir.glob("*.log")):
            print(f"===== {path.name} (last 6000 chars)\n{path.read_text(errors='replace')[-6000:]}")
        raise


@dataclass
class Scene:
    """A tenant's client, its connected sandbox session, and the secret of its webhook endpoint."""

    client: httpx.AsyncClient
    session_id: str
    secret: str

    async def burst(self, text: str, count: int = BURST) -> httpx.Response:
        response = await self.client.post(
            f"/v1/sessions/{self.session_id}/sandbox/inbound",
            json={"from": CONTACT, "text": text, "count": count},
        )
        assert response.status_code == 202, response.text
        return response


@contextlib.asynccontextmanager
async def scene_on(stack: RelayStack, receiver: Receiver) -> AsyncIterator[Scene]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        created = await create_tenant_key(client, "outage", admin_token=stack.admin_token)
        client.headers["Authorization"] = f"Bearer {created.api_key}"
        endpoint = await create_endpoint(client, receiver.url(HOOK), events=["message.received"])
        session = await connected_sandbox_session(client, "outage")
        yield Scene(client, session["id"], endpoint["secret"])


async def ledger_messages(scene: Scene, text: str, count: int, timeout: float) -> list[dict[str, Any]]:
    """The ``message.received`` events with ``text``, once there are ``count``; tolerant of a web
    process that is itself still recovering (its answers during an outage are not ours to judge)."""

    async def probe() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"session_id": scene.session_id, "type": "message.received", "limit": 1000}
        for _ in range(100):
            try:
                response = await scene.client.get("/v1/events", params=params)
            except httpx.HTTPError:
                return None
            if response.status_code != 200:
                return None
            page = response.json()
            found += [event for event in page["data"] if event["data"]["text"] == text]
            if not page["next_cursor"]:
                break
            params["after"] = page["next_cursor"]
        return found if len(found) >= count else None

    what = f"{count} {text!r} messages in the ledger"
    return await wait_until(probe, timeout=timeout, interval=0.5, what=what)


async def webhook_deliveries(
    receiver: Receiver, secret: str, text: str, count: int, timeout: float
) -> list[dict[str, Any]]:
    """Every signed delivery of a ``text`` message, verified, once ``count`` distinct events arrived."""
    verifier = Webhook(secret)

    async def probe() -> list[dict[str, Any]] | None:
        payloads = [verifier.verify(r.body, r.headers) for r in receiver.at(HOOK)]
        ours = [payload for payload in payloads if payload["data"]["text"] == text]
        return ours if len({payload["id"] for payload in ours}) >= count else None

    return await wait_until(probe, timeout=timeout, interval=0.2, what=f"{count} {text!r} webhooks")
