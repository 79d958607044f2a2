"""Whether the database answers, learned by one probe per process however many tasks wait for it.

When the database goes away, every session's hand-off, the supervisor, the send
queues and the webhook deliverer all fail at once. Each of them asks this watch
instead of retrying on its own: one task probes with ``SELECT 1`` and a capped
backoff, logs when the outage starts and how long it lasted, and wakes them all
when the database answers again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tortoise import connections

log = logging.getLogger("relay.worker.database")

T = TypeVar("T")

# Probes back off from the first to the last delay (seconds) while the database stays away.
PROBE_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)
# A probe that takes longer than this counts as "not answering" (a hung connection, not a slow query).
PROBE_TIMEOUT = 5.0


async def _select_one() -> None:
    await connections.get("default").execute_query("SELECT 1")


class DatabaseWatch:
    def __init__(self, probe: Callable[[], Awaitable[object]] = _select_one) -> None:
        self._probe = probe
        self._probing: asyncio.Task[None] | None = None

    async def reachable(self) -> bool:
        try:
            await asyncio.wait_for(self._probe(), PROBE_TIMEOUT)
        except Exception:
            return False
        return True

    async def wait_until_reachable(self) -> None:
        """Return once the database answers; all callers share one probing task."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(self._probe_until_reachable(), name="database-probe")
        # Shielded: a caller that gives up (cancelled) must not cancel the others' probe.
        await asyncio.shield(self._probing)

    async def _probe_until_reachable(self) -> None:
        started = time.monotonic()
        for attempt in itertools.count():
            if await self.reachable():
                if attempt:
                    log.info("the database answers again after %.1fs", time.monotonic() - started)
                return
            if attempt == 0:
                log.warning("the database does not answer; work that needs it waits and retries")
            await asyncio.sleep(PROBE_DELAYS[min(attempt, len(PROBE_DELAYS) - 1)])

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, waiting out database outages; errors the database itself returns propagate."""
        while True:
            try:
                return await operation()
            except Exception:
                if await self.reachable():
                    raise
            await self.wait_until_reachable()
