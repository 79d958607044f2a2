"""The worker's one database writer: claims and attempt outcomes, batched.

Everything a worker writes to delivery rows goes through one transaction per
flush (claims included), so the number of write transactions grows with
flushes, not with deliveries. Retries go to Redis only after the row says
when they are due: a retry popped before its row was committed would fail its
claim and wait for the sweeper.

While the database is unreachable, outcomes are kept, in order, and written
once it answers, ahead of any new claim: a delivery attempted just before an
outage is not attempted again after it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from relay.core.enums import DeliveryStatus
from relay.core.outage_log import OutageLog
from webhooks import queue, store
from webhooks.constants import RESULT_FLUSH_BATCH

log = logging.getLogger("relay.webhooks.writer")

# A stopping worker waits this long for the database to take its last outcomes.
CLOSE_WAIT_SECONDS = 10.0


class DatabaseAvailability(Protocol):
    """Whether the database answers; the worker shares one (``workers.database_watch``)."""

    async def reachable(self) -> bool: ...

    async def wait_until_reachable(self) -> None: ...


class OutcomeWriter:
    def __init__(self, redis: Redis, lease_seconds: float, database: DatabaseAvailability) -> None:
        self.redis = redis
        self.lease_seconds = lease_seconds
        self.database = database
        self._claims: list[tuple[list[str], str, asyncio.Future[list[store.ClaimedDelivery]]]] = []
        self._outcomes: list[store.AttemptOutcome] = []
        self._releases: list[store.Release] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._redis_outage = OutageLog(
            log, "queueing webhook retries", "the sweeper queues them from the database meanwhile"
        )

    def claim(self, ids: list[str], owner: str) -> asyncio.Future[list[store.ClaimedDelivery]]:
        """Lease ``ids`` (the due, pending, unleased ones) in the next flush."""
        future: asyncio.Future[list[store.ClaimedDelivery]] = asyncio.get_running_loop().create_future()
        self._claims.append((ids, owner, future))
        self._wake.set()
        return future

    def add_outcome(self, outcome: store.AttemptOutcome) -> None:
        self._outcomes.append(outcome)
        self._wake.set()

    def add_release(self, release: store.Release) -> None:
        self._releases.append(release)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-outcome-writer")

    async def close(self) -> None:
        """Write what is left; give up after a while if the database does not answer."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            log.warning(
                "stopping with %d webhook outcomes unwritten; those deliveries are attempted again",
                len(self._outcomes) + len(self._releases),
            )
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._claims or self._outcomes or self._releases:
                await self._flush_once()
            if self._closing:
                return

    async def _flush_once(self) -> None:
        # A lane cancelled while waiting (shutdown) no longer wants its claim.
        claims = [claim for claim in self._claims if not claim[2].cancelled()]
        self._claims = []
        outcomes = self._outcomes[:RESULT_FLUSH_BATCH]
        releases = self._releases[:RESULT_FLUSH_BATCH]
        del self._outcomes[: len(outcomes)]
        del self._releases[: len(releases)]
        try:
            claimed = await store.write(
                outcomes, releases, [(ids, owner) for ids, owner, _ in claims], self.lease_seconds
            )
        except Exception as exc:
            for _, _, future in claims:
                if not future.done():
                    future.set_exception(exc)
            if not await self.database.reachable():
                self._outcomes[:0] = outcomes
                self._releases[:0] = releases
                log.warning("%d webhook outcomes wait for the database", len(outcomes) + len(releases))
                await self.database.wait_until_reachable()
                return
            # Refused, not unreachable: the leases expire and the sweeper offers these deliveries again.
            log.exception("writing %d webhook outcomes failed", len(outcomes) + len(releases))
            return
        for (_, _, future), rows in zip(claims, claimed, strict=True):
            if not future.done():
                future.set_result(rows)
        written: list[store.AttemptOutcome | store.Release] = [*outcomes, *releases]
        due = {
            item.delivery_id: item.next_attempt_at.timestamp()
            for item in written
            if item.next_attempt_at is not None
            and (not isinstance(item, store.AttemptOutcome) or item.status == DeliveryStatus.PENDING)
        }
        if not due:
            return
        try:
            await queue.schedule(self.redis, due)
        except (RedisError, OSError) as exc:
            self._redis_outage.failed(exc, len(due))
            return
        self._redis_outage.succeeded()
