"""The sweeper queues again what Redis lost, and leaves alone what is only waiting in the fresh list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from relay.core.ids import new_id
from webhooks import store
from webhooks.models import Delivery

# Overdue by more than the grace asked for below, yet less than the running stack's sweeper
# waits for (SWEEP_GRACE_SECONDS): the stack's worker leaves these rows alone during the test.
OVERDUE = timedelta(seconds=1)
GRACE = 0.5


async def overdue_delivery(tenant_id: str) -> str:
    """A pending, unleased delivery, overdue."""
    delivery = await Delivery.create(
        id=Delivery.make_id(),
        tenant_id=tenant_id,
        endpoint_id=new_id("whk"),
        event_id=new_id("evt"),
        next_attempt_at=datetime.now(UTC) - OVERDUE,
    )
    return str(delivery.id)


async def test_only_deliveries_older_than_the_fresh_lists_head_are_swept(ledger: Redis) -> None:
    """Ids grow with time and the fresh list is first in, first out: a delivery older than its
    head was popped already (lost if still pending), a newer one may still be queued."""
    tenant = new_id("ten")
    older = await overdue_delivery(tenant)
    head = await overdue_delivery(tenant)
    newer = await overdue_delivery(tenant)

    swept = {delivery_id for delivery_id, _ in await store.lost_deliveries(GRACE, 10_000, before_id=head)}
    everything = {delivery_id for delivery_id, _ in await store.lost_deliveries(GRACE, 10_000)}

    assert older in swept and head not in swept and newer not in swept
    assert {older, head, newer} <= everything, "with nothing queued, every overdue delivery is lost"
    await Delivery.filter(id__in=[older, head, newer]).delete()
