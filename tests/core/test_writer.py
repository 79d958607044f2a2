"""The event writer: many callers, few transactions, and each caller's fate its own.

Every test publishes concurrently from several tasks, as the sessions of a
worker do, then reads the ledger back: what a caller was told is what the
ledger holds, and a tenant's seqs count its events with no gap.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from relay.core.constants import tenant_stream_key
from relay.core.enums import EngineKind, EventType, SessionStatus
from relay.core.events import (
    LeaseLost,
    NewEvent,
    configure_publishing,
    finish_publishing,
    publish_events,
)
from relay.core.ids import new_id
from relay.core.models import Event, Session, Tenant
from tests.stack import free_port
from webhooks import outbox


def event(tenant_id: str, label: str, **fields: Any) -> NewEvent:
    return NewEvent(
        tenant_id=tenant_id,
        session_id=fields.pop("session_id", None),
        type=EventType.MESSAGE_RECEIVED,
        data={"label": label},
        **fields,
    )


async def ledger_labels(tenant_id: str) -> list[tuple[int, str]]:
    """The tenant's ledger in seq order, as (seq, label)."""
    rows = await Event.filter(tenant_id=tenant_id).order_by("seq")
    return [(row.seq, row.data["label"]) for row in rows]


async def new_session(tenant_id: str, fence: int) -> str:
    session = await Session.create(
        id=new_id("ses"), tenant_id=tenant_id, name="s", engine=EngineKind.SANDBOX, fence=fence
    )
    return str(session.id)


async def test_callers_publishing_at_once_share_one_transaction(pipeline: Redis) -> None:
    """Twenty groups of three from twenty tasks: one batch, and each caller gets exactly its own
    three envelopes, consecutive in the tenant's gap-free seqs."""
    tenant = new_id("ten")
    batches: list[int] = []

    async def count_batches(envelopes: Sequence[dict[str, Any]], connection: BaseDBAsyncClient) -> None:
        batches.append(len(envelopes))

    configure_publishing([outbox.record_deliveries, count_batches])
    try:
        groups = [[event(tenant, f"{caller}.{n}") for n in range(3)] for caller in range(20)]
        answers = await asyncio.gather(*(publish_events(pipeline, group) for group in groups))
    finally:
        outbox.install()

    assert batches == [60]
    for caller, envelopes in enumerate(answers):
        assert [e["data"]["label"] for e in envelopes] == [f"{caller}.{n}" for n in range(3)]
        first = envelopes[0]["seq"]
        assert [e["seq"] for e in envelopes] == [first, first + 1, first + 2]
    ledger = await ledger_labels(tenant)
    assert [seq for seq, _ in ledger] == list(range(1, 61))
    assert sorted(label for _, label in ledger) == sorted(f"{c}.{n}" for c in range(20) for n in range(3))


async def test_a_group_that_fails_in_its_transaction_fails_only_its_caller(pipeline: Redis) -> None:
    """One group's ``also_write`` breaks a unique constraint: its caller gets the error and none of
    its events exist; the four other groups of the batch commit, with seqs 1 to 8 and no hole."""
    tenant = new_id("ten")
    taken = await Tenant.create(id=new_id("ten"), name="taken")

    async def duplicate_tenant(connection: BaseDBAsyncClient) -> None:
        await Tenant.create(id=taken.id, name="again", using_db=connection)

    groups = [[event(tenant, f"{caller}.{n}") for n in range(2)] for caller in range(5)]
    groups[2] = [event(tenant, "bad.0"), event(tenant, "bad.1", also_write=duplicate_tenant)]
    answers = await asyncio.gather(
        *(publish_events(pipeline, group) for group in groups), return_exceptions=True
    )

    assert isinstance(answers[2], IntegrityError)
    for caller in (0, 1, 3, 4):
        answer = answers[caller]
        assert not isinstance(answer, BaseException)
        assert [e["data"]["label"] for e in answer] == [f"{caller}.0", f"{caller}.1"]
    ledger = await ledger_labels(tenant)
    assert [seq for seq, _ in ledger] == list(range(1, 9))
    assert not any(label.startswith("bad") for _, label in ledger)


