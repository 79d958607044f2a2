"""The event pipeline: one function publishes an event everywhere it must go.

Order matters and is deliberate:
1. the envelope is written to the ledger, together with its webhook deliveries,
   in one transaction (the ledger is the source of truth);
2. it is appended to the tenant's capped Redis Stream (the live feed);
3. webhook delivery is told the new deliveries exist.
If Redis is down after step 1, nothing is lost: WebSocket clients replay from
the ledger with ``since`` and the webhook sweeper finds due deliveries in the DB.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from relay.constants import TENANT_STREAM_MAXLEN, tenant_stream_key
from relay.ids import new_id
from relay.metrics import EVENTS_PUBLISHED
from relay.models import Event, Session
from webhooks import outbox

log = logging.getLogger("relay.events")

EVENT_TYPES = (
    "session.status",
    "session.qr",
    "session.pair_code",
    "message.received",
    "message.sent",
    "message.failed",
    "message.ack",
    "webhook.test",
    "webhook.endpoint_disabled",
)


class LeaseLost(RuntimeError):
    """The writer no longer holds the session's fencing token; the write was refused."""


def isoformat(moment: datetime) -> str:
    """``2026-11-22T10:00:00.123Z``: millisecond precision, always UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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
    type: str,
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
    now = datetime.now(UTC)
    event = Event(
        id=new_id("evt"),
        tenant_id=tenant_id,
        session_id=session_id,
        type=type,
        created_at=now.replace(microsecond=now.microsecond // 1000 * 1000),
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
        delivery_ids = await outbox.record_deliveries(envelope, connection)
    EVENTS_PUBLISHED.labels(type=type).inc()
    if redis is not None:
        await append_to_feed(redis, envelope)
        if delivery_ids:
            try:
                await outbox.dispatch_deliveries(redis, delivery_ids)
            except RedisError:
                log.warning("webhook dispatch deferred to the sweeper: redis unavailable")
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
