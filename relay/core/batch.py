"""One batch of event groups written to the ledger in one transaction (the writer's group commit).

In this order, so that the checks come first and the tenant counters are held
for as short a time as possible:
1. one fenced UPDATE for every (session, fence) pair in the batch: the check
   and the row lock at once (on SQLite it is also the first write, so the
   transaction holds the write lock before it reads anything);
2. the session updates, merged per session in the order they were asked for;
3. the groups' ``also_write`` callbacks, in order;
4. the seqs: each tenant's counter bumped by its number of events (``INSERT
   ... ON CONFLICT DO UPDATE ... RETURNING``, SQLite >= 3.35 and PostgreSQL).
   The counter row stays locked until the commit, so seqs follow commit order,
   and a rolled-back batch gives its numbers back: no gaps;
5. one bulk insert of the events (one statement on PostgreSQL);
6. the events' side rows, one bulk insert per table that skips rows already
   there (``ON CONFLICT DO NOTHING`` / ``INSERT OR IGNORE``): a replayed event
   never gives a second row;
7. each registered step, once, with every envelope of the batch.

A group its caller says may already be committed (a retry after a commit
whose acknowledgement was lost) is looked up by its caller-supplied ids first,
outside the transaction: found, it is answered from the ledger and not written
again (no second seq, no second set of deliveries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from relay.core.constants import WRITER_IDLE_TIMEOUT_MS, WRITER_LOCK_TIMEOUT_MS
from relay.core.ids import new_id
from relay.core.models import Event, Session
from relay.core.publishing import AfterCommit, NewEvent, PublishStep, envelope_of, make_envelope
from relay.core.sql import placeholders
from relay.core.times import isoformat, now_ms

# A session's lease token as the writer holds it.
Fence = tuple[str, int]


class FencesRefused(Exception):
    """Some (session, fence) pairs of the batch no longer match; the transaction was rolled back."""

    def __init__(self, refused: set[Fence]) -> None:
        super().__init__(f"{len(refused)} stale fence(s)")
        self.refused = refused


@dataclass(frozen=True, slots=True)
class CommittedBatch:
    # Per group, its envelopes in order; and what the steps hand over after the commit.
    envelopes: list[list[dict[str, Any]]]
    after_commit: list[AfterCommit]


def fences_of(events: Sequence[NewEvent]) -> list[Fence]:
    """The distinct (session, fence) pairs a group's writes depend on, in order."""
    pairs: dict[Fence, None] = {}
    for new in events:
        if new.fence is not None:
            if new.session_id is None:
                raise ValueError("a fenced event needs a session_id")
            pairs[(new.session_id, new.fence)] = None
    return list(pairs)


async def commit_batch(
    groups: Sequence[Sequence[NewEvent]],
    steps: Sequence[PublishStep],
    maybe_committed: Sequence[bool] | None = None,
) -> CommittedBatch:
    """Write ``groups`` in one transaction; raises ``FencesRefused`` (nothing written) on a stale fence.

    ``maybe_committed[i]`` says group ``i`` may already be in the ledger (see the module's docstring).
    """
    found = await _already_committed(groups, maybe_committed or [False] * len(groups))
    to_write = [group for index, group in enumerate(groups) if index not in found]
    written = await _write_groups(to_write, steps) if to_write else CommittedBatch([], [])
    fresh = iter(written.envelopes)
    per_group = [found[index] if index in found else next(fresh) for index in range(len(groups))]
    return CommittedBatch(per_group, written.after_commit)


async def _already_committed(
    groups: Sequence[Sequence[NewEvent]], maybe_committed: Sequence[bool]
) -> dict[int, list[dict[str, Any]]]:
    """The envelopes, from the ledger, of the groups that turn out to be committed already.

    A group is committed whole or not at all, so finding some but not all of its ids means
    the ids were reused: that is refused (``ValueError``) rather than half written.
    """
    wanted = {
        new.id: index
        for index, group in enumerate(groups)
        if maybe_committed[index]
        for new in group
        if new.id is not None
    }
    if not wanted:
        return {}
    rows = {event.id: event for event in await Event.filter(id__in=list(wanted))}
    found: dict[int, list[dict[str, Any]]] = {}
    for index in sorted({wanted[event_id] for event_id in rows}):
        group = groups[index]
        if any(new.id not in rows for new in group):
            raise ValueError("some of this group's event ids are in the ledger and some are not")
        found[index] = [envelope_of(rows[str(new.id)]) for new in group]
    return found


async def _write_groups(groups: Sequence[Sequence[NewEvent]], steps: Sequence[PublishStep]) -> CommittedBatch:
    events = [new for group in groups for new in group]
    now = now_ms()
    written_now = isoformat(now)
    # Minted before the commit, so ids only roughly follow commit order; seqs follow it exactly.
    ids = [new.id or new_id("evt") for new in events]
    async with in_transaction() as connection:
        if connection.capabilities.dialect == "postgres":
            # A writer that hangs while it holds a tenant's counter must not stall the others for
            # long: they give up waiting after the lock timeout, and the server ends its transaction
            # once it has sat idle for the idle timeout, which frees the counter.
            await connection.execute_script(
                f"SET LOCAL lock_timeout = '{WRITER_LOCK_TIMEOUT_MS}ms';"
                f" SET LOCAL idle_in_transaction_session_timeout = '{WRITER_IDLE_TIMEOUT_MS}ms'"
            )
        await _check_fences(connection, fences_of(events), now)
        await _apply_session_updates(connection, events, now)
        for new in events:
            if new.also_write is not None:
                await new.also_write(connection)
        seqs = await _allocate_seqs(connection, events)
        envelopes = [
            make_envelope(
                id=event_id,
                seq=next(seqs[new.tenant_id]),
                type=new.type,
                tenant_id=new.tenant_id,
                session_id=new.session_id,
                created_at=written_now,
                data=new.data,
            )
            for event_id, new in zip(ids, events, strict=True)
        ]
        await _insert_events(connection, envelopes, now)
        await _insert_side_rows(connection, events)
        after_commit = [hand_off for step in steps if (hand_off := await step(envelopes, connection))]
    per_group: list[list[dict[str, Any]]] = []
    start = 0
    for group in groups:
        per_group.append(envelopes[start : start + len(group)])
        start += len(group)
    return CommittedBatch(per_group, after_commit)


