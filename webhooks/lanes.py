"""The two lanes that feed the deliverer: popping delivery ids from Redis and claiming them.

- The *fresh* lane pops first attempts from a Redis list the moment they are
  published (a blocking pop, no poll delay): event to first attempt takes
  milliseconds, not arq's half-second poll.
- The *retry* lane pops due retries (and whatever the sweeper recovered)
  from a sorted set. Each lane has its own slots, so thousands of due retries
  never delay a fresh first attempt.

This module only keeps the lanes moving: it pops as many ids as a lane has free
slots, hands them to the deliverer to claim and start in the background, and
rides out outages. A lane that cannot reach Redis or the database waits for it
(Redis with a capped backoff, the database through the worker's shared watch)
and carries on; ids it popped but could not claim are put back as due at once,
so they do not wait for the sweeper. What an attempt does is ``deliverer``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from webhooks import queue
from webhooks.constants import (
    CLAIMS_IN_FLIGHT,
    DUE_BATCH,
    DUE_POLL_SECONDS,
    FRESH_BATCH,
    FRESH_CONCURRENCY,
    FULL_LANE_CHECK_SECONDS,
    LANE_REDIS_RETRY_DELAYS,
    POP_BLOCK_SECONDS,
    RETRY_CONCURRENCY,
)
from webhooks.writer import DatabaseAvailability

log = logging.getLogger("relay.webhooks")


@dataclass
class Lane:
    name: str
    capacity: int
    batch: int
    pop: Callable[[int], Awaitable[list[str]]]
    idle_sleep: float = 0.0
    inflight: int = 0
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    # Consecutive passes that failed because Redis was unreachable (0: it answers).
    redis_failures: int = 0
    # Claimed deliveries held until their endpoint has a free slot (they use lane slots too).
    waiting: int = 0
    # Popped ids whose claim is under way, and how many claims that is.
    claiming: int = 0
    claims_in_flight: int = 0

    @property
    def free(self) -> int:
        return self.capacity - self.inflight - self.waiting - self.claiming

    def release(self) -> None:
        self.inflight -= 1
        self.slot_freed.set()


# Claims the popped ids in the database and starts (or holds, or gives back) their attempts.
StartAttempts = Callable[[list[str], Lane], Awaitable[None]]


class LaneRunner:
    """Runs the fresh and the retry lane as long-lived tasks until ``stop()``."""

    def __init__(
        self,
        redis: Redis,
        database: DatabaseAvailability,
        *,
        start_attempts: StartAttempts,
        on_full: Callable[[], None],
    ) -> None:
        self.redis = redis
        self.database = database
        self._start_attempts = start_attempts
        # Called when a lane has been full for a while, so held deliveries can be looked at again.
        self._on_full = on_full
        self.lanes = [
            Lane("fresh", FRESH_CONCURRENCY, FRESH_BATCH, self._pop_fresh),
            Lane("retry", RETRY_CONCURRENCY, DUE_BATCH, self._pop_due, DUE_POLL_SECONDS),
        ]
        self._loops: list[asyncio.Task[None]] = []
        self._claims: set[asyncio.Task[None]] = set()

    async def _pop_fresh(self, count: int) -> list[str]:
        return await queue.pop_fresh(self.redis, count, POP_BLOCK_SECONDS)

    async def _pop_due(self, count: int) -> list[str]:
        return await queue.pop_due(self.redis, count)

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._run_lane(lane), name=f"webhook-lane-{lane.name}") for lane in self.lanes
        ]

    async def stop(self) -> None:
        """Stop popping and cancel the claims under way (their ids are pending and swept again)."""
        for task in [*self._loops, *self._claims]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._claims, return_exceptions=True)

    async def _run_lane(self, lane: Lane) -> None:
        while True:
            ids: list[str] = []
            try:
                free = lane.free
                if free <= 0 or lane.claims_in_flight >= CLAIMS_IN_FLIGHT:
                    lane.slot_freed.clear()
                    try:
                        async with asyncio.timeout(FULL_LANE_CHECK_SECONDS):
                            await lane.slot_freed.wait()
                    except TimeoutError:
                        # Full for a while: maybe held for an endpoint that looked fast and is not.
                        self._on_full()
                    continue
                ids = await lane.pop(min(free, lane.batch))
                if lane.redis_failures:
                    log.info("webhook %s lane: redis is back", lane.name)
                    lane.redis_failures = 0
                if not ids:
                    if lane.idle_sleep:
                        await asyncio.sleep(lane.idle_sleep)
                    continue
                # Claimed in the background: the lane pops the next batch while this one's claim
                # waits for the writer's next flush, so a burst is not served one batch per flush.
                unique = list(dict.fromkeys(ids))
                lane.claiming += len(unique)
                lane.claims_in_flight += 1
                task = asyncio.create_task(self._claim_and_start(unique, lane))
                self._claims.add(task)
                task.add_done_callback(self._claims.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._wait_out(lane, ids, exc)

    async def _claim_and_start(self, ids: list[str], lane: Lane) -> None:
        try:
            await self._start_attempts(ids, lane)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._wait_out(lane, ids, exc)
        finally:
            lane.claiming -= len(ids)
            lane.claims_in_flight -= 1
            lane.slot_freed.set()

    async def _wait_out(self, lane: Lane, popped: list[str], error: Exception) -> None:
        """Redis or the database hiccuped: put back what was popped, then wait for what is missing.

        What was popped is pending in the database whatever happens here: put back, it is
        claimed again as soon as the database answers; lost with Redis, the sweeper finds it.
        """
        if popped:
            try:
                await queue.schedule(self.redis, dict.fromkeys(popped, time.time()))
            except RedisError:
                pass
        if isinstance(error, RedisError):
            if not lane.redis_failures:
                log.warning("webhook %s lane: redis unavailable (%s); retrying", lane.name, error)
            delays = LANE_REDIS_RETRY_DELAYS
            delay = delays[min(lane.redis_failures, len(delays) - 1)]
            lane.redis_failures += 1
            await asyncio.sleep(delay)
        elif not await self.database.reachable():
            await self.database.wait_until_reachable()
        else:
            log.exception("webhook %s lane error", lane.name)
            await asyncio.sleep(0.5)
