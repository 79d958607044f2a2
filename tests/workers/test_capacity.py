"""Capacity is visible: sessions that no worker has room for say so, and start once there is room.

A Relay of its own (its own Valkey and database, so no other test's worker has room
to spare): one web, and workers with ``RELAY_WORKER_CAPACITY=5``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import wait_until
from tests.sessions import events_of, session_status
from tests.workers.private_stack import PrivateRelay, private_relay

CAPACITY = 5
SESSIONS = 8


@pytest.fixture
async def capacity_stack(relay_env: dict[str, str], tmp_path: Path) -> AsyncIterator[PrivateRelay]:
    settings = {"RELAY_WORKER_CAPACITY": str(CAPACITY), "RELAY_SANDBOX_QR_INTERVAL": "60"}
    async with private_relay(relay_env, tmp_path, name="capacity", **settings) as stack:
        yield stack


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
    capacity_stack: PrivateRelay,
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
