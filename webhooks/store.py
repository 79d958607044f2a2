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
from relay.core.models import Event
from relay.core.publishing import make_envelope
from relay.core.times import isoformat
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


_CLAIM = """
UPDATE webhook_deliveries SET lease_owner = {owner}, lease_until = {until}
WHERE id IN ({ids}) AND status = {pending} AND next_attempt_at <= {due_by}
    AND (lease_until IS NULL OR lease_until < {expired_by})
RETURNING id, tenant_id, endpoint_id, event_id, attempts, attempt_log, trigger, created_at
"""


async def claim(ids: list[str], owner: str, lease: float, using: BaseDBAsyncClient) -> list[ClaimedDelivery]:
    """Take the due, pending, unleased deliveries among ``ids``; the rest are someone else's.

    One statement (``UPDATE ... RETURNING``: SQLite >= 3.35, PostgreSQL) for the lease and the
    rows the attempts need, instead of an update and a read through the ORM.
    """
    now = datetime.now(UTC)
    marks = _placeholders(using, 5 + len(ids))
    sql = _CLAIM.format(
        owner=marks[0],
        until=marks[1],
        ids=", ".join(marks[2 : 2 + len(ids)]),
        pending=marks[-3],
        due_by=marks[-2],
        expired_by=marks[-1],
    )
    until = _time(using, now + timedelta(seconds=lease))
    written_now = _time(using, now)
    values = [owner, until, *ids, DeliveryStatus.PENDING.value, written_now, written_now]
    rows = await using.execute_query_dict(sql, values)
    return [
        ClaimedDelivery(
            id=row["id"],
            tenant_id=row["tenant_id"],
            endpoint_id=row["endpoint_id"],
            event_id=row["event_id"],
            attempts=row["attempts"],
            attempt_log=orjson.loads(log) if isinstance(log := row["attempt_log"], str | bytes) else log,
            trigger=row["trigger"],
            created_at=_datetime(row["created_at"]),
            lease_owner=owner,
        )
        for row in rows
    ]


def _datetime(value: datetime | str) -> datetime:
    # SQLite hands back the text tortoise stored (``str(datetime)``); asyncpg a datetime.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


ENVELOPE_COLUMNS = ("id", "seq", "type", "tenant_id", "session_id", "created_at", "data")


async def load_envelopes(event_ids: list[str]) -> dict[str, bytes]:
    """Event bodies, serialized once per batch (whatever the event's fan-out) exactly as they will be
    signed and sent. Read as plain rows: building a model per event is most of the cost otherwise."""
    rows = await Event.filter(id__in=list(set(event_ids))).values(*ENVELOPE_COLUMNS)
    return {
        row["id"]: orjson.dumps(make_envelope(**{**row, "created_at": isoformat(row["created_at"])}))
        for row in rows
    }


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
            await _write_outcomes(tx, outcomes, now)
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


# PostgreSQL: every outcome of the flush in ONE statement, the rows as parallel arrays.
_OUTCOMES_POSTGRES = """
UPDATE webhook_deliveries AS d SET status = u.status, attempts = u.attempts,
    next_attempt_at = u.next_attempt_at, last_status_code = u.last_status_code,
    attempt_log = u.attempt_log::jsonb, updated_at = $8, trigger = $9,
    lease_owner = NULL, lease_until = NULL
FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::text[], $6::text[], $7::text[])
    AS u(status, attempts, next_attempt_at, last_status_code, attempt_log, id, lease_owner)
WHERE d.id = u.id AND d.lease_owner = u.lease_owner
"""
# SQLite: one prepared statement run for each outcome (``executemany``: a C loop, one commit).
_OUTCOMES_SQLITE = (
    "UPDATE webhook_deliveries SET status=?, attempts=?, next_attempt_at=?, last_status_code=?,"
    " attempt_log=?, updated_at=?, trigger=?, lease_owner=NULL, lease_until=NULL"
    " WHERE id=? AND lease_owner=?"
)


async def _write_outcomes(tx: BaseDBAsyncClient, outcomes: list[AttemptOutcome], now: datetime) -> None:
    """Each attempt's result on its row, if the row is still leased to the attempt's batch.

    Whatever triggered the attempt (a manual retry included), the next one is scheduled. At
    thousands of deliveries a second this statement is the worker's main database write, so it
    is built without the ORM and, on PostgreSQL, sent once for the whole flush.
    """
    logs = [orjson.dumps(o.attempt_log).decode() for o in outcomes]
    scheduled = DeliveryTrigger.SCHEDULED.value
    if tx.capabilities.dialect == "postgres":
        await tx.execute_query(
            _OUTCOMES_POSTGRES,
            [
                [o.status.value for o in outcomes],
                [o.attempts for o in outcomes],
                [o.next_attempt_at for o in outcomes],
                [o.last_status_code for o in outcomes],
                logs,
                [o.delivery_id for o in outcomes],
                [o.lease_owner for o in outcomes],
                now,
                scheduled,
            ],
        )
        return
    written_now = str(now.astimezone(UTC))
    await tx.execute_many(
        _OUTCOMES_SQLITE,
        [
            [
                o.status.value,
                o.attempts,
                None if o.next_attempt_at is None else str(o.next_attempt_at.astimezone(UTC)),
                o.last_status_code,
                log,
                written_now,
                scheduled,
                o.delivery_id,
                o.lease_owner,
            ]
            for o, log in zip(outcomes, logs, strict=True)
        ],
    )


async def lost_deliveries(
    grace: float, limit: int, *, before_id: str | None = None
) -> list[tuple[str, datetime]]:
    """Pending deliveries overdue by more than ``grace`` that nobody holds: Redis lost them.

    ``before_id``: only deliveries with a smaller id (older than the head of the fresh list).
    """
    now = datetime.now(UTC)
    query = Delivery.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now - timedelta(seconds=grace),
    )
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("next_attempt_at").limit(limit).values_list("id", "next_attempt_at")
    return [(row[0], row[1]) for row in rows]
