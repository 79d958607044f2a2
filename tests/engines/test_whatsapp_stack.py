"""A real ``whatsapp`` session in a real worker, on a machine that cannot reach WhatsApp."""

from __future__ import annotations

import asyncio

from tests.conftest import TenantHandle
from tests.helpers import is_event, ws_receive_until
from tests.sessions import events_of, wait_for_status
from tests.stack import RelayStack
from tests.ws.feed import open_feed, subscribe


async def test_an_offline_whatsapp_session_reconnects_with_the_dial_failure_then_stops(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    client = tenant.client
    feed = await open_feed(stack.ws_url, tenant.api_key)
    try:
        await subscribe(feed, "*")
        created = await client.post("/v1/sessions", json={"name": "w", "engine": "whatsapp"})
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]

        session = await wait_for_status(client, session_id, "reconnecting", timeout=30)
        assert "failed to dial" in session["reason"], session
        frame = await ws_receive_until(feed, is_event("session.status", status="reconnecting"))
        assert frame["event"]["session_id"] == session_id
        assert "failed to dial" in frame["event"]["data"]["reason"]
    finally:
        await feed.close()

    # Backing off, not hammering: a few seconds later the ledger holds no flood of changes.
    await asyncio.sleep(3)
    statuses = await events_of(client, session_id, "session.status")
    assert len(statuses) <= 4, statuses
    assert all(worker.poll() is None for worker in stack.workers)
    reasons = [e["data"]["reason"] or "" for e in statuses if e["data"]["status"] == "reconnecting"]
    assert reasons and all("failed to dial" in reason for reason in reasons)

    # A pairing code needs a connection: refused at once, saying why.
    pair = await client.post(f"/v1/sessions/{session_id}/pair-code", json={"phone": "15550100001"})
    assert pair.status_code == 409, pair.text
    assert "needs a connection to WhatsApp" in pair.text and "dial" in pair.text

    # So do a contacts check, read receipts and presence: a 409 naming the session's status.
    for route, body in (
        ("contacts/check", {"phones": ["15550100001"]}),
        ("read", {"chat": "15550100001", "message_ids": ["3EB0AA"]}),
        ("presence", {"chat": "15550100001", "state": "typing"}),
        ("groups", {"subject": "Team", "participants": ["15550100001"]}),
    ):
        refused = await client.post(f"/v1/sessions/{session_id}/{route}", json=body)
        assert refused.status_code == 409, refused.text
        assert "session is reconnecting" in refused.json()["detail"]

    stopped = await client.post(f"/v1/sessions/{session_id}/stop")
    assert stopped.status_code == 202, stopped.text
    await wait_for_status(client, session_id, "stopped", timeout=20)
    assert all(worker.poll() is None for worker in stack.workers)
