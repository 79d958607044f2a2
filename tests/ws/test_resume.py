"""``since``: a client that was away gets exactly what it missed, then goes live."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from relay.core.constants import WS_REPLAY_LIMIT
from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from tests.conftest import TenantHandle
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.conftest import Publisher, create_session
from tests.ws.feed import events_until, open_feed, subscribe


async def test_since_replays_the_gap_while_events_keep_coming(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    session = await create_session(tenant)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, "*")
        before = await publisher.publish(tenant.id, session, 5)
        seen = [e["id"] for e in await events_until(ws, before[-1])]
    assert seen == before

    # Away: events happen. Then back while more keep being published.
    missed = await publisher.publish(tenant.id, session, 40)
    published: list[str] = []

    async def keep_publishing() -> None:
        for _ in range(60):
            published.extend(await publisher.publish(tenant.id, session))
            await asyncio.sleep(0.005)

    background = asyncio.create_task(keep_publishing())
    try:
        async with await open_feed(stack.ws_url, tenant.api_key) as ws:
            await asyncio.sleep(0.05)  # let some events land while the replay is being set up
            await subscribe(ws, "*", since=seen[-1])
            await background
            received = [e["id"] for e in await events_until(ws, published[-1])]
    finally:
        background.cancel()
    assert len(received) == len(set(received)), "duplicates"
    assert received == missed + published


async def test_since_on_one_session_replays_only_that_session(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    first, second = await create_session(tenant), await create_session(tenant)
    [start] = await publisher.publish(tenant.id, first)
    wanted = await publisher.publish(tenant.id, first, 3)
    await publisher.publish(tenant.id, second, 3)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, first, since=start)
        live = await publisher.publish(tenant.id, first)
        assert [e["id"] for e in await events_until(ws, live[-1])] == wanted + live


async def test_since_with_nothing_missed_goes_straight_to_live(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    [last] = await publisher.publish(tenant.id, None)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, "*", since=last)
        live = await publisher.publish(tenant.id, None, 2)
        assert [e["id"] for e in await events_until(ws, live[-1])] == live


async def test_since_never_leaks_another_tenants_history(
    stack: RelayStack, tenant: TenantHandle, other_tenant: TenantHandle, publisher: Publisher
) -> None:
    [start] = await publisher.publish(other_tenant.id, None)
    await publisher.publish(tenant.id, None, 3)
    mine = await publisher.publish(other_tenant.id, None, 2)
    async with await open_feed(stack.ws_url, other_tenant.api_key) as ws:
        await subscribe(ws, "*", since=start)
        assert [e["id"] for e in await events_until(ws, mine[-1])] == mine


async def test_a_gap_longer_than_the_replay_limit_is_fetched_in_two_visits(
    stack: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    [start] = await publisher.publish(tenant.id, None)
    # One group committed without a stream append: this history never went through the live stream.
    history = await publish_events(
        None,
        [
            NewEvent(tenant_id=tenant.id, session_id=None, type=EventType.WEBHOOK_TEST, data={})
            for _ in range(WS_REPLAY_LIMIT + 50)
        ],
    )
    expected = [envelope["id"] for envelope in history]

    async with await open_feed(stack.ws_url, tenant.api_key, max_size=None) as ws:
        await subscribe(ws, "*", since=start)
        first_visit: list[str] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                first_visit.append((await ws_receive(ws, 30))["event"]["id"])
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert closed.value.rcvd.reason == "replay limit reached; reconnect with since"
    assert first_visit == expected[: len(first_visit)]
    assert len(first_visit) <= WS_REPLAY_LIMIT

    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, "*", since=first_visit[-1])
        live = await publisher.publish(tenant.id, None)
        second_visit = [e["id"] for e in await events_until(ws, live[-1], timeout=60)]
    assert first_visit + second_visit == expected + live
