"""The suite's database opened in the test process, for tests of the event pipeline itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from relay.core.db import close_database, open_database
from webhooks import outbox


@pytest.fixture(scope="session")
async def pipeline(database_url: str, redis_url: str) -> AsyncIterator[Redis]:
    """Publishing configured as a worker configures it; yields the Redis the feed appends go to."""
    await open_database(database_url)
    outbox.install()
    redis = Redis.from_url(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()
        await close_database()
