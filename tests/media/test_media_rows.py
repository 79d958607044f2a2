"""A media row travels with its ``message.received`` through the journal and commits with it, once.

Driven directly against the stack's database (SQLite or Postgres, as the run is
configured): a session the stack's worker leaves alone, a real lease, a real
journal in the test's temp dir, and the worker's own replay of a dead journal.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from redis.asyncio import Redis

from relay.core.enums import EventType, MediaStatus
from relay.core.models import Media
from tests.conftest import TenantHandle
from tests.sessions import events_of
from workers.database_watch import DatabaseWatch
from workers.handoff import SessionHandoff
from workers.journal import Journal
from workers.lease import Lease, acquire_lease
from workers.pending_event import MediaRow, PendingEvent
from workers.publish_retry import publish_until_settled
from workers.replay import JournalReplayer

MEDIA_MESSAGES = 30


def media_message(tenant_id: str, session_id: str, lease: Lease, n: int) -> PendingEvent:
    """What a worker journals for an inbound photo: the event and its media row."""
    row = MediaRow(
        id=Media.make_id(),
        tenant_id=tenant_id,
        session_id=session_id,
        whatsapp_id=f"3EB0ROW{n}",
        type="image",
        mimetype="image/jpeg",
        size=1_000 + n,
        filename=None,
        status=MediaStatus.PENDING,
        error=None,
        reference={"sandbox_file": f"{n:032x}"},
    )
    media = {"id": row.id, "url": f"/v1/media/{row.id}", "status": row.status, "size": row.size}
    return PendingEvent(
        tenant_id=tenant_id,
        session_id=session_id,
        type=EventType.MESSAGE_RECEIVED,
        data={"whatsapp_id": row.whatsapp_id, "type": "image", "text": f"photo {n}", "media": media},
        fence=lease.token,
        media_row=row,
    )


async def owned_session(tenant: TenantHandle, ledger: Redis, name: str) -> tuple[str, Lease]:
    body = {"name": name, "engine": "sandbox", "start": False}
    created = await tenant.client.post("/v1/sessions", json=body)
    assert created.status_code == 201, created.text
    session_id = str(created.json()["id"])
    lease = await acquire_lease(ledger, session_id, "media-row-tests", ttl_seconds=300)
    assert lease is not None
    return session_id, lease


def test_a_journal_record_keeps_the_media_row_whole() -> None:
    """Everything the row needs, the engine's reference included, survives the journal line."""
    lease = Lease(session_id="ses_1", owner="w", token=7, ttl_ms=1_000)
    event = media_message("ten_1", "ses_1", lease, 1)
    line = event.encode()
    assert line.count(b"\n") == 1
    decoded = PendingEvent.decode(line)
    assert decoded == event
    assert decoded.media_row is not None and decoded.media_row.status is MediaStatus.PENDING
    (side_row,) = decoded.to_new_event().side_rows
    assert isinstance(side_row, Media) and side_row.reference == {"sandbox_file": f"{1:032x}"}


async def test_a_replayed_journal_writes_each_media_row_once(
    tenant: TenantHandle, ledger: Redis, tmp_path: Path
) -> None:
    """A worker journals 30 photos, commits 10 of them and dies; another worker replays its journal.

    Proof: 30 ``message.received`` in the ledger, one each, and 30 media rows, one per event,
    each with the id its event shows and the reference that was journaled. Publishing the same
    events again (as a replay that cannot know what committed does), and even the same rows
    under new event ids, adds no row and raises nothing.
    """
    session_id, lease = await owned_session(tenant, ledger, "media-replay")
    root = tmp_path / "journal"
    dead = Journal(root, "dead-worker")
    await dead.open()
    handoff = SessionHandoff(
        session_id=session_id, redis=ledger, journal=dead, watch=DatabaseWatch(), on_lease_lost=lambda: None
    )
    events = [media_message(tenant.id, session_id, lease, n) for n in range(MEDIA_MESSAGES)]
    for event in events:
        await handoff.submit(event)
    await handoff.close()  # never started: only the journal has them
    await dead.close()
    # What the dead worker's drainer had committed before it was killed.
    assert await publish_until_settled(ledger, events[:10], DatabaseWatch()) == [True] * 10

    alive = Journal(root, "alive-worker")
    await alive.open()
    try:
        replayer = JournalReplayer(root, alive.directory, ledger, DatabaseWatch())
        assert replayer.adopt() == 1
        await replayer.replay_adopted()
    finally:
        await alive.close()

    again = await publish_until_settled(ledger, events, DatabaseWatch(), maybe_committed=True)
    assert again == [True] * MEDIA_MESSAGES
    renamed = [replace(event, id=f"evt_again{n}") for n, event in enumerate(events[:5])]
    assert await publish_until_settled(ledger, renamed, DatabaseWatch()) == [True] * 5

    received = [
        event
        for event in await events_of(tenant.client, session_id, "message.received")
        if not event["id"].startswith("evt_again")
    ]
    assert sorted(event["id"] for event in received) == sorted(event.id for event in events)
    rows = await Media.filter(session_id=session_id)
    assert len(rows) == MEDIA_MESSAGES
    journaled = {event.media_row.id: event.media_row for event in events if event.media_row is not None}
    by_id = {row.id: row for row in rows}
    for event in received:
        row = by_id[event["data"]["media"]["id"]]
        assert row.tenant_id == tenant.id and row.status == MediaStatus.PENDING
        assert row.reference == journaled[row.id].reference
    await lease.release(ledger)
