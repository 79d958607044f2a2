"""Endpoint health: five days of failure disables; one slow endpoint does not slow the others."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.webhooks.conftest import create_endpoint, publish
from tests.webhooks.receiver import Receiver, Reply
from webhooks.constants import ENDPOINT_INFLIGHT_CAP
from webhooks.models import Delivery, WebhookEndpoint


async def test_five_days_of_failure_disables_and_notifies(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("dead", then=Reply(500))
    endpoint = await create_endpoint(tenant.client, receiver.url("dead"), events=["message.received"])
    # Pretend the endpoint has been failing since long ago (the clock cannot wait five days).
    await WebhookEndpoint.filter(id=endpoint["id"]).update(
        failing_since=datetime.now(UTC) - timedelta(days=5, minutes=1)
    )
    await publish(ledger, tenant.id)

    async def disabled() -> dict | None:
        current = (await tenant.client.get(f"/v1/webhooks/{endpoint['id']}")).json()
        return current if not current["enabled"] else None

    current = await wait_until(disabled, what="the endpoint to be disabled")
    assert "5 days" in current["disabled_reason"]
    events = (await tenant.client.get("/v1/events", params={"type": "webhook.endpoint_disabled"})).json()
    assert [e["data"]["endpoint_id"] for e in events["data"]] == [endpoint["id"]]


async def test_a_success_clears_the_failure_clock(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("recovering", Reply(500), then=Reply(200))
    endpoint = await create_endpoint(tenant.client, receiver.url("recovering"))
    await publish(ledger, tenant.id)
    await receiver.wait_for("recovering", 2)

    async def healthy() -> bool:
        row = await WebhookEndpoint.get(id=endpoint["id"])
        return row.failing_since is None and row.last_success_at is not None

    await wait_until(healthy, what="failing_since cleared after a success")


async def test_slow_endpoint_does_not_delay_others(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("stuck", then=Reply(200, delay=1.8))  # just under the 2 s timeout
    await create_endpoint(tenant.client, receiver.url("stuck"), events=["message.received"])
    await publish(ledger, tenant.id, count=150)  # far more than the per-endpoint cap
    await receiver.wait_for("stuck", 10)

    await create_endpoint(tenant.client, receiver.url("fast"), events=["message.ack"])
    started = time.time()
    await publish(ledger, tenant.id, type="message.ack", count=20)
    fast = await receiver.wait_for("fast", 20, timeout=10)
    assert max(r.at for r in fast) - started < 2.0


async def test_a_burst_beyond_the_endpoint_cap_is_delivered_once_each_within_the_cap(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    """300 deliveries to one endpoint at once: the worker holds what exceeds the cap and starts
    it as attempts end. Each event arrives once, never more than the cap at a time, and no
    delivery spends more than the one attempt that succeeded."""
    receiver.script("crowded", then=Reply(200, delay=0.05))
    endpoint = await create_endpoint(tenant.client, receiver.url("crowded"), events=["message.received"])
    group = [
        NewEvent(tenant_id=tenant.id, session_id=None, type=EventType.MESSAGE_RECEIVED, data={"n": n})
        for n in range(300)
    ]
    published = {envelope["id"] for envelope in await publish_events(ledger, group)}

    arrived = await receiver.wait_for("crowded", 300, timeout=60)
    assert sorted(r.event_id for r in arrived) == sorted(published)
    assert receiver.max_in_flight["/crowded"] <= ENDPOINT_INFLIGHT_CAP

    async def settled() -> list[int] | None:
        attempts = await Delivery.filter(endpoint_id=endpoint["id"], status="succeeded").values_list(
            "attempts", flat=True
        )
        return list(attempts) if len(attempts) == 300 else None

    assert set(await wait_until(settled, what="every delivery row settled")) == {1}


async def test_an_endpoint_whose_secret_cannot_be_decrypted_holds_up_no_other(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    """A key replaced without keeping the old one: that endpoint's deliveries wait, unsigned
    requests are never sent, and the tenant's other endpoint gets every event."""
    unreadable = await WebhookEndpoint.create(
        id=WebhookEndpoint.make_id(),
        tenant_id=tenant.id,
        url=receiver.url("unreadable"),
        events=["*"],
        encrypted_secret="gAAAAA-not-a-ciphertext-of-any-key",
    )
    await create_endpoint(tenant.client, receiver.url("readable"))
    published = await publish(ledger, tenant.id, count=30)

    arrived = await receiver.wait_for("readable", 30)
    assert {r.event_id for r in arrived} == set(published)
    assert receiver.at("unreadable") == []
    waiting = await Delivery.filter(endpoint_id=unreadable.id).values_list("status", "attempts")
    assert sorted(waiting) == [("pending", 0)] * 30
    await unreadable.delete()
