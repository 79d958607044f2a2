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
from dataclasses import dataclass
from datetime import datetime
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


WriteInTransaction = Callable[[BaseDBAsyncClient], Awaitable[object]]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """One event to publish, with what must change in the same transaction.

    ``fence`` is the caller's lease token on ``session_id``: when given, the
    write (and any ``session_updates``) only happens while that token is still
    the session's current one, so a worker that lost its lease cannot speak for
    the session any more. ``also_write`` runs in the same transaction, for rows
    that must change together with the event (an outbound message's status).
    """

    tenant_id: str
    session_id: str | None
    type: EventType
    data: dict[str, Any]
    fence: int | None = None
    session_updates: dict[str, Any] | None = None
    also_write: WriteInTransaction | None = None


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


async def publish_events(redis: Redis | None, events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    """Record a group of events atomically and in order, then fan them out; returns their envelopes.

    Returns after the commit. A fenced event whose fence no longer matches
    refuses the whole group with ``LeaseLost``; database errors propagate (the
    caller decides whether to retry: nothing was written).
    """
    if _publish_steps is None:
        raise RuntimeError("the event pipeline is not configured: call configure_publishing at start-up")
    now = now_ms()
    records = [
        Event(
            id=new_id("evt"),
            tenant_id=new.tenant_id,
            session_id=new.session_id,
            type=new.type,
            created_at=now,
            data=new.data,
        )
        for new in events
    ]
    envelopes = [envelope_of(record) for record in records]
    after_commit: list[AfterCommit | None] = []
    async with in_transaction() as connection:
        for new, record, envelope in zip(events, records, envelopes, strict=True):
            await _apply_session_writes(new, now, connection)
            await record.save(using_db=connection, force_create=True)
            after_commit += [await step(envelope, connection) for step in _publish_steps]
    for new in events:
        EVENTS_PUBLISHED.labels(type=new.type).inc()
    if redis is not None:
        for envelope in envelopes:
            await append_to_feed(redis, envelope)
        for hand_off in after_commit:
            if hand_off is not None:
                await hand_off(redis)
    return envelopes


async def _apply_session_writes(new: NewEvent, now: datetime, connection: BaseDBAsyncClient) -> None:
    if new.fence is not None:
        if new.session_id is None:
            raise ValueError("a fenced event needs a session_id")
        updated = (
            await Session.filter(id=new.session_id, fence=new.fence)
            .using_db(connection)
            .update(updated_at=now, **(new.session_updates or {}))
        )
        if not updated:
            raise LeaseLost(new.session_id)
    elif new.session_updates:
        await (
            Session.filter(id=new.session_id)
            .using_db(connection)
            .update(updated_at=now, **new.session_updates)
        )
    if new.also_write is not None:
        await new.also_write(connection)


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
