"""What an operator sees: one Redis reader per web process, and a gauge of open sockets."""

from __future__ import annotations

import contextlib
import re

import httpx
from redis.asyncio import Redis

from relay.web.ws.fanout import READER_CLIENT_NAME
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.stack import RelayStack
from tests.ws.conftest import Publisher
from tests.ws.feed import events_until, open_feed, subscribe


async def reader_connections(redis: Redis) -> int:
    return sum(1 for client in await redis.client_list() if client.get("name") == READER_CLIENT_NAME)


async def open_sockets(stack: RelayStack) -> float:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        text = (await client.get("/metrics")).text
    match = re.search(r"^relay_ws_connections (\S+)$", text, re.M)
    assert match, "gauge missing from /metrics"
    return float(match.group(1))


async def test_many_sockets_share_one_reader_and_are_counted(
    stack: RelayStack, tenant: TenantHandle, other_tenant: TenantHandle, publisher: Publisher
) -> None:
    readers_before = await reader_connections(publisher.redis)
    gauge_before = await open_sockets(stack)
    async with contextlib.AsyncExitStack() as sockets:
        opened = []
        for index in range(12):
            owner = tenant if index % 2 else other_tenant
            ws = await sockets.enter_async_context(await open_feed(stack.ws_url, owner.api_key))
            await subscribe(ws, "*")
            opened.append((owner, ws))
        mine = await publisher.publish(tenant.id, None)
        theirs = await publisher.publish(other_tenant.id, None)
        for owner, ws in opened:
            expected = mine if owner is tenant else theirs
            assert [e["id"] for e in await events_until(ws, expected[-1])] == expected

        assert await reader_connections(publisher.redis) == readers_before
        assert await open_sockets(stack) == gauge_before + 12

    async def back_to_before() -> bool:
        return await open_sockets(stack) == gauge_before

    await wait_until(back_to_before, what="the gauge to drop back")
