"""The hand-off from engine to ledger, driven directly against the stack's database.

Each test owns a session the stack's worker leaves alone (it never wants to run)
through a real lease, and reports into a real journal in its temp dir, so what
it checks is what a worker does: fenced groups, the journal on disk, replay.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from relay.core.enums import EventType, MessageStatus
from relay.core.models import OutboundMessage, Session
from tests.conftest import TenantHandle
from tests.sessions import events_of
from workers.database_watch import DatabaseWatch
from workers.handoff import SessionHandoff
from workers.journal import Journal
from workers.lease import Lease, acquire_lease
from workers.pending_event import MessageRowUpdate, PendingEvent
from workers.publish_retry import publish_until_settled
from workers.replay import JournalReplayer


@dataclass
class Owned:
    tenant_id: str
    session_id: str
    lease: Lease

    def event(self, n: int, *, fence: int | None = None) -> PendingEvent:
        return PendingEvent(
            tenant_id=self.tenant_id,
            session_id=self.session_id,
            type=EventType.MESSAGE_RECEIVED,
            data={"n": n, "text": f"message {n}"},
            fence=self.lease.token if fence is None else fence,
        )


async def own_a_session(tenant: TenantHandle, ledger: Redis, name: str) -> Owned:
    created = await tenant.client.post(
        "/v1/sessions", json={"name": name, "engine": "sandbox", "start": False}
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["id"]
    lease = await acquire_lease(ledger, session_id, "handoff-tests", ttl_seconds=300)
    assert lease is not None
    return Owned(tenant.id, session_id, lease)


def handoff_for(
    owned: Owned,
    ledger: Redis,
    journal: Journal,
    on_lease_lost: Callable[[], None] = lambda: None,
    **options: Any,
) -> SessionHandoff:
    return SessionHandoff(
        session_id=owned.session_id,
        redis=ledger,
        journal=journal,
        watch=DatabaseWatch(),
        on_lease_lost=on_lease_lost,
        **options,
    )


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    journal = Journal(tmp_path / "journal", "handoff-tests")
    await journal.open()
    try:
        yield journal
    finally:
        await journal.close()


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


async def received_numbers(tenant: TenantHandle, session_id: str) -> list[int]:
    return [e["data"]["n"] for e in await events_of(tenant.client, session_id, "message.received")]


async def test_a_burst_beyond_the_memory_bound_reaches_the_ledger_complete_and_in_order(
    tenant: TenantHandle, ledger: Redis, journal: Journal
) -> None:
    """600 events while nothing drains: 50 stay in memory, the rest only in the journal.

    Proof nothing was lost or reordered: the ledger holds the numbers 0..599 once
    each, in the order they were reported; the journal is empty afterwards.
    """
    owned = await own_a_session(tenant, ledger, "burst")
    handoff = handoff_for(owned, ledger, journal, memory_limit=50)
    for n in range(600):
        await handoff.submit(owned.event(n))
    assert handoff.in_memory == 50 and handoff.unsettled == 600
    assert segments(journal.directory), "the burst is on disk before anything is published"

    handoff.start()
    assert await handoff.flush()
    await handoff.close()

    assert await received_numbers(tenant, owned.session_id) == list(range(600))
    assert segments(journal.directory) == []


async def test_a_message_outcome_commits_with_its_row(
    tenant: TenantHandle, ledger: Redis, journal: Journal
) -> None:
    owned = await own_a_session(tenant, ledger, "outcome")
    message = await OutboundMessage.create(
        id=OutboundMessage.make_id(),
        tenant_id=owned.tenant_id,
        session_id=owned.session_id,
        to="15550001234",
        type="text",
        payload={"text": "hi"},
    )
    handoff = SessionHandoff(
        session_id=owned.session_id,
        redis=ledger,
        journal=journal,
        watch=DatabaseWatch(),
        on_lease_lost=lambda: None,
    )
    handoff.start()
    sent = PendingEvent(
        tenant_id=owned.tenant_id,
        session_id=owned.session_id,
        type=EventType.MESSAGE_SENT,
        data={"id": message.id, "whatsapp_id": "3EB0AA", "to": message.to},
        fence=owned.lease.token,
        message_update=MessageRowUpdate(
            message_id=message.id, status=MessageStatus.SENT, whatsapp_id="3EB0AA"
        ),
    )
    assert await handoff.submit_and_wait(sent)
    await handoff.close()
    row = await OutboundMessage.get(id=message.id)
    assert (row.status, row.whatsapp_id) == (MessageStatus.SENT, "3EB0AA")
    assert [e["data"]["id"] for e in await events_of(tenant.client, owned.session_id, "message.sent")] == [
        message.id
    ]


async def test_events_under_a_fence_the_session_no_longer_has_are_discarded(
    tenant: TenantHandle, ledger: Redis, journal: Journal
) -> None:
    owned = await own_a_session(tenant, ledger, "taken-over")
    # Another worker took the session over: a newer token is on the row.
    await Session.filter(id=owned.session_id).update(fence=owned.lease.token + 1)
    lost = asyncio.Event()
    handoff = SessionHandoff(
        session_id=owned.session_id,
        redis=ledger,
        journal=journal,
        watch=DatabaseWatch(),
        on_lease_lost=lost.set,
    )
    handoff.start()
    for n in range(5):
        await handoff.submit(owned.event(n))
    assert await handoff.flush() is False
    assert lost.is_set() and handoff.lease_lost
    # Refused from now on, without even reaching the journal.
    assert await handoff.submit_and_wait(owned.event(5)) is False
    await handoff.close()
    assert await received_numbers(tenant, owned.session_id) == []
    assert segments(journal.directory) == []


async def test_an_event_the_journal_cannot_take_still_reaches_the_ledger(
    tenant: TenantHandle, ledger: Redis, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    """The journal's directory vanishes (a disk unmounted under the worker): each event is
    kept in memory instead, with an error in the log, and still committed in order."""
    owned = await own_a_session(tenant, ledger, "no-disk")
    handoff = handoff_for(owned, ledger, journal)
    shutil.rmtree(journal.directory)
    with caplog.at_level(logging.ERROR, logger="relay.worker.handoff"):
        for n in range(3):
            await handoff.submit(owned.event(n))
    assert "the journal could not take" in caplog.text
    handoff.start()
    assert await handoff.flush()
    await handoff.close()
    assert await received_numbers(tenant, owned.session_id) == [0, 1, 2]
    journal.directory.mkdir()


async def test_a_dead_workers_journal_is_replayed_under_its_own_fences(
    tenant: TenantHandle, ledger: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker dies with events journaled for two sessions; one was taken over meanwhile.

    Proof: the session nobody took has all its events in the ledger, in order, and the
    one torn line a crash could leave is skipped; the taken-over session's events are
    discarded with a log line, never written under the old token; the dead journal is gone.
    """
    root = tmp_path / "journal"
    kept = await own_a_session(tenant, ledger, "kept")
    taken = await own_a_session(tenant, ledger, "taken")

    dead = Journal(root, "dead-worker")
    await dead.open()
    handoffs = []
    for owned in (kept, taken):
        handoff = SessionHandoff(
            session_id=owned.session_id,
            redis=ledger,
            journal=dead,
            watch=DatabaseWatch(),
            on_lease_lost=lambda: None,
        )
        for n in range(120):
            await handoff.submit(owned.event(n))
        handoffs.append(handoff)
    for handoff in handoffs:
        await handoff.close()  # never started: nothing reached the ledger
    await dead.close()  # the lock goes as it would with the process
    with segments(dead.directory)[0].open("ab") as torn:
        torn.write(b'{"tenant_id": "ten_')
    await Session.filter(id=taken.session_id).update(fence=taken.lease.token + 1)

    alive = Journal(root, "alive-worker")
    await alive.open()
    other_live = Journal(root, "other-live-worker")
    await other_live.open()
    try:
        replayer = JournalReplayer(root, alive.directory, ledger, DatabaseWatch())
        assert replayer.adopt() == 1, "only the dead worker's journal is free to adopt"
        assert replayer.pending_sessions == {kept.session_id, taken.session_id}
        with caplog.at_level(logging.INFO, logger="relay.worker.replay"):
            await replayer.replay_adopted()
    finally:
        await other_live.close()
        await alive.close()

    assert await received_numbers(tenant, kept.session_id) == list(range(120))
    assert await received_numbers(tenant, taken.session_id) == []
    assert f"session {taken.session_id}: 120 journaled event(s) discarded" in caplog.text
    assert "not a whole record" in caplog.text
    assert replayer.pending_sessions == set()
    assert not dead.directory.exists()


