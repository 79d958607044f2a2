"""A session whose worker is gone never reads as connected.

The worker holding a connected sandbox session is frozen (SIGSTOP) or killed (SIGKILL); once its
lease lapses (``RELAY_LEASE_TTL=3`` in the test stack) the API shows the session ``reconnecting``
with a reason saying no worker holds it, and ``connected`` again once a worker drives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from relay.core.constants import session_lease_key
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, session_status, wait_for_status
from tests.stack import RelayStack

# Past the stack's RELAY_LEASE_TTL (3 s), with room for a loaded machine.
LEASE_LAPSE_TIMEOUT = 20


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def holder_of(
    redis_client: aioredis.Redis, stack: RelayStack, session_id: str
) -> subprocess.Popen[bytes]:
    """The worker process whose lease is on the session (a lease reads ``host:pid:nonce:token``)."""
    lease = await redis_client.get(session_lease_key(session_id))
    assert lease is not None, "a connected session has an owner"
    pid = int(lease.decode().split(":")[-3])
    (worker,) = [worker for worker in stack.workers if worker.pid == pid]
    return worker


async def reads_orphaned(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    """Both reads, the session and the list, show it reconnecting because no worker holds it."""

    async def orphaned() -> dict[str, Any] | None:
        session = await session_status(client, session_id)
        listed = (await client.get("/v1/sessions", params={"limit": 1000})).raise_for_status().json()
        (in_list,) = [s for s in listed["data"] if s["id"] == session_id]
        if session["status"] == in_list["status"] == "reconnecting" and "no worker" in (
            session["reason"] or ""
        ):
            return session
        return None

    return await wait_until(orphaned, timeout=LEASE_LAPSE_TIMEOUT, what="the session to read as orphaned")


async def test_a_frozen_worker_session_reads_reconnecting_until_the_worker_resumes(
    stack: RelayStack, tenant: TenantHandle, redis_client: aioredis.Redis
) -> None:
    """Proof nothing is lost: the resumed worker drives the same linked session (same jid, no new scan)."""
    session = await connected_sandbox_session(tenant.client, "frozen")
    worker = await holder_of(redis_client, stack, session["id"])
    os.killpg(worker.pid, signal.SIGSTOP)
    try:
        orphaned = await reads_orphaned(tenant.client, session["id"])
        assert orphaned["desired_state"] == "running" and orphaned["jid"] == session["jid"]
    finally:
        os.killpg(worker.pid, signal.SIGCONT)
    back = await wait_for_status(tenant.client, session["id"], "connected", timeout=LEASE_LAPSE_TIMEOUT)
    assert back["jid"] == session["jid"] and back["reason"] != orphaned["reason"]


async def test_a_killed_worker_session_reads_reconnecting_until_a_new_worker_takes_it(
    stack: RelayStack, tenant: TenantHandle, redis_client: aioredis.Redis
) -> None:
    """Proof nothing is lost: the replacement worker resumes the same linked session without a scan."""
    session = await connected_sandbox_session(tenant.client, "killed")
    stack.kill(await holder_of(redis_client, stack, session["id"]))
    try:
        await reads_orphaned(tenant.client, session["id"])
    finally:
        stack.start_worker()
    back = await wait_for_status(tenant.client, session["id"], "connected", timeout=LEASE_LAPSE_TIMEOUT)
    assert back["jid"] == session["jid"]
