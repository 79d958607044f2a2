"""Event history: the same envelopes webhooks and the WebSocket carry, in commit order."""

from __future__ import annotations

from tests.conftest import TenantHandle
from tests.sessions import connected_sandbox_session

ENVELOPE_FIELDS = {"id", "seq", "type", "tenant_id", "session_id", "created_at", "data"}


async def test_history_is_ordered_filterable_and_resumable(
    tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)

    everything = (await client.get("/v1/events", params={"limit": 1000})).json()["data"]
    assert everything and all(set(e) == ENVELOPE_FIELDS for e in everything)
    # A new tenant's seqs count its events from 1, with no gap.
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything)
    assert {e["tenant_id"] for e in everything} == {tenant.id}
    types = [e["type"] for e in everything]
    assert "session.qr" in types and "session.status" in types

    statuses = (await client.get("/v1/events", params={"type": "session.status"})).json()["data"]
    assert statuses and {e["type"] for e in statuses} == {"session.status"}
    assert statuses[-1]["data"]["status"] == "connected"

    after_first = (await client.get("/v1/events", params={"after": everything[0]["id"]})).json()
    assert [e["id"] for e in after_first["data"]] == [e["id"] for e in everything[1:]][:50]

    two = (await client.get("/v1/events", params={"limit": 2})).json()
    assert [e["id"] for e in two["data"]] == [e["id"] for e in everything[:2]]
    following = (await client.get("/v1/events", params={"cursor": two["next_cursor"], "limit": 2})).json()
    assert [e["id"] for e in following["data"]] == [e["id"] for e in everything[2:4]]

    # Another tenant sees none of it, even when asking for this session by id.
    foreign = await other_tenant.client.get("/v1/events", params={"session_id": session["id"]})
    assert foreign.status_code == 200 and foreign.json()["data"] == []