async def test_a_journal_whose_events_were_committed_before_the_worker_died_adds_nothing(
    tenant: TenantHandle, ledger: Redis, tmp_path: Path
) -> None:
    """Killed after the commit, before deleting the segment: replay finds the events by their ids.

    Proof: 80 events journaled and committed, then 40 more journaled only; after the
    replay the ledger holds 0..119 once each, in order.
    """
    root = tmp_path / "journal"
    owned = await own_a_session(tenant, ledger, "committed-then-killed")
    dead = Journal(root, "dead-worker")
    await dead.open()
    handoff = handoff_for(owned, ledger, dead)
    events = [owned.event(n) for n in range(120)]
    for event in events:
        await handoff.submit(event)
    await handoff.close()  # never started: the drainer did not run
    await dead.close()
    # What the dead worker's drainer had committed before it was killed.
    assert await publish_until_settled(ledger, events[:80], DatabaseWatch()) == [True] * 80

    alive = Journal(root, "alive-worker")
    await alive.open()
    try:
        replayer = JournalReplayer(root, alive.directory, ledger, DatabaseWatch())
        assert replayer.adopt() == 1
        await replayer.replay_adopted()
    finally:
        await alive.close()

    assert await received_numbers(tenant, owned.session_id) == list(range(120))


def test_a_journal_record_keeps_what_publishing_needs() -> None:
    expires = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    event = PendingEvent(
        tenant_id="ten_1",
        session_id="ses_1",
        type=EventType.SESSION_QR,
        data={"qr": "2@a\nb", "expires_at": "2026-11-22T10:00:00Z"},
        fence=7,
        session_updates={"qr": "2@a\nb", "qr_expires_at": expires, "status": "qr"},
        message_update=MessageRowUpdate(message_id="msg_1", status=MessageStatus.FAILED, error="nope"),
    )
    line = event.encode()
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert PendingEvent.decode(line) == event
    assert PendingEvent.decode(line).id == event.id, "the id minted at report time is kept"
    with pytest.raises(ValueError):
        PendingEvent.decode(line[:-10])
