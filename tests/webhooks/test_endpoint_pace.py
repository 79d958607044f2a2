"""Bursts beyond an endpoint's in-flight cap: a fast endpoint's are held, a slow one's given back.

What is given back goes to the retry queue (Redis' due set) to be claimed again later, so
watching that set during a burst shows which way the worker went for each delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver, Reply
from webhooks.constants import DUE_QUEUE, ENDPOINT_INFLIGHT_CAP
from webhooks.models import Delivery


@contextlib.asynccontextmanager
async def due_set_watched(redis: Redis) -> AsyncIterator[set[str]]:
    """Every delivery id seen in the due set while the block runs (sampled every 10 ms: a
    delivery given back stays there at least ``ENDPOINT_BUSY_DEFER_SECONDS``)."""
    seen: set[str] = set()

    async def watch() -> None:
        while True:  # ends when the block does (cancelled)
            seen.update(member.decode() for member in await redis.zrange(DUE_QUEUE, 0, -1))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        yield seen
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def burst(redis: Redis, tenant_id: str, count: int, type: EventType) -> set[str]:
    """``count`` events in one group: their deliveries reach the fresh queue at once."""
    group = [NewEvent(tenant_id=tenant_id, session_id=None, type=type, data={"n": n}) for n in range(count)]
    return {envelope["id"] for envelope in await publish_events(redis, group)}


async def delivery_ids(endpoint_id: str) -> set[str]:
    return set(await Delivery.filter(endpoint_id=endpoint_id).values_list("id", flat=True))


async def attempts_once_settled(endpoint_id: str, count: int) -> list[int] | None:
    attempts = await Delivery.filter(endpoint_id=endpoint_id, status="succeeded").values_list(
        "attempts", flat=True
    )
    return list(attempts) if len(attempts) == count else None


async def test_a_fast_endpoint_takes_a_whole_burst_without_giving_any_back(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    """1,000 deliveries at once to an endpoint that answers at once: far more than its cap plus
    the 64 always held, yet (almost) none is given back: at most 5 % of them ever show up in the
    due set, where holding only 64 gave back about half. Each arrives once, never more
    than the cap at a time, and each row took exactly one attempt. ("Almost": on a machine so
    busy that an attempt on loopback takes over 125 ms, a held delivery would wait over 1 s.)"""
    receiver.script("fast", then=Reply(200))
    endpoint = await create_endpoint(tenant.client, receiver.url("fast"), events=["message.received"])
    async with due_set_watched(ledger) as given_back:
        published = await burst(ledger, tenant.id, 1000, EventType.MESSAGE_RECEIVED)
        arrived = await receiver.wait_for("fast", 1000, timeout=60)
    assert sorted(r.event_id for r in arrived) == sorted(published)
    assert receiver.max_in_flight["/fast"] <= ENDPOINT_INFLIGHT_CAP
    assert len(given_back & await delivery_ids(endpoint["id"])) <= 50
    settled = await wait_until(lambda: attempts_once_settled(endpoint["id"], 1000), what="rows settled")
    assert set(settled) == {1}


async def test_a_slow_endpoint_gives_its_burst_back_and_holds_up_no_other(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    """700 deliveries at once to an endpoint that takes 0.5 s per answer: more than the worker's
    fresh lane has slots. The worker first holds them (the endpoint has not shown its pace
    yet), then gives back what exceeds the cap once it sees it is slow; so another endpoint's
    events published meanwhile arrive while the slow burst is still being delivered. No
    attempt is spent by giving back: every slow row still took exactly one attempt."""
    receiver.script("slow", then=Reply(200, delay=0.5))
    slow = await create_endpoint(tenant.client, receiver.url("slow"), events=["message.received"])
    await create_endpoint(tenant.client, receiver.url("other"), events=["message.ack"])
    async with due_set_watched(ledger) as given_back:
        published = await burst(ledger, tenant.id, 700, EventType.MESSAGE_RECEIVED)
        await receiver.wait_for("slow", 1, timeout=20)
        others = await burst(ledger, tenant.id, 20, EventType.MESSAGE_ACK)
        other_arrivals = await receiver.wait_for("other", 20, timeout=20)
        slow_so_far = len(receiver.at("slow"))
        arrived = await receiver.wait_for("slow", 700, timeout=90)
    assert {r.event_id for r in other_arrivals} == others
    assert slow_so_far < 700, "the other endpoint waited for the whole slow burst"
    assert given_back & await delivery_ids(slow["id"]), "nothing was given back"
    assert sorted(r.event_id for r in arrived) == sorted(published)
    settled = await wait_until(
        lambda: attempts_once_settled(slow["id"], 700), timeout=30, what="rows settled"
    )
    assert set(settled) == {1}


async def test_a_hung_endpoint_does_not_keep_the_lane_it_filled(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    """600 deliveries at once to an endpoint that answers just before the 2 s timeout: the worker
    holds them at first and so fills its fresh lane, and none of the endpoint's attempts ends
    for a while to show how slow it is. Proof the lane is given back all the same: another
    endpoint's 20 events arrive while the hung one has had no more than its first round of
    attempts, and the hung one's deliveries show up in the retry queue."""
    receiver.script("hung", then=Reply(200, delay=1.8))
    hung = await create_endpoint(tenant.client, receiver.url("hung"), events=["message.received"])
    await create_endpoint(tenant.client, receiver.url("other"), events=["message.ack"])
    async with due_set_watched(ledger) as given_back:
        await burst(ledger, tenant.id, 600, EventType.MESSAGE_RECEIVED)
        await receiver.wait_for("hung", ENDPOINT_INFLIGHT_CAP, timeout=20)
        others = await burst(ledger, tenant.id, 20, EventType.MESSAGE_ACK)
        other_arrivals = await receiver.wait_for("other", 20, timeout=20)
        hung_so_far = len(receiver.at("hung"))
    assert {r.event_id for r in other_arrivals} == others
    assert hung_so_far <= ENDPOINT_INFLIGHT_CAP, "the other endpoint waited for a hung attempt to end"
    assert given_back & await delivery_ids(hung["id"]), "nothing was given back"
    # The rest of the hung burst is of no interest: deleting the endpoint drops it.
    response = await tenant.client.delete(f"/v1/webhooks/{hung['id']}")
    assert response.status_code == 204, response.text
