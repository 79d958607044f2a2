"""The delivery queries of the hot path, in one place.

Workers claim deliveries in batches (one UPDATE, one SELECT) and write
outcomes in batches (one transaction, one ``executemany`` per kind), because
at thousands of deliveries a second a statement or a commit per delivery is
what would cap throughput (SQLite commits are fsyncs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from relay.core.enums import DeliveryStatus, DeliveryTrigger
from relay.core.events import envelope_of
from relay.core.models import Event
from webhooks.models import Delivery, WebhookEndpoint


@dataclass(slots=True)
class ClaimedDelivery:
    id: str
    tenant_id: str
    endpoint_id: str
    event_id: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    trigger: str
    created_at: datetime
    lease_owner: str


@dataclass(slots=True)
class AttemptOutcome:
    """What one attempt changed on its delivery row."""

    delivery_id: str
    lease_owner: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    attempt_log: list[dict[str, Any]]


@dataclass(slots=True)
class Release:
    """Give a claimed delivery back without an attempt: later (busy endpoint) or never (paused)."""

    delivery_id: str
    lease_owner: str
    next_attempt_at: datetime | None


def _placeholders(conn: BaseDBAsyncClient, count: int) -> list[str]:
    if conn.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(1, count + 1)]
    return ["?"] * count


def _time(conn: BaseDBAsyncClient, moment: datetime | None) -> Any:
    # tortoise stores SQLite datetimes as str(datetime); asyncpg wants the object itself.
    if moment is None or conn.capabilities.dialect == "postgres":
        return moment
    return str(moment.astimezone(UTC))


async def claim(
    ids: list[str], owner: str, lease: float, using: BaseDBAsyncClient | None = None
) -> list[ClaimedDelivery]:
    """Take the due, pending, unleased deliveries among ``ids``; the rest are someone else's."""
    now = datetime.now(UTC)
    claimable = Delivery.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        id__in=ids,
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now,
    )
    lease_until = now + timedelta(seconds=lease)
    if not await claimable.using_db(using).update(lease_owner=owner, lease_until=lease_until):
        return []
    rows = (
        await Delivery.filter(id__in=ids, lease_owner=owner)
        .using_db(using)
        .values(
            "id",
            "tenant_id",
            "endpoint_id",
            "event_id",
            "attempts",
            "attempt_log",
            "trigger",
            "created_at",
        )
    )
    return [ClaimedDelivery(**row, lease_owner=owner) for row in rows]


async def load_envelopes(event_ids: list[str]) -> dict[str, bytes]:
    """Event bodies, serialized once per batch exactly as they will be signed and sent."""
    events = await Event.filter(id__in=list(set(event_ids)))
    return {event.id: orjson.dumps(envelope_of(event)) for event in events}


async def load_endpoints(endpoint_ids: list[str]) -> list[WebhookEndpoint]:
    return await WebhookEndpoint.filter(id__in=list(set(endpoint_ids)))


async def write(
    outcomes: list[AttemptOutcome],
    releases: list[Release],
    claims: list[tuple[list[str], str]] | None = None,
    lease: float = 0.0,
) -> list[list[ClaimedDelivery]]:
    """One transaction for a batch of attempt outcomes, releases and new claims.

    Each row is only touched while the writer still holds its lease, so a
    worker whose lease expired cannot overwrite what another worker did since.
    Claims ride in the same transaction: on SQLite every write transaction
    takes the database-wide lock, and fewer of them is what keeps the web
    process's event inserts from queueing behind the worker.
    """
    now = datetime.now(UTC)
    async with in_transaction() as tx:
        if outcomes:
            p = _placeholders(tx, 9)
            # Whatever triggered this attempt (a manual retry included), the next one is scheduled.
            await tx.execute_many(
                "UPDATE webhook_deliveries SET status={}, attempts={}, next_attempt_at={},"
                " last_status_code={}, attempt_log={}, updated_at={}, trigger={},"
                " lease_owner=NULL, lease_until=NULL WHERE id={} AND lease_owner={}".format(*p),
                [
                    [
                        o.status,
                        o.attempts,
                        _time(tx, o.next_attempt_at),
                        o.last_status_code,
                        orjson.dumps(o.attempt_log).decode(),
                        _time(tx, now),
                        DeliveryTrigger.SCHEDULED,
                        o.delivery_id,
                        o.lease_owner,
                    ]
                    for o in outcomes
                ],
            )
        if releases:
            p = _placeholders(tx, 4)
            await tx.execute_many(
                "UPDATE webhook_deliveries SET next_attempt_at={}, updated_at={},"
                " lease_owner=NULL, lease_until=NULL WHERE id={} AND lease_owner={}".format(*p),
                [
                    [_time(tx, r.next_attempt_at), _time(tx, now), r.delivery_id, r.lease_owner]
                    for r in releases
                ],
            )
        return [await claim(ids, owner, lease, using=tx) for ids, owner in claims or []]


async def lost_deliveries(grace: float, limit: int) -> list[tuple[str, datetime]]:
    """Pending deliveries overdue by more than ``grace`` that nobody holds: Redis lost them."""
    now = datetime.now(UTC)
    rows = (
        await Delivery.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now),
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=grace),
        )
        .order_by("next_attempt_at")
        .limit(limit)
        .values_list("id", "next_attempt_at")
    )
    return [(row[0], row[1]) for row in rows]
