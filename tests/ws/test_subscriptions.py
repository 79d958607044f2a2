"""What a subscription delivers: one session or all, never another tenant's events.

Delivery is in order, so "nothing else arrived" is proven with a marker: the
test publishes what must not arrive, then something that must, and checks the
first event received is the marker.
"""

from __future__ import annotations

from tests.conftest import TenantHandle
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.conftest import Publisher, create_session
from tests.ws.feed import events_until, open_feed, send, subscribe


async def test_one_session_only_gets_that_session(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    first, second = await create_session(tenant), await create_session(tenant)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, first)
        await publisher.publish(tenant.id, second, 3)
        [marker] = await publisher.publish(tenant.id, first)
        received = await events_until(ws, marker)
        assert [e["id"] for e in received] == [marker]
        assert received[0]["session_id"] == first
        assert received[0]["tenant_id"] == tenant.id
        assert set(received[0]) >= {"id", "type", "tenant_id", "session_id", "created_at", "data"}


async def test_star_gets_every_session_of_the_tenant(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    first, second = await create_session(tenant), await create_session(tenant)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, "*")
        ids = await publisher.publish(tenant.id, first, 2)
        ids += await publisher.publish(tenant.id, second, 2)
        ids += await publisher.publish(tenant.id, None)  # tenant-level events have no session
        assert [e["id"] for e in await events_until(ws, ids[-1])] == ids


async def test_an_event_matching_two_subscriptions_is_sent_once(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    first = await create_session(tenant)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, first)
        await subscribe(ws, "*")
        ids = await publisher.publish(tenant.id, first, 3)
        ids += await publisher.publish(tenant.id, None)
        assert [e["id"] for e in await events_until(ws, ids[-1])] == ids


async def test_unsubscribe_stops_delivery(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    first, second = await create_session(tenant), await create_session(tenant)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, first)
        await subscribe(ws, second)
        await send(ws, {"type": "unsubscribe", "session_id": first})
        assert await ws_receive(ws) == {"type": "unsubscribed", "session_id": first}
        await publisher.publish(tenant.id, first, 2)
        [marker] = await publisher.publish(tenant.id, second)
        assert [e["id"] for e in await events_until(ws, marker)] == [marker]


async def test_unsubscribing_everything_then_subscribing_again(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, "*")
        await send(ws, {"type": "unsubscribe", "session_id": "*"})
        assert await ws_receive(ws) == {"type": "unsubscribed", "session_id": "*"}
        await publisher.publish(tenant.id, None, 2)
        await subscribe(ws, "*")
        [marker] = await publisher.publish(tenant.id, None)
        assert [e["id"] for e in await events_until(ws, marker)] == [marker]


async def test_unknown_session_is_not_found(stack: RelayStack, tenant: TenantHandle) -> None:
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await send(ws, {"type": "subscribe", "session_id": "ses_01ARZ3NDEKTSV4RRFFQ69G5FAV"})
        assert await ws_receive(ws) == {"type": "error", "error": "session not found"}


async def test_deleted_session_is_not_found(stack: RelayStack, tenant: TenantHandle) -> None:
    session = await create_session(tenant)
    (await tenant.client.delete(f"/v1/sessions/{session}")).raise_for_status()
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await send(ws, {"type": "subscribe", "session_id": session})
        assert await ws_receive(ws) == {"type": "error", "error": "session not found"}


async def test_another_tenants_session_is_not_found_and_stays_private(
    stack: RelayStack, tenant: TenantHandle, other_tenant: TenantHandle, publisher: Publisher
) -> None:
    theirs = await create_session(tenant)
    ours = await create_session(other_tenant)
    async with await open_feed(stack.ws_url, other_tenant.api_key) as ws:
        await send(ws, {"type": "subscribe", "session_id": theirs})
        assert await ws_receive(ws) == {"type": "error", "error": "session not found"}
        await subscribe(ws, ours)
        await publisher.publish(tenant.id, theirs, 3)
        [marker] = await publisher.publish(other_tenant.id, ours)
        assert [e["id"] for e in await events_until(ws, marker)] == [marker]


async def test_tenants_never_see_each_others_events(
    stack: RelayStack, tenant: TenantHandle, other_tenant: TenantHandle, publisher: Publisher
) -> None:
    mine = await create_session(tenant)
    async with (
        await open_feed(stack.ws_url, tenant.api_key) as ws,
        await open_feed(stack.ws_url, other_tenant.api_key) as other_ws,
    ):
        await subscribe(ws, "*")
        await subscribe(other_ws, "*")
        ids = await publisher.publish(tenant.id, mine, 5)
        ids += await publisher.publish(tenant.id, None)
        [marker] = await publisher.publish(other_tenant.id, None)
        assert [e["id"] for e in await events_until(ws, ids[-1])] == ids
        received = await events_until(other_ws, marker)
        assert [e["id"] for e in received] == [marker]
        assert all(e["tenant_id"] == other_tenant.id for e in received)
