"""The process-wide reader, driven directly against a real Valkey and the stack's database.

These cover what the socket tests cannot see: where a new tenant starts
reading, that idle tenants stop being read, that entries go out in seq order
whatever order their appends arrive in, and that what the stream misses (a
lost append, a Redis outage) still reaches listeners, from the ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.core.constants import tenant_stream_key
from relay.core.ids import new_id
from relay.web.ws.entries import FeedEntry
from relay.web.ws.fanout import EventFanout
from tests.helpers import wait_until
from tests.servers import PrivateValkey
from tests.ws.conftest import Publisher


async def until(condition: Callable[[], bool], *, what: str, timeout: float = 15.0) -> None:
    async def probe() -> bool:
        return condition()

    await wait_until(probe, what=what, timeout=timeout)


class Inbox:
    """A listener that keeps what it is given."""

    def __init__(self) -> None:
        self.entries: list[FeedEntry] = []

    def deliver(self, entry: FeedEntry) -> None:
        self.entries.append(entry)

    @property
    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]


async def xadd(redis: Redis, tenant_id: str, session_id: str | None = None) -> str:
    """A stream record without a ledger row (and so without a seq): passed on as it comes."""
    envelope = {"id": new_id("evt"), "type": "webhook.test", "tenant_id": tenant_id, "session_id": session_id}
    await redis.xadd(tenant_stream_key(tenant_id), {"e": orjson.dumps(envelope)})
    return str(envelope["id"])


async def append_late(redis: Redis, envelope: dict[str, Any]) -> None:
    """The stream append of an event already committed, arriving after later ones."""
    await redis.xadd(tenant_stream_key(envelope["tenant_id"]), {"e": orjson.dumps(envelope)})


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def fanout(redis_url: str, publisher: Publisher) -> AsyncIterator[EventFanout]:
    """A reader of the suite's Valkey; ``publisher`` opens the database it reads the ledger from."""
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


async def test_appends_arriving_out_of_commit_order_go_out_in_seq_order(
    fanout: EventFanout, redis: Redis, publisher: Publisher
) -> None:
    """Nothing lost, nothing reordered: the inbox ends with exactly the ledger's events, by seq."""
    tenant = new_id("ten")
    inbox = Inbox()
    await fanout.attach(tenant, inbox)
    # Committed in this order, their appends not made yet (as if their writers were slow).
    committed = await publisher.envelopes(tenant, None, 3, feed=False)
    for envelope in reversed(committed):
        await append_late(redis, envelope)
    await until(lambda: len(inbox.entries) == 3, what="three entries")
    assert [entry.seq for entry in inbox.entries] == [envelope["seq"] for envelope in committed]
    assert inbox.ids == [envelope["id"] for envelope in committed]


async def test_an_event_whose_append_was_lost_is_delivered_from_the_ledger_in_order(
    fanout: EventFanout, publisher: Publisher
) -> None:
    """The lost event is in the ledger only; the inbox still gets it live, before the one after it,
    and a lost append with no event after it (the tail) arrives too."""
    tenant = new_id("ten")
    inbox = Inbox()
    await fanout.attach(tenant, inbox)
    lost = await publisher.publish(tenant, None, feed=False)
    after = await publisher.publish(tenant, None)
    await until(lambda: len(inbox.ids) == 2, what="the lost event and the one after it")
    assert inbox.ids == lost + after

    tail = await publisher.publish(tenant, None, feed=False)
    await until(lambda: len(inbox.ids) == 3, what="the lost tail", timeout=30)
    assert inbox.ids == lost + after + tail
    assert [entry.seq for entry in inbox.entries] == [1, 2, 3]


async def test_listeners_keep_their_feed_through_a_redis_outage(tmp_path: Path, publisher: Publisher) -> None:
    """Events committed while Redis is down reach the listener from the ledger, in order, and the
    stream takes over again when Redis is back: the inbox holds every published id exactly once."""
    valkey = PrivateValkey(tmp_path / "valkey")
    valkey.start()
    fanout = EventFanout(valkey.url)
    await fanout.start()
    writer_redis = Redis.from_url(valkey.url)
    try:
        tenant = new_id("ten")
        inbox = Inbox()
        await fanout.attach(tenant, inbox)
        writer = publisher.with_redis(writer_redis)
        before = await writer.publish(tenant, None)
        await until(lambda: inbox.ids == before, what="the event before the outage")

        valkey.kill()
        # The writers' appends fail (logged, not raised): these reach the ledger only.
        during = [(await writer.publish(tenant, None))[0] for _ in range(3)]
        await until(lambda: len(inbox.ids) == 4, what="the events of the outage", timeout=30)

        valkey.start()
        after = await wait_until(
            lambda: _publish_once_redis_answers(writer, tenant),
            what="a publish with Redis back",
            timeout=30,
        )
        await until(lambda: after[0] in inbox.ids, what="the event after the outage")
        assert inbox.ids == before + during + after
        assert fanout.tenant_count == 1
    finally:
        await writer_redis.aclose()
        await fanout.stop()
        valkey.destroy()


async def _publish_once_redis_answers(writer: Publisher, tenant: str) -> list[str] | None:
    try:
        await writer.redis.ping()
    except (RedisError, OSError):
        return None
    return await writer.publish(tenant, None)
