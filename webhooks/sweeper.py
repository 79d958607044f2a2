"""Finds deliveries Redis lost and queues them again (arq cron, every few seconds).

The database is the truth; Redis only says "look at this now". After a Redis
restart or FLUSHALL, or a worker killed with deliveries leased, the sweeper
sees pending deliveries that have been due for longer than a grace period
and nobody holds, and puts them on the due set. Duplicates are harmless: the
claim lets only one worker attempt a delivery.

A delivery still waiting in the fresh list is not lost, only queued: when the
workers are behind (a burst), sweeping it would queue it twice and cost every
worker a second claim for it, just when they have the least time. The fresh
list is first in, first out, and delivery ids grow with time, so everything
older than the list's head has been popped already: the sweeper only looks at
those.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from webhooks import queue, store
from webhooks.constants import SWEEP_GRACE_SECONDS, SWEEP_LIMIT

log = logging.getLogger("relay.webhooks.sweeper")


async def sweep_lost_deliveries(redis: Redis) -> int:
    oldest_queued = await queue.oldest_fresh(redis)
    lost = await store.lost_deliveries(SWEEP_GRACE_SECONDS, SWEEP_LIMIT, before_id=oldest_queued)
    if lost:
        await queue.schedule(redis, {delivery_id: due.timestamp() for delivery_id, due in lost})
        log.info("sweeper re-queued %d overdue webhook deliveries", len(lost))
    return len(lost)


async def sweep_webhook_deliveries(ctx: dict[str, Any]) -> int:
    """arq cron entry point. During an outage it skips a beat: the next sweep is seconds away."""
    try:
        return await sweep_lost_deliveries(ctx.get("webhook_redis") or ctx["redis"])
    except RedisError as exc:
        log.debug("webhook sweep skipped: redis unavailable (%s)", exc)
    except Exception:
        watch = ctx.get("database_watch")
        if watch is None or await watch.reachable():
            raise
        # The worker's database watch has said so once already; no line every few seconds.
        log.debug("webhook sweep skipped: the database does not answer")
    return 0