async def _check_fences(connection: BaseDBAsyncClient, fences: list[Fence], now: datetime) -> None:
    if not fences:
        return
    marks = placeholders(connection, 1 + 2 * len(fences))
    matching = " OR ".join(
        f"(id = {marks[1 + 2 * i]} AND fence = {marks[2 + 2 * i]})" for i in range(len(fences))
    )
    updated, _ = await connection.execute_query(
        f"UPDATE sessions SET updated_at = {marks[0]} WHERE {matching}",
        [now, *(part for fence in fences for part in fence)],
    )
    if updated == len(fences):
        return
    # Rare (a lease changed hands): find out which pairs went stale. A stale token never
    # becomes current again (tokens only grow), so reading without a lock is enough.
    current = await (
        Session.filter(id__in={session_id for session_id, _ in fences})
        .using_db(connection)
        .values_list("id", "fence")
    )
    valid = {(str(session_id), int(fence)) for session_id, fence in current}
    raise FencesRefused({pair for pair in fences if pair not in valid})


async def _apply_session_updates(
    connection: BaseDBAsyncClient, events: list[NewEvent], now: datetime
) -> None:
    merged: dict[tuple[str, int | None], dict[str, Any]] = {}
    for new in events:
        if new.session_updates and new.session_id is not None:
            merged.setdefault((new.session_id, new.fence), {}).update(new.session_updates)
    for (session_id, fence), updates in merged.items():
        query = Session.filter(id=session_id)
        if fence is not None:
            query = query.filter(fence=fence)
        await query.using_db(connection).update(updated_at=now, **updates)


async def _allocate_seqs(connection: BaseDBAsyncClient, events: list[NewEvent]) -> dict[str, Iterator[int]]:
    """Each tenant's next seqs, as an iterator per tenant, taken from its counter row."""
    counts = Counter(new.tenant_id for new in events)
    # Counter rows are locked in tenant order, so two batches never wait for each other in a cycle.
    tenants = sorted(counts)
    marks = placeholders(connection, 2 * len(tenants))
    rows = ", ".join(f"({marks[2 * i]}, {marks[2 * i + 1]})" for i in range(len(tenants)))
    values: list[Any] = [part for tenant in tenants for part in (tenant, counts[tenant])]
    # execute_query_dict, not execute_query: tortoise's asyncpg client drops an INSERT's RETURNING rows.
    returned = await connection.execute_query_dict(
        f"INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES {rows}"
        " ON CONFLICT (tenant_id) DO UPDATE SET last_seq = tenant_sequences.last_seq + excluded.last_seq"
        " RETURNING tenant_id, last_seq",
        values,
    )
    return {
        row["tenant_id"]: iter(range(row["last_seq"] - counts[row["tenant_id"]] + 1, row["last_seq"] + 1))
        for row in returned
    }


async def _insert_side_rows(connection: BaseDBAsyncClient, events: list[NewEvent]) -> None:
    """Every event's side rows, one bulk insert per model, in the order the events came."""
    per_model: dict[type[Model], list[Model]] = {}
    for new in events:
        for row in new.side_rows:
            per_model.setdefault(type(row), []).append(row)
    for model, rows in per_model.items():
        await model.bulk_create(rows, ignore_conflicts=True, using_db=connection)


# PostgreSQL: the batch's events in ONE statement, the rows as parallel arrays (one parse, bind
# and execute for the batch instead of one per row, which is most of the server's time here).
_INSERT_EVENTS_POSTGRES = """
INSERT INTO events (id, seq, type, tenant_id, session_id, created_at, data)
SELECT u.id, u.seq, u.type, u.tenant_id, u.session_id, $6, u.data::jsonb
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $7::text[])
    AS u(id, seq, type, tenant_id, session_id, data)
"""


async def _insert_events(
    connection: BaseDBAsyncClient, envelopes: list[dict[str, Any]], now: datetime
) -> None:
    data = [orjson.dumps(envelope["data"]).decode() for envelope in envelopes]
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            _INSERT_EVENTS_POSTGRES,
            [
                [envelope["id"] for envelope in envelopes],
                [envelope["seq"] for envelope in envelopes],
                [str(envelope["type"]) for envelope in envelopes],
                [envelope["tenant_id"] for envelope in envelopes],
                [envelope["session_id"] for envelope in envelopes],
                now,
                data,
            ],
        )
        return
    # SQLite: one prepared statement run for each row (``executemany``: a C loop).
    await connection.execute_many(
        "INSERT INTO events (id, seq, type, tenant_id, session_id, created_at, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            [
                envelope["id"],
                envelope["seq"],
                str(envelope["type"]),
                envelope["tenant_id"],
                envelope["session_id"],
                now,
                text,
            ]
            for envelope, text in zip(envelopes, data, strict=True)
        ],
    )
