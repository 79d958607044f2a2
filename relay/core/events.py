"""The event pipeline: one function publishes an event everywhere it must go.

Order matters and is deliberate:
1. the envelope is written to the ledger in one transaction with the rows the
   consumers' steps add (webhook delivery records its deliveries there), so
   the ledger, the source of truth, never holds an event without them;
2. it is appended to the tenant's capped Redis Stream (the live feed);
3. each step's after-commit hand-off runs (webhook delivery wakes its workers).
If Redis is down after step 1, nothing is lost: WebSocket clients replay from
the ledger with ``since`` and the webhook sweeper finds due deliveries in the DB.

The core does not import its consumers: each process registers their steps
once at start-up with ``configure_publishing`` (``webhooks.outbox.install``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from relay.core.constants import TENANT_STREAM_MAXLEN, tenant_stream_key
from relay.core.enums import EventType
from relay.core.ids import new_id
from relay.core.metrics import EVENTS_PUBLISHED
from relay.core.models import Event, Session
from relay.core.times import isoformat, now_ms

log = logging.getLogger("relay.core.events")


class LeaseLost(RuntimeError):
    """The writer no longer holds the session's fencing token; the write was refused."""


# After the commit, with Redis: hand the rows a step wrote to whoever works on them next.
AfterCommit = Callable[[Redis], Awaitable[None]]
# Inside the ledger transaction: write the rows that must exist exactly when the event does.
PublishStep = Callable[[dict[str, Any], BaseDBAsyncClient], Awaitable[AfterCommit | None]]

_publish_steps: tuple[PublishStep, ...] | None = None


def configure_publishing(steps: Sequence[PublishStep]) -> None:
    """Name the consumers' in-transaction steps; each process's start-up calls this once.

    The core does not import its consumers (webhook delivery registers its own
    step), and it refuses to publish before start-up has said what the steps
    are, so a process that forgot cannot silently publish events nobody delivers.
    """
    global _publish_steps
    _publish_steps = tuple(steps)


def envelope_of(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "tenant_id": event.tenant_id,
        "session_id": event.session_id,
        "created_at": isoformat(event.created_at),
        "data": event.data,
    }


async def publish_event(
    redis: Redis | None,
    *,
    tenant_id: str,
    session_id: str | None,
    type: EventType,
    data: dict[str, Any],
    fence: int | None = None,
    session_updates: dict[str, Any] | None = None,
    also_write: Callable[[BaseDBAsyncClient], Awaitable[object]] | None = None,
) -> dict[str, Any]:
    """Record and fan out one event; returns its envelope.

    ``fence`` is the caller's lease token on ``session_id``: when given, the
    write (and any ``session_updates``) only happens while that token is still
    the session's current one, so a worker that lost its lease cannot speak for
    the session any more. ``also_write`` runs in the same transaction, for rows
    that must change together with the event (an outbound message's status).
    """
    if _publish_steps is None:
        raise RuntimeError("the event pipeline is not configured: call configure_publishing at start-up")
    now = now_ms()
    event = Event(
        id=new_id("evt"),
        tenant_id=tenant_id,
        session_id=session_id,
        type=type,
        created_at=now,
        data=data,
    )
    envelope = envelope_of(event)
    async with in_transaction() as connection:
        if fence is not None:
            if session_id is None:
                raise ValueError("a fenced event needs a session_id")
            updated = (
                await Session.filter(id=session_id, fence=fence)
                .using_db(connection)
                .update(updated_at=now, **(session_updates or {}))
            )
            if not updated:
                raise LeaseLost(session_id)
        elif session_updates:
            await Session.filter(id=session_id).using_db(connection).update(updated_at=now, **session_updates)
        if also_write is not None:
            await also_write(connection)
        await event.save(using_db=connection, force_create=True)
        after_commit = [await step(envelope, connection) for step in _publish_steps]
    EVENTS_PUBLISHED.labels(type=type).inc()
    if redis is not None:
        await append_to_feed(redis, envelope)
        for hand_off in after_commit:
            if hand_off is not None:
                await hand_off(redis)
    return envelope


async def append_to_feed(redis: Redis, envelope: dict[str, Any]) -> None:
    try:
        await redis.xadd(
            tenant_stream_key(envelope["tenant_id"]),
            {"e": orjson.dumps(envelope)},
            maxlen=TENANT_STREAM_MAXLEN,
            approximate=True,
        )
    except RedisError:
        # The ledger already has it; WebSocket clients recover it with `since`.
        log.warning("live feed append failed for %s", envelope["id"])
