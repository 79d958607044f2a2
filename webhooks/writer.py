"""Batches attempt outcomes into one transaction, then queues their retries.

Retries go to Redis only after the row says when they are due: a retry popped
before its row was committed would fail its claim and wait for the sweeper.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from webhooks import queue, store
from webhooks.constants import RESULT_FLUSH_BATCH

log = logging.getLogger("relay.webhooks.writer")


class OutcomeWriter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._outcomes: list[store.Outcome] = []
        self._releases: list[store.Release] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def add_outcome(self, outcome: store.Outcome) -> None:
        self._outcomes.append(outcome)
        self._wake.set()

    def add_release(self, release: store.Release) -> None:
        self._releases.append(release)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-outcome-writer")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outcomes or self._releases:
                await self._flush_once()
            if self._closing:
                return

    async def _flush_once(self) -> None:
        outcomes = self._outcomes[:RESULT_FLUSH_BATCH]
        releases = self._releases[:RESULT_FLUSH_BATCH]
        del self._outcomes[: len(outcomes)]
        del self._releases[: len(releases)]
        try:
            await store.write(outcomes, releases)
        except Exception:
            # The leases will expire and the sweeper will offer these deliveries again.
            log.exception("writing %d webhook outcomes failed", len(outcomes) + len(releases))
            return
        due = {
            item.delivery_id: item.next_attempt_at.timestamp()
            for item in [*outcomes, *releases]
            if item.next_attempt_at is not None
            and (not isinstance(item, store.Outcome) or item.status == "pending")
        }
        try:
            await queue.schedule(self.redis, due)
        except RedisError:
            log.warning("could not queue %d webhook retries; the sweeper will", len(due))
