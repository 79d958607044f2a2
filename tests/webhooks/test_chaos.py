"""Nothing is lost when a worker is killed -9 or Redis is flushed in the middle of a burst."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio import Redis

from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.stack import RelayStack
from tests.webhooks.conftest import create_endpoint, deliveries, publish
from tests.webhooks.receiver import Receiver, Reply
from webhooks.models import Delivery

BURST = 300


async def test_worker_killed_mid_burst_loses_nothing(
    stack: RelayStack, tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    # Slow answers keep many attempts in flight when the worker dies.
    receiver.script("slow", then=Reply(200, delay=0.3))
    endpoint = await create_endpoint(tenant.client, receiver.url("slow"))
    doomed = stack.start_worker()
    published: list[str] = []

    async def doomed_holds_leases() -> bool:
        published.extend(await publish(ledger, tenant.id, count=10))
        return await Delivery.filter(lease_owner__startswith=f"p{doomed.pid}.").exists()

    # Publish until the new worker is mid-flight on some of them, then kill it.
    await wait_until(doomed_holds_leases, timeout=30, what="the doomed worker to hold leases")
    stack.kill(doomed)
    published += await publish(ledger, tenant.id, count=BURST // 2)

    await wait_until(
        lambda: _all_arrived(receiver, "slow", published), timeout=40, what="every event delivered"
    )
    arrived = [r.event_id for r in receiver.at("slow")]
    duplicates = len(arrived) - len(set(arrived))
    # At most the attempts in flight at the kill are sent twice.
    assert duplicates <= 64, duplicates
    await wait_until(
        lambda: _all_succeeded(tenant, endpoint["id"], len(published)), timeout=20, what="all rows settled"
    )


async def test_redis_flushall_mid_burst_loses_nothing(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis, relay_env: dict[str, str]
) -> None:
    # The first half fails once, so its retries sit in Redis when Redis is wiped.
    receiver.script("flush", *[Reply(500)] * (BURST // 2), then=Reply(200))
    endpoint = await create_endpoint(tenant.client, receiver.url("flush"))
    published = await publish(ledger, tenant.id, count=BURST // 2)
    await receiver.wait_for("flush", BURST // 2)
    admin_redis = aioredis.Redis.from_url(relay_env["REDIS_URL"])
    try:
        await admin_redis.flushall()
    finally:
        await admin_redis.aclose()
    published += await publish(ledger, tenant.id, count=BURST // 2)

    await wait_until(
        lambda: _all_arrived(receiver, "flush", published), timeout=40, what="every event delivered"
    )
    await wait_until(
        lambda: _all_succeeded(tenant, endpoint["id"], len(published)),
        timeout=20,
        what="all rows settled",
    )
    # The receiver answers in arrival order, so the first half of the requests were the 500s. A
    # delivery may have used up more than one of them (the test schedule retries at once), so
    # count deliveries, not requests: every one answered 500 was attempted again, its retry
    # found by the sweeper when Redis had forgotten it.
    failed_once = {r.event_id for r in receiver.at("flush")[: BURST // 2]}
    retried = {d["event_id"] for d in await deliveries(tenant.client, endpoint["id"]) if d["attempts"] > 1}
    assert failed_once <= retried, sorted(failed_once - retried)


async def _all_arrived(receiver: Receiver, path: str, event_ids: list[str]) -> bool:
    return set(event_ids) <= {r.event_id for r in receiver.at(path)}


async def _all_succeeded(tenant: TenantHandle, endpoint_id: str, count: int) -> bool:
    rows = await deliveries(tenant.client, endpoint_id, status="succeeded")
    return len(rows) == count
