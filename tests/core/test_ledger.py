"""Reading the ledger by seq: what a client's cursor (an event id) stands for."""

from __future__ import annotations

from redis.asyncio import Redis

from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from relay.core.ids import new_id
from relay.core.ledger import committed_positions, cursor_position, event_pages, tenant_events


async def publish(redis: Redis, tenant_id: str, count: int) -> list[dict[str, object]]:
    new = NewEvent(tenant_id=tenant_id, session_id=None, type=EventType.WEBHOOK_TEST, data={})
    return await publish_events(redis, [new] * count)


async def test_a_cursor_is_its_events_seq_and_reading_goes_on_from_there(pipeline: Redis) -> None:
    tenant = new_id("ten")
    envelopes = await publish(pipeline, tenant, 5)
    assert await cursor_position(tenant, None) == 0
    assert await cursor_position(tenant, str(envelopes[1]["id"])) == 2
    pages = [page async for page in event_pages(tenant_events(tenant), after=2, page_size=2)]
    assert [[event.seq for event in page] for page in pages] == [[3, 4], [5]]
    quiet = new_id("ten")
    assert await committed_positions([tenant, quiet]) == {tenant: 5, quiet: 0}


async def test_an_unknown_id_stands_for_the_moment_it_was_minted(pipeline: Redis) -> None:
    tenant, other = new_id("ten"), new_id("ten")
    before = new_id("evt")  # minted before any of the tenant's events, never published
    envelopes = await publish(pipeline, tenant, 3)
    after = new_id("evt")
    assert await cursor_position(tenant, before) == 0
    assert await cursor_position(tenant, after) == 3
    # Another tenant's event id reveals nothing: it is just a moment in time here too.
    [foreign] = await publish(pipeline, other, 1)
    assert await cursor_position(tenant, str(foreign["id"])) == 3
    assert await cursor_position(tenant, str(envelopes[0]["id"])) == 1
