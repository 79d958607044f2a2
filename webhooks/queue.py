"""The Redis side of delivery: which deliveries to look at next.

Items are bare delivery ids. Everything else (due or not, already done,
leased by someone) is decided against the database when a worker claims
them, so a lost, duplicated or stale item is harmless: losing one costs a
sweep, a duplicate costs one failed claim.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from webhooks.constants import DUE_QUEUE, FRESH_QUEUE

# Pop up to ARGV[2] members due by ARGV[1], atomically, so two workers never pop the same one.
_POP_DUE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #items > 0 then redis.call('ZREM', KEYS[1], unpack(items)) end
return items
"""


def _decode(items: Iterable[bytes | str]) -> list[str]:
    return [item.decode() if isinstance(item, bytes) else item for item in items]


async def push_fresh(redis: Redis, delivery_ids: list[str]) -> None:
    """First attempts: a plain list every worker pops in batches (no poll delay)."""
    if delivery_ids:
        await redis.rpush(FRESH_QUEUE, *delivery_ids)


async def pop_fresh(redis: Redis, count: int, block: float) -> list[str]:
    items = await redis.lpop(FRESH_QUEUE, count)
    if items:
        return _decode(items)
    popped = await redis.blpop([FRESH_QUEUE], timeout=block)
    if not popped:
        return []
    first = _decode([popped[1]])
    more = await redis.lpop(FRESH_QUEUE, count - 1) if count > 1 else None
    return first + _decode(more or [])


async def schedule(redis: Redis, due: dict[str, float], *, only_new: bool = False) -> None:
    """Retries and recovered work: ``{delivery_id: unix time it is due}``."""
    if due:
        await redis.zadd(DUE_QUEUE, due, nx=only_new)


async def pop_due(redis: Redis, count: int, now: float | None = None) -> list[str]:
    moment = time.time() if now is None else now
    items = await redis.eval(_POP_DUE, 1, DUE_QUEUE, repr(moment), count)
    return _decode(items or [])
