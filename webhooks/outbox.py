"""The seam between the event pipeline and webhook delivery (the transactional outbox).

``install`` registers ``record_deliveries`` as a step of ``publish_event``: it
runs inside the ledger transaction, once per batch of events the writer
commits, so an accepted event never exists without its deliveries; the
hand-off it returns joins the batch's Redis pipeline after the commit and only
wakes the delivery workers (Redis may lose it; the sweeper finds it again in
the database).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio.client import Pipeline
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import DeliveryStatus, DeliveryTrigger, EventType
from relay.core.events import AfterCommit, configure_publishing
from webhooks.constants import FRESH_QUEUE
from webhooks.models import Delivery, WebhookEndpoint


class EndpointFilters(Protocol):
    """What decides whether an endpoint wants an event (a ``WebhookEndpoint`` has it all)."""

    @property
    def id(self) -> str: ...

    @property
    def events(self) -> list[str]: ...

    @property
    def session_ids(self) -> list[str] | None: ...


@dataclass(frozen=True, slots=True)
class _Filters:
    id: str
    events: list[str]
    session_ids: list[str] | None


def endpoint_matches(endpoint: EndpointFilters, envelope: dict[str, Any]) -> bool:
    # A test event goes to the one endpoint named in its data, whatever that endpoint's filters.
    if envelope["type"] == EventType.WEBHOOK_TEST:
        return (envelope.get("data") or {}).get("endpoint_id") == endpoint.id
    events = endpoint.events or ["*"]
    if "*" not in events and envelope["type"] not in events:
        return False
    if endpoint.session_ids:
        return envelope.get("session_id") in endpoint.session_ids
    return True


def new_delivery(envelope: dict[str, Any], endpoint_id: str, now: datetime) -> Delivery:
    return Delivery(
        id=Delivery.make_id(),
        tenant_id=envelope["tenant_id"],
        endpoint_id=endpoint_id,
        event_id=envelope["id"],
        next_attempt_at=now,
    )


def install() -> None:
    """Make every event this process publishes carry its webhook deliveries."""
    configure_publishing([record_deliveries])


async def record_deliveries(
    envelopes: Sequence[dict[str, Any]], connection: BaseDBAsyncClient
) -> AfterCommit | None:
    """One endpoint query for every tenant of the batch, one insert of all its deliveries."""
    tenants = {envelope["tenant_id"] for envelope in envelopes}
    endpoints: defaultdict[str, list[_Filters]] = defaultdict(list)
    rows = (
        await WebhookEndpoint.filter(tenant_id__in=tenants, enabled=True)
        .using_db(connection)
        .values("id", "tenant_id", "events", "session_ids")
    )
    for row in rows:
        endpoints[row["tenant_id"]].append(_Filters(row["id"], row["events"], row["session_ids"]))
    wanted = [
        (envelope, endpoint.id)
        for envelope in envelopes
        for endpoint in endpoints[envelope["tenant_id"]]
        if endpoint_matches(endpoint, envelope)
    ]
    if not wanted:
        return None
    delivery_ids = await _insert_deliveries(connection, wanted)

    def dispatch(pipe: Pipeline) -> None:
        """Wake the workers' fresh lane (``webhooks.queue.pop_fresh``): picked up in milliseconds."""
        pipe.rpush(FRESH_QUEUE, *delivery_ids)

    return dispatch


# PostgreSQL: every delivery of the batch in ONE statement, the varying columns as arrays.
_INSERT_DELIVERIES_POSTGRES = """
INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, attempts,
    next_attempt_at, attempt_log, trigger, created_at, updated_at)
SELECT u.id, u.tenant_id, u.endpoint_id, u.event_id, $5, 0, $6, '[]'::jsonb, $7, $6, $6
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, tenant_id, endpoint_id, event_id)
"""


async def _insert_deliveries(
    connection: BaseDBAsyncClient, wanted: list[tuple[dict[str, Any], str]]
) -> list[str]:
    """The rows ``new_delivery`` describes, written with one statement instead of a model each:
    at thousands of events a second, building and saving models is most of the step's time."""
    now = datetime.now(UTC)
    ids = [Delivery.make_id() for _ in wanted]
    pending, scheduled = DeliveryStatus.PENDING.value, DeliveryTrigger.SCHEDULED.value
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            _INSERT_DELIVERIES_POSTGRES,
            [
                ids,
                [envelope["tenant_id"] for envelope, _ in wanted],
                [endpoint_id for _, endpoint_id in wanted],
                [envelope["id"] for envelope, _ in wanted],
                pending,
                now,
                scheduled,
            ],
        )
        return ids
    # SQLite: one prepared statement run for each row (``executemany``: a C loop).
    await connection.execute_many(
        "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, status, attempts,"
        " next_attempt_at, attempt_log, trigger, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 0, ?, '[]', ?, ?, ?)",
        [
            [
                delivery_id,
                envelope["tenant_id"],
                endpoint_id,
                envelope["id"],
                pending,
                now,
                scheduled,
                now,
                now,
            ]
            for delivery_id, (envelope, endpoint_id) in zip(ids, wanted, strict=True)
        ],
    )
    return ids
