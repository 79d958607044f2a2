"""Capacity is visible: sessions that no worker has room for say so, and start once there is room.

A Relay of its own (its own Valkey and database, so no other test's worker has room
to spare): one web, and workers with ``RELAY_WORKER_CAPACITY=5``.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tests.helpers import wait_until
from tests.servers import PrivateValkey
from tests.sessions import events_of, session_status
from tests.stack import RelayStack

CAPACITY = 5
SESSIONS = 8


@dataclass
class CapacityStack:
    relay: RelayStack
    tenant: httpx.AsyncClient
    anonymous: httpx.AsyncClient


async def private_database(base_url: str, tmp_path: Path, suffix: str = "_capacity") -> str:
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


@pytest.fixture
async def capacity_stack(relay_env: dict[str, str], tmp_path: Path) -> AsyncIterator[CapacityStack]:
    valkey = PrivateValkey(tmp_path / "valkey")
    relay: RelayStack | None = None
    valkey.start()
    try:
        env = {
            **relay_env,
            "DATABASE_URL": await private_database(relay_env["DATABASE_URL"], tmp_path),
            "REDIS_URL": valkey.url,
            "RELAY_DATA_DIR": str(tmp_path / "data"),
            "RELAY_WORKER_CAPACITY": str(CAPACITY),
            "RELAY_SANDBOX_QR_INTERVAL": "60",
        }
        migrate = [sys.executable, "-P", "-m", "relay", "migrate"]
        await asyncio.to_thread(subprocess.run, migrate, env=env, check=True, capture_output=True, timeout=60)
        (tmp_path / "logs").mkdir()
        relay = RelayStack(env=env, log_dir=tmp_path / "logs")
        relay.start_web()
        relay.start_worker()
        admin_headers = {"Authorization": f"Bearer {relay.admin_token}"}
        async with httpx.AsyncClient(base_url=relay.base_url, headers=admin_headers, timeout=30) as admin:
            tenant = (await admin.post("/v1/tenants", json={"name": "busy"})).raise_for_status().json()
            key = (
                (await admin.post(f"/v1/tenants/{tenant['id']}/api-keys", json={})).raise_for_status().json()
            )
        headers = {"Authorization": f"Bearer {key['key']}"}
        async with (
            httpx.AsyncClient(base_url=relay.base_url, headers=headers, timeout=30) as client,
            httpx.AsyncClient(base_url=relay.base_url, timeout=30) as anonymous,
        ):
            yield CapacityStack(relay, client, anonymous)
    finally:
        if relay is not None:
            relay.stop_all()
        valkey.destroy()


async def sessions_by_id(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    page = (await client.get("/v1/sessions", params={"limit": 100})).raise_for_status().json()
    return {session["id"]: session for session in page["data"]}


def waiting_for_capacity(session: dict[str, Any]) -> bool:
    return (
        session["status"] == "stopped"
        and session["desired_state"] == "running"
        and (session["reason"] or "").startswith("waiting for capacity: every worker is full")
    )


async def unplaced_gauge(anonymous: httpx.AsyncClient) -> float:
    metrics = (await anonymous.get("/metrics")).raise_for_status().text
    found = re.search(r"^relay_sessions_unplaced (\S+)$", metrics, re.MULTILINE)
    assert found, "relay_sessions_unplaced is not exported"
    return float(found.group(1))


async def split(client: httpx.AsyncClient, placed: int, waiting: int) -> tuple[list[str], list[str]]:
    """Wait until ``placed`` sessions show a QR and ``waiting`` say they wait for capacity."""

    async def probe() -> tuple[list[str], list[str]] | None:
        sessions = await sessions_by_id(client)
        with_qr = [sid for sid, s in sessions.items() if s["status"] == "qr"]
        unplaced = [sid for sid, s in sessions.items() if waiting_for_capacity(s)]
        return (with_qr, unplaced) if (len(with_qr), len(unplaced)) == (placed, waiting) else None

    return await wait_until(probe, timeout=30, what=f"{placed} sessions with a QR and {waiting} waiting")


async def test_unplaced_sessions_say_why_and_start_once_a_worker_has_room(
    capacity_stack: CapacityStack,
) -> None:
    client, relay = capacity_stack.tenant, capacity_stack.relay
    for n in range(SESSIONS):
        created = await client.post("/v1/sessions", json={"name": f"s{n}", "engine": "sandbox"})
        assert created.status_code == 201, created.text

    placed, unplaced = await split(client, CAPACITY, SESSIONS - CAPACITY)
    shown = await session_status(client, unplaced[0])
    assert shown["reason"] == f"waiting for capacity: every worker is full (capacity {CAPACITY})"
    statuses = await events_of(client, unplaced[0], "session.status")
    assert statuses[-1]["data"] == {"status": "stopped", "previous": "stopped", "reason": shown["reason"]}
    assert await unplaced_gauge(capacity_stack.anonymous) == SESSIONS - CAPACITY

    # Stopping a placed session makes room: one waiting session starts and loses its reason.
    assert (await client.post(f"/v1/sessions/{placed[0]}/stop")).status_code == 202
    _, still_waiting = await split(client, CAPACITY, SESSIONS - CAPACITY - 1)
    started = next(sid for sid in unplaced if sid not in still_waiting)
    assert (await session_status(client, started))["reason"] != shown["reason"]
    await wait_until(
        lambda: _gauge_is(capacity_stack.anonymous, SESSIONS - CAPACITY - 1), timeout=10, what="gauge down"
    )

    # Stopping a waiting session: it no longer waits, and says it was stopped.
    assert (await client.post(f"/v1/sessions/{still_waiting[0]}/stop")).status_code == 202

    async def stopped_on_request() -> bool:
        session = await session_status(client, still_waiting[0])
        return session["desired_state"] == "stopped" and session["reason"] == "stopped on request"

    await wait_until(stopped_on_request, timeout=10, what="the stopped session to lose its capacity reason")

    # A second worker brings room for the last one.
    relay.start_worker()
    await split(client, CAPACITY + 1, 0)
    await wait_until(lambda: _gauge_is(capacity_stack.anonymous, 0), timeout=10, what="gauge at 0")

    # The full worker said so once, however many polls it stayed full.
    first_worker_log = relay.workers[0].log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    assert first_worker_log.count("every worker is full") == 1, first_worker_log[-3000:]


async def _gauge_is(anonymous: httpx.AsyncClient, value: int) -> bool:
    return await unplaced_gauge(anonymous) == value
