"""The event pipeline: publishing an event puts it everywhere it must go.

Order matters and is deliberate:
1. the envelope is written to the ledger, with its per-tenant ``seq``, in one
   transaction with the rows the consumers' steps add (webhook delivery
   records its deliveries there), so the ledger, the source of truth, never
   holds an event without them;
2. it is appended to the tenant's capped Redis Stream (the live feed);
3. each step's after-commit hand-off runs (webhook delivery wakes its workers).
Steps 2 and 3 go out in one Redis pipeline per batch, after the callers have
their answer. If Redis is down after step 1,
nothing is lost: the feed fills its gaps from the ledger, WebSocket clients
replay from it with ``since`` and the webhook sweeper finds due deliveries in
the database.

Every call goes through the process's one writer (``relay.core.writer``),
which commits the groups of all callers waiting at the same moment in one
transaction (group commit) and answers each caller with its own envelopes.

The core does not import its consumers: each process registers their steps
once at start-up with ``configure_publishing`` (``webhooks.outbox.install``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from relay.core.enums import EventType
from relay.core.publishing import (
    AfterCommit,
    LeaseLost,
    NewEvent,
    PublishStep,
    WriteInTransaction,
    envelope_of,
)
from relay.core.writer import append_to_feed, finish_writing, process_writer

__all__ = [
    "AfterCommit",
    "LeaseLost",
    "NewEvent",
    "PublishStep",
    "WriteInTransaction",
    "append_to_feed",
    "configure_publishing",
    "envelope_of",
    "finish_publishing",
    "publish_event",
    "publish_events",
]

_publish_steps: tuple[PublishStep, ...] | None = None


def configure_publishing(steps: Sequence[PublishStep]) -> None:
    """Name the consumers' in-transaction steps; each process's start-up calls this once.

    The core does not import its consumers (webhook delivery registers its own
    step), and it refuses to publish before start-up has said what the steps
    are, so a process that forgot cannot silently publish events nobody delivers.
    """
    global _publish_steps
    _publish_steps = tuple(steps)


async def publish_event(
    redis: Redis | None,
    *,
    tenant_id: str,
    session_id: str | None,
    type: EventType,
    data: dict[str, Any],
    fence: int | None = None,
    session_updates: dict[str, Any] | None = None,
    also_write: WriteInTransaction | None = None,
) -> dict[str, Any]:
    """Record and fan out one event (see ``NewEvent`` for the arguments); returns its envelope."""
    new = NewEvent(
        tenant_id=tenant_id,
        session_id=session_id,
        type=type,
        data=data,
        fence=fence,
        session_updates=session_updates,
        also_write=also_write,
    )
    return (await publish_events(redis, [new]))[0]


async def publish_events(
    redis: Redis | None, events: Sequence[NewEvent], *, maybe_committed: bool = False
) -> list[dict[str, Any]]:
    """Record a group of events atomically and in order, then fan them out; returns their envelopes.

    ``maybe_committed``: this group (its events carrying caller-minted ids) may already be in the
    ledger, because an earlier attempt's commit was not acknowledged; if it is, its envelopes are
    read back and nothing is written twice. Costs one lookup, so only retries ask for it.

    Returns after the commit; the feed append and the steps' hand-offs follow
    in the background (their failure is only logged; ``finish_publishing``
    waits for them). A fenced event whose fence no longer matches refuses the
    whole group with ``LeaseLost``; database errors propagate (the caller
    decides whether to retry: nothing of the group was written). Other
    callers' groups written in the same transaction are not affected by either.
    """
    if _publish_steps is None:
        raise RuntimeError("the event pipeline is not configured: call configure_publishing at start-up")
    if not events:
        return []
    return await process_writer().publish(redis, events, _publish_steps, maybe_committed=maybe_committed)


async def finish_publishing() -> None:
    """Wait until every event published so far is committed and its feed append and hand-offs
    were sent: for a process about to close its Redis client or exit."""
    await finish_writing()
