"""The Redis side of delivery: which deliveries to look at next.

Items are bare delivery ids. Everything else (due or not, already done,
leased by someone) is decided against the database when a worker claims
them, so a lost, duplicated or stale item is harmless: losing one costs a
sweep, a duplicate costs one failed claim.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable
from typing import cast

from redis.asyncio import Redis

from webhooks.constants import DUE_QUEUE, FRESH_QUEUE

# Pop up to ARGV[2] members due by ARGV[1], atomically, so two workers never pop the same one.
_POP_DUE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #items > 0 then redis.call('ZREM', KEYS[1], unpack(items)) end
return items
"""


# What redis-py returns for these commands on its asyncio client. Its hints describe the sync and
# asyncio clients at once (``Awaitable[T] | T``), so each reply is cast to what it really is.
# Items are bytes, or str on a client that decodes responses.
Items = list[bytes | str]
# BLPOP: the list the item came from, and the item.
Popped = tuple[bytes | str, bytes | str]


def _decode(items: Iterable[bytes | str]) -> list[str]:
    return [item.decode() if isinstance(item, bytes) else item for item in items]


async def push_fresh(redis: Redis, delivery_ids: list[str]) -> None:
    """First attempts: a plain list every worker pops in batches (no poll delay)."""
    if delivery_ids:
        await cast("Awaitable[int]", redis.rpush(FRESH_QUEUE, *delivery_ids))


async def _pop_many(redis: Redis, count: int) -> Items | None:
    return await cast("Awaitable[Items | None]", redis.lpop(FRESH_QUEUE, count))


async def pop_fresh(redis: Redis, count: int, block: float) -> list[str]:
    items = await _pop_many(redis, count)
    if items:
        return _decode(items)
    # Fractional seconds: Redis >= 6 and Valkey accept them, whatever redis-py's int hint says.
    blocking_pop = redis.blpop([FRESH_QUEUE], timeout=block)  # type: ignore[arg-type]
    popped = await cast("Awaitable[Popped | None]", blocking_pop)
    if not popped:
        return []
    first = _decode([popped[1]])
    more = await _pop_many(redis, count - 1) if count > 1 else None
    return first + _decode(more or [])


async def oldest_fresh(redis: Redis) -> str | None:
    """The id at the head of the fresh list (the next to be popped), if any."""
    head = await cast("Awaitable[bytes | str | None]", redis.lindex(FRESH_QUEUE, 0))
    return None if head is None else _decode([head])[0]


async def schedule(redis: Redis, due: dict[str, float]) -> None:
    """Retries and recovered work: ``{delivery_id: unix time it is due}``."""
    if due:
        await redis.zadd(DUE_QUEUE, due)


async def pop_due(redis: Redis, count: int) -> list[str]:
    items = await cast("Awaitable[Items]", redis.eval(_POP_DUE, 1, DUE_QUEUE, repr(time.time()), str(count)))
    return _decode(items)
