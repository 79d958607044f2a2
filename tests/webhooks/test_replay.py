"""Replay: exactly the ledger events in the range that match the endpoint, as new deliveries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from redis.asyncio import Redis

from relay.core.times import isoformat
from tests.conftest import TenantHandle
from tests.webhooks.conftest import create_endpoint, deliveries, publish
from tests.webhooks.receiver import Receiver


async def test_replay_resends_exactly_the_events_in_range(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    endpoint = await create_endpoint(tenant.client, receiver.url("r"), events=["message.received"])
    before = await publish(ledger, tenant.id, count=2)
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    await asyncio.sleep(0.05)
    in_range = await publish(ledger, tenant.id, count=3)
    await publish(ledger, tenant.id, type="message.ack")  # in range, filtered out by type
    await asyncio.sleep(0.05)
    until = datetime.now(UTC)
    await asyncio.sleep(0.05)
    after = await publish(ledger, tenant.id, count=1)
    await receiver.wait_for("r", 6)

    response = await tenant.client.post(
        f"/v1/webhooks/{endpoint['id']}/replay",
        json={"since": isoformat(since), "until": isoformat(until)},
    )
    assert response.status_code == 202, response.text
    assert response.json()["replayed"] == 3
    requests = await receiver.wait_for("r", 9)
    await asyncio.sleep(0.3)
    replayed = [r.event_id for r in receiver.at("r")[6:]]
    assert sorted(replayed) == sorted(in_range)
    assert not set(replayed) & set(before + after)
    assert len(requests) == len(receiver.at("r")) == 9
    assert len(await deliveries(tenant.client, endpoint["id"])) == 9


async def test_replay_validates_its_range(tenant: TenantHandle, receiver: Receiver) -> None:
    endpoint = await create_endpoint(tenant.client, receiver.url("v"))
    for body, field in (
        ({}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
    ):
        response = await tenant.client.post(f"/v1/webhooks/{endpoint['id']}/replay", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field
