"""Publish a group of pending events and keep at it until the ledger has settled every one.

Settled means committed, or refused for good. Every failure is retried, with the
group whole so its events keep their order: an outage is waited out (the
database watch says when the database answers again) however long it lasts, and
anything else the database reports (a lock held too long, a conflict) is retried
with a capped backoff. Only when the database rejects the content itself (a
constraint, text Postgres cannot store, a value too long for its column) are the
group's events tried one at a time, so that the one event the database will never
take is logged and dropped instead of holding up every event behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg  # type: ignore[import-untyped]  # tortoise's Postgres driver; it ships no types
from redis.asyncio import Redis
from tortoise.exceptions import IntegrityError, OperationalError, ValidationError

from relay.core.events import LeaseLost, publish_events
from workers.database_watch import DatabaseWatch
from workers.pending_event import PendingEvent

log = logging.getLogger("relay.worker.handoff")

# Pauses (seconds) before retrying a group the database answered for but did not take.
RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


def refused_for_good(error: BaseException) -> bool:
    """The database rejected the content of the write: sending the same rows again cannot help."""
    if isinstance(error, IntegrityError | ValidationError | ValueError | TypeError):
        return True
    return isinstance(error, OperationalError) and isinstance(error.__cause__, asyncpg.DataError)


async def publish_until_settled(
    redis: Redis | None,
    events: Sequence[PendingEvent],
    watch: DatabaseWatch,
    *,
    maybe_committed: bool = False,
) -> list[bool]:
    """Publish ``events`` as one group; for each, ``True`` once committed, ``False`` if refused for good.

    Every attempt after a failure (and every one when ``maybe_committed``: a replayed journal)
    asks the ledger first whether the group is already there, since a commit can succeed and
    its acknowledgement still be lost; the events' ids make that answer exact.

    Raises ``LeaseLost`` when the group's fence is no longer the session's: nothing
    of the group was written, and nothing written under that fence ever will be.
    """
    attempt = 0
    while True:
        try:
            new_events = [event.to_new_event() for event in events]
            await publish_events(redis, new_events, maybe_committed=maybe_committed)
            return [True] * len(events)
        except LeaseLost:
            raise
        except Exception as exc:
            maybe_committed = True
            if refused_for_good(exc):
                return await _one_at_a_time(redis, events, watch, exc)
            if not await watch.reachable():
                await watch.wait_until_reachable()
                continue
            log.warning("the database did not take %d event(s) (%r); retrying", len(events), exc)
            await asyncio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
            attempt += 1


async def _one_at_a_time(
    redis: Redis | None, events: Sequence[PendingEvent], watch: DatabaseWatch, error: Exception
) -> list[bool]:
    if len(events) > 1:
        settled: list[bool] = []
        for event in events:
            settled += await publish_until_settled(redis, [event], watch, maybe_committed=True)
        return settled
    event = events[0]
    log.error(
        "session %s: the database refuses this %s event (%r); dropped: %s",
        event.session_id,
        event.type,
        error,
        event.encode().decode(errors="replace")[:2000],
    )
    return [False]
