"""A worker that stops sends its last events' feed appends before it closes Redis.

Events are answered at their commit and handed to Redis in the background, so
the worker's shutdown must wait for those hand-offs: otherwise the end of the
event loop cancels them and the live feed misses the last events (the ledger
has them, but every client would have to fill the gap from it).
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from relay.core.constants import tenant_stream_key
from relay.core.ids import new_id

PUBLISH_THEN_SHUT_DOWN = """
import asyncio, sys
from redis.asyncio import Redis
from relay.core.db import open_database
from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from webhooks import outbox
from workers.settings import shutdown

async def main(database_url, redis_url, tenant_id):
    await open_database(database_url)
    outbox.install()
    redis = Redis.from_url(redis_url)
    # Redis holds every write for a moment, as a busy or distant server would: the hand-offs of the
    # events below are still in flight when the worker is told to stop.
    pauser = Redis.from_url(redis_url)
    await pauser.execute_command("CLIENT", "PAUSE", "500", "WRITE")
    await pauser.aclose()
    for start in range(0, 200, 50):
        await publish_events(redis, [
            NewEvent(tenant_id=tenant_id, session_id=None, type=EventType.MESSAGE_RECEIVED, data={"n": n})
            for n in range(start, start + 50)
        ])
    await shutdown({"relay_redis": redis})  # closes Redis and the database, as a stopping worker does

asyncio.run(main(*sys.argv[1:]))
"""


async def test_the_feed_has_every_event_committed_before_the_worker_stopped(
    database_url: str, redis_url: str
) -> None:
    tenant = new_id("ten")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PUBLISH_THEN_SHUT_DOWN, database_url, redis_url, tenant
    )
    assert await asyncio.wait_for(process.wait(), 120) == 0
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.xlen(tenant_stream_key(tenant)) == 200
    finally:
        await redis.aclose()
