"""The shapes of the event pipeline: what a publisher hands in, what a consumer's step sees.

They live apart from ``relay.core.events`` (the public functions) so that the
writer and its batch transaction can use them without importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio.client import Pipeline
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from relay.core.enums import EventType
from relay.core.models import Event
from relay.core.times import isoformat


class LeaseLost(RuntimeError):
    """The writer no longer holds the session's fencing token; the write was refused."""


WriteInTransaction = Callable[[BaseDBAsyncClient], Awaitable[object]]

# After the commit: queue the Redis commands that hand a step's rows to whoever works on them
# next, on the pipeline that also carries the batch's feed appends (sent once per batch).
AfterCommit = Callable[[Pipeline], None]
# Inside the ledger transaction, once per batch with every envelope of the batch in commit
# order: write the rows that must exist exactly when the events do.
PublishStep = Callable[[Sequence[dict[str, Any]], BaseDBAsyncClient], Awaitable[AfterCommit | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """One event to publish, with what must change in the same transaction.

    ``fence`` is the caller's lease token on ``session_id``: when given, the
    write (and any ``session_updates``) only happens while that token is still
    the session's current one, so a worker that lost its lease cannot speak for
    the session any more. ``also_write`` runs in the same transaction, for rows
    that must change together with the event (an outbound message's status).

    ``id`` is the event's id when the caller mints it (``new_id("evt")``) before
    publishing, so that publishing the same group again after its commit was
    not acknowledged (the connection dropped after ``COMMIT``) finds it in the
    ledger instead of writing it twice (``publish_events(..., maybe_committed=True)``).

    ``side_rows`` are new rows that exist exactly when the event does (an inbound
    message's media row): inserted with the batch, in bulk, in its transaction. A row
    whose id is already there is left as it is, so an event published again (a journal
    replayed) never gives a second row or an error.
    """

    tenant_id: str
    session_id: str | None
    type: EventType
    data: dict[str, Any]
    fence: int | None = None
    session_updates: dict[str, Any] | None = None
    also_write: WriteInTransaction | None = None
    id: str | None = None
    side_rows: tuple[Model, ...] = ()


def make_envelope(
    *,
    id: str,
    seq: int,
    type: str,
    tenant_id: str,
    session_id: str | None,
    created_at: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The one shape of the JSON integrators see (SPEC, "Events"); ``created_at`` already written."""
    return {
        "id": id,
        "seq": seq,
        "type": type,
        "tenant_id": tenant_id,
        "session_id": session_id,
        "created_at": created_at,
        "data": data,
    }


def envelope_of(event: Event) -> dict[str, Any]:
    """A ledger row as its envelope."""
    return make_envelope(
        id=event.id,
        seq=event.seq,
        type=event.type,
        tenant_id=event.tenant_id,
        session_id=event.session_id,
        created_at=isoformat(event.created_at),
        data=event.data,
    )