async def test_a_stale_fence_refuses_its_whole_group_and_nothing_else(pipeline: Redis) -> None:
    """The refused groups' events and session updates are nowhere; the others' all are."""
    tenant = new_id("ten")
    mine, lost = await new_session(tenant, fence=5), await new_session(tenant, fence=5)
    connected = {"status": SessionStatus.CONNECTED}
    groups = [
        [event(tenant, "mine", session_id=mine, fence=5, session_updates={"reason": "mine"})],
        [event(tenant, "stale", session_id=lost, fence=4, session_updates=connected)],
        # Half good, half stale: refused as a whole, its good half's update included.
        [
            event(tenant, "half.good", session_id=mine, fence=5, session_updates=connected),
            event(tenant, "half.stale", session_id=lost, fence=4),
        ],
        [event(tenant, "unfenced")],
    ]
    answers = await asyncio.gather(
        *(publish_events(pipeline, group) for group in groups), return_exceptions=True
    )

    assert isinstance(answers[1], LeaseLost) and isinstance(answers[2], LeaseLost)
    assert str(answers[1]) == lost
    assert not isinstance(answers[0], BaseException) and not isinstance(answers[3], BaseException)
    assert await ledger_labels(tenant) == [(1, "mine"), (2, "unfenced")]
    assert (await Session.get(id=mine)).reason == "mine"
    assert (await Session.get(id=mine)).status == SessionStatus.STOPPED
    assert (await Session.get(id=lost)).status == SessionStatus.STOPPED


async def test_a_fenced_event_without_a_session_is_refused_alone(pipeline: Redis) -> None:
    tenant = new_id("ten")
    good, bad = await asyncio.gather(
        publish_events(pipeline, [event(tenant, "good")]),
        publish_events(pipeline, [event(tenant, "bad", fence=1)]),
        return_exceptions=True,
    )
    assert isinstance(bad, ValueError)
    assert not isinstance(good, BaseException)
    assert await ledger_labels(tenant) == [(1, "good")]


async def test_redis_unreachable_after_the_commit_fails_no_caller(pipeline: Redis) -> None:
    """The feed append and the webhook hand-off are lost, not the events: the ledger has them."""
    tenant = new_id("ten")
    nowhere = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        envelopes = await publish_events(nowhere, [event(tenant, "a"), event(tenant, "b")])
    finally:
        await nowhere.aclose()
    assert [e["seq"] for e in envelopes] == [1, 2]
    assert await ledger_labels(tenant) == [(1, "a"), (2, "b")]


async def test_a_caller_cancelled_before_its_batch_takes_its_group_with_it(pipeline: Redis) -> None:
    tenant = new_id("ten")
    kept = asyncio.create_task(publish_events(pipeline, [event(tenant, "kept")]))
    dropped = asyncio.create_task(publish_events(pipeline, [event(tenant, "dropped")]))
    await asyncio.sleep(0)  # both submitted; the writer has not taken its batch yet
    dropped.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert await ledger_labels(tenant) == [(1, "kept")]


async def test_finish_publishing_returns_once_the_feed_has_every_event(pipeline: Redis) -> None:
    """Publishing returns at the commit; a process about to exit waits for the stream appends."""
    tenant = new_id("ten")
    envelopes = await asyncio.gather(*(publish_events(pipeline, [event(tenant, str(n))]) for n in range(5)))
    await finish_publishing()
    stream = await pipeline.xrange(tenant_stream_key(tenant))
    assert [orjson.loads(fields[b"e"])["seq"] for _, fields in stream] == [1, 2, 3, 4, 5]
    assert sorted(e[0]["seq"] for e in envelopes) == [1, 2, 3, 4, 5]


UNREACHABLE_DATABASE = """
import asyncio, sys
from relay.core.db import open_database
from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from webhooks import outbox

async def main(url):
    await open_database(url)
    outbox.install()
    new = NewEvent(tenant_id="ten_x", session_id=None, type=EventType.WEBHOOK_TEST, data={})
    answers = await asyncio.gather(*(publish_events(None, [new]) for _ in range(3)), return_exceptions=True)
    print(" ".join(type(answer).__name__ for answer in answers))

asyncio.run(main(sys.argv[1]))
"""


async def test_every_caller_of_a_batch_gets_the_error_of_an_unreachable_database() -> None:
    """In a process of its own, pointed at a closed port: three callers, three errors, no hang."""
    database = f"postgres://postgres@127.0.0.1:{free_port()}/relay"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UNREACHABLE_DATABASE, database, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert output.decode().split() == ["ConnectionRefusedError"] * 3


async def test_a_redis_outage_is_logged_once_however_many_batches_it_spans(
    pipeline: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Twenty batches committed while Redis is unreachable: one warning, then one line when it is back."""
    tenant = new_id("ten")
    await publish_events(pipeline, [event(tenant, "before")])
    await finish_publishing()  # whatever an earlier test left, Redis answers now
    nowhere = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with caplog.at_level(logging.INFO, logger="relay.core.writer"):
            for n in range(20):
                await publish_events(nowhere, [event(tenant, f"down.{n}")])
                await finish_publishing()  # each its own batch and its own failed hand-off
            await publish_events(pipeline, [event(tenant, "back")])
            await finish_publishing()
    finally:
        await nowhere.aclose()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "relay.core.writer"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "works again" in caplog.text and "20 item(s) were skipped" in caplog.text
    assert len(await ledger_labels(tenant)) == 22
