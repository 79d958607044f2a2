"""Offline catch-up on the sandbox: what contacts write while the connection is down comes on reconnect.

As WhatsApp does, the messages are held while the session is dropped and delivered when it is
back, each with ``offline: true``, then ``session.synced`` says the catch-up is over.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of, wait_for_status

CONTACT = "4915112345678"


async def inbound(client: httpx.AsyncClient, session_id: str, text: str) -> list[str]:
    response = await client.post(
        f"/v1/sessions/{session_id}/sandbox/inbound", json={"from": CONTACT, "text": text}
    )
    assert response.status_code == 202, response.text
    ids: list[str] = response.json()["whatsapp_ids"]
    return ids


async def test_messages_sent_while_dropped_arrive_offline_on_reconnect_then_synced(
    tenant: TenantHandle,
) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    session_id = session["id"]
    live_before = await inbound(client, session_id, "before")

    dropped = await client.post(f"/v1/sessions/{session_id}/sandbox/drop", json={"seconds": 5})
    assert dropped.status_code == 202, dropped.text
    held = await inbound(client, session_id, "while away") + await inbound(client, session_id, "still away")
    await wait_for_status(client, session_id, "connected", timeout=30)

    async def synced() -> list[dict[str, Any]] | None:
        events = await events_of(client, session_id)
        return events if any(e["type"] == "session.synced" for e in events) else None

    events = await wait_until(synced, what="session.synced after the reconnect")
    live_after = await inbound(client, session_id, "after")
    await wait_until(lambda: _received(client, session_id, 4), what="the message written after the reconnect")

    timeline = [
        (e["type"], e["data"].get("whatsapp_id"), e["data"].get("offline"), e["data"].get("status"))
        for e in await events_of(client, session_id)
        if e["type"] in ("message.received", "session.synced", "session.status")
    ]
    reconnected = timeline.index(("session.status", None, None, "connected"), 3)
    assert timeline[reconnected - 1][3] == "reconnecting"
    assert timeline[reconnected + 1 :] == [
        ("message.received", held[0], True, None),
        ("message.received", held[1], True, None),
        ("session.synced", None, None, None),
        ("message.received", live_after[0], None, None),
    ]
    [sync] = [e for e in events if e["type"] == "session.synced"]
    assert sync["data"] == {"count": 2}
    [before] = [e for e in events if e["data"].get("whatsapp_id") == live_before[0]]
    assert "offline" not in before["data"]


async def test_a_drop_with_nothing_missed_still_says_synced_with_zero(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    dropped = await client.post(f"/v1/sessions/{session['id']}/sandbox/drop")
    assert dropped.status_code == 202, dropped.text

    async def synced() -> list[dict[str, Any]] | None:
        events = await events_of(client, session["id"], "session.synced")
        return events or None

    [sync] = await wait_until(synced, what="session.synced after the reconnect")
    assert sync["data"] == {"count": 0}


async def _received(client: httpx.AsyncClient, session_id: str, count: int) -> bool:
    return len(await events_of(client, session_id, "message.received")) >= count
