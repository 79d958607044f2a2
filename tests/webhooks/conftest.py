"""Webhook fixtures: a loopback receiver, endpoint helpers, and a way to publish events.

Events are published either through the API (``/test``, sandbox inbound) or,
for bursts, with ``relay.core.events.publish_event`` from the test process against
the stack's own database and Redis: the same function the worker calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from relay.core.db import close_database, open_database
from relay.core.enums import EventType
from relay.core.events import publish_event
from relay.core.redis import connect_redis
from tests.helpers import wait_until
from tests.stack import RelayStack
from webhooks import outbox


@pytest.fixture(scope="session")
async def ledger(stack: RelayStack, relay_env: dict[str, str]) -> AsyncIterator[Redis]:
    """The stack's database opened in the test process, and a Redis client, for publish_event."""
    await open_database(relay_env["DATABASE_URL"])
    outbox.install()
    redis = connect_redis(relay_env["REDIS_URL"])
    try:
        yield redis
    finally:
        await redis.aclose()
        await close_database()


async def publish(redis: Redis, tenant_id: str, *, count: int = 1, **fields: Any) -> list[str]:
    ids = []
    for index in range(count):
        envelope = await publish_event(
            redis,
            tenant_id=tenant_id,
            session_id=fields.get("session_id"),
            type=fields.get("type", EventType.MESSAGE_RECEIVED),
            data=fields.get("data", {"text": f"hello {index}"}),
        )
        ids.append(envelope["id"])
    return ids


async def create_endpoint(client: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, "events": ["*"], **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def deliveries(client: httpx.AsyncClient, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{endpoint_id}/deliveries", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def settled_delivery(
    client: httpx.AsyncClient, delivery_id: str, status: str, timeout: float = 20
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        delivery: dict[str, Any] = (await client.get(f"/v1/deliveries/{delivery_id}")).json()
        return delivery if delivery["status"] == status else None

    return await wait_until(probe, timeout=timeout, what=f"delivery {delivery_id} {status}")
