"""Redis loses everything (FLUSHALL) under a connected session: nothing accepted is lost.

Proof: leases, fence counters, command streams and consumer groups all vanish;
the owner notices at its next renewal and stops, a worker claims the session
again (moving the fence counter past the one stamped on the row), the session
reconnects without a scan, and a message accepted right after the flush is sent.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of, session_status
from tests.stack import RelayStack


async def test_flushall_under_a_connected_session(
    stack: RelayStack, tenant: TenantHandle, redis_url: str
) -> None:
    session = await connected_sandbox_session(tenant.client, "flushed")
    sid = session["id"]
    before = len(await events_of(tenant.client, sid))

    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.flushall()
    finally:
        await client.aclose()

    sent = await tenant.client.post(
        f"/v1/sessions/{sid}/messages", json={"to": "15550005555", "type": "text", "text": "after flush"}
    )
    assert sent.status_code in (201, 202), sent.text

    async def recovered() -> list[str] | None:
        message = (await tenant.client.get(f"/v1/messages/{sent.json()['id']}")).json()
        events = (await events_of(tenant.client, sid))[before:]
        statuses = [e["data"]["status"] for e in events if e["type"] == "session.status"]
        reclaimed = "starting" in statuses and statuses[-1] == "connected"
        return statuses if message["status"] == "sent" and reclaimed else None

    # The owner notices the vanished lease at its next renewal, stops, and a worker reclaims it.
    statuses = await wait_until(
        recovered, timeout=30, what="the session to be reclaimed and the message sent"
    )
    assert "qr" not in statuses, statuses
    assert (await session_status(tenant.client, sid))["jid"] == session["jid"]
