"""Fixtures for the feed tests: open authenticated sockets, and publish events at will.

Most events come from the real worker's sandbox engine (see ``test_story``).
Tests that need many events with known ids, published at a chosen moment,
call ``relay.core.events.publish_event`` from the test process against the same
database and Redis as the stack: the very code path the worker uses.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from relay.core.db import close_database, open_database
from relay.core.enums import EventType
from relay.core.events import publish_event
from tests.conftest import TenantHandle
from webhooks import outbox


@dataclass
class Publisher:
    redis: Redis

    def with_redis(self, redis: Redis) -> Publisher:
        """The same publisher, appending to another Redis's streams."""
        return Publisher(redis)

    async def publish(
        self, tenant_id: str, session_id: str | None, count: int = 1, *, pad: int = 0, feed: bool = True
    ) -> list[str]:
        """Publish ``count`` events in order; returns their ids. ``pad`` adds incompressible bytes.

        ``feed=False`` commits them to the ledger only, as when the stream append after the
        commit is lost (Redis blinked).
        """
        return [
            envelope["id"]
            for envelope in await self.envelopes(tenant_id, session_id, count, pad=pad, feed=feed)
        ]

    async def envelopes(
        self, tenant_id: str, session_id: str | None, count: int = 1, *, pad: int = 0, feed: bool = True
    ) -> list[dict[str, Any]]:
        """Like ``publish``, returning the whole envelopes."""
        envelopes = []
        for index in range(count):
            data: dict[str, Any] = {"text": f"event {index}", "from_me": False}
            if pad:
                data["pad"] = secrets.token_hex(pad // 2)
            envelope = await publish_event(
                self.redis if feed else None,
                tenant_id=tenant_id,
                session_id=session_id,
                type=EventType.MESSAGE_RECEIVED,
                data=data,
            )
            envelopes.append(envelope)
        return envelopes


@pytest.fixture(scope="session")
async def publisher(relay_env: dict[str, str]) -> AsyncIterator[Publisher]:
    await open_database(relay_env["DATABASE_URL"])
    outbox.install()
    redis = Redis.from_url(relay_env["REDIS_URL"])
    try:
        yield Publisher(redis)
    finally:
        await redis.aclose()
        await close_database()


async def create_session(tenant: TenantHandle, *, start: bool = False, name: str = "s") -> str:
    """A sandbox session; stopped by default so the worker adds no events of its own."""
    response = await tenant.client.post(
        "/v1/sessions", json={"name": name, "engine": "sandbox", "start": start}
    )
    response.raise_for_status()
    return str(response.json()["id"])
