"""Postgres dies under a burst of inbound photos and comes back: every message, row and file arrives.

As in ``test_database_outage``: a transaction of the test holds the session's row
before the burst, so nothing of it can commit before the outage, and Postgres is
stopped with ``-m immediate`` 1 s in and started again 10 s later. Each photo's
media row travels with its message through the worker's journal and is written in
the message's transaction; the eager fetch starts once that has committed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.helpers import wait_until
from tests.outages.conftest import CONTACT, Scene, ledger_messages, logs_on_failure, relay_on, scene_on
from tests.outages.test_database_outage import OUTAGE_SECONDS, session_row_held
from tests.servers import PrivatePostgres, PrivateValkey
from tests.sessions import events_of
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.timeout(150)

PHOTOS = 120


@pytest.fixture
async def stack(
    private_postgres: PrivatePostgres,
    private_valkey: PrivateValkey,
    relay_env: dict[str, str],
    tmp_path: Path,
) -> AsyncIterator[RelayStack]:
    relay = relay_on(relay_env, tmp_path, database_url=private_postgres.url, redis_url=private_valkey.url)
    try:
        yield relay
    finally:
        relay.stop_all()


async def photo_burst(scene: Scene, caption: str, data: bytes) -> list[str]:
    """``PHOTOS`` photos from one contact in one call; the sandbox answers once they are journaled."""
    body = {
        "from": CONTACT,
        "type": "image",
        "mimetype": "image/png",
        "caption": caption,
        "count": PHOTOS,
        "media": {"base64": base64.b64encode(data).decode()},
    }
    response = await scene.client.post(f"/v1/sessions/{scene.session_id}/sandbox/inbound", json=body)
    assert response.status_code == 202, response.text
    return list(response.json()["whatsapp_ids"])


def journaled_photos(data_dir: Path, caption: str) -> list[dict[str, Any]]:
    records = []
    for segment in (data_dir / "journal").glob("*/*.jsonl"):
        for line in segment.read_bytes().splitlines():
            record = json.loads(line)
            if record["type"] == "message.received" and record["data"]["text"] == caption:
                records.append(record)
    return records


async def media_rows(database_url: str, session_id: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(
            await connection.fetch("SELECT id, status, sha256 FROM media WHERE session_id = $1", session_id)
        )
    finally:
        await connection.close()


async def media_announcements(scene: Scene) -> list[dict[str, Any]] | None:
    """The session's ``message.media`` events, once there is one per photo."""
    events = await events_of(scene.client, scene.session_id, "message.media")
    return events if len(events) >= PHOTOS else None


async def test_photos_sent_while_postgres_is_down_are_all_recorded_and_stored_once(
    stack: RelayStack, private_postgres: PrivatePostgres, receiver: Receiver
) -> None:
    """Proof: while Postgres is stopped, the journal already holds all 120 messages, each with
    its media row (the engine's reports returned with nothing committed); once it is back the
    ledger holds the 120 messages once each, recorded after the restart, the media table one
    row per message with the id the message shows, and every row ends ``stored`` with the
    sha256 of the bytes sent, which the media URL serves, each announced by one ``message.media``."""
    data_dir = Path(stack.env["RELAY_DATA_DIR"])
    data = os.urandom(4_000)
    caption = "photos through the outage"
    with logs_on_failure(stack):
        async with scene_on(stack, receiver) as scene:
            async with session_row_held(private_postgres.url, scene.session_id):
                whatsapp_ids = await photo_burst(scene, caption, data)
                await asyncio.sleep(1)
                await asyncio.to_thread(private_postgres.stop, "immediate")

            journaled = journaled_photos(data_dir, caption)
            assert {record["data"]["whatsapp_id"] for record in journaled} == set(whatsapp_ids)
            assert all(record["media_row"]["id"] == record["data"]["media"]["id"] for record in journaled)
            await asyncio.sleep(OUTAGE_SECONDS)
            back_at = datetime.now(UTC)
            await asyncio.to_thread(private_postgres.start)

            messages = await ledger_messages(scene, caption, PHOTOS, timeout=60)
            assert sorted(event["data"]["whatsapp_id"] for event in messages) == sorted(whatsapp_ids)
            assert all(datetime.fromisoformat(event["created_at"]) >= back_at for event in messages)
            shown = sorted(event["data"]["media"]["id"] for event in messages)

            async def all_stored() -> list[asyncpg.Record] | None:
                rows = await media_rows(private_postgres.url, scene.session_id)
                done = len(rows) >= PHOTOS and all(row["status"] != "pending" for row in rows)
                return rows if done else None

            rows = await wait_until(all_stored, timeout=60, interval=0.5, what=f"{PHOTOS} media rows settled")
            assert sorted(row["id"] for row in rows) == shown, "one row per message, the id it shows"
            sha256 = hashlib.sha256(data).hexdigest()
            assert {(row["status"], row["sha256"]) for row in rows} == {("stored", sha256)}
            served = await scene.client.get(f"/v1/media/{shown[0]}")
            assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == sha256
            announced = await wait_until(
                lambda: media_announcements(scene), timeout=30, interval=0.5, what="message.media events"
            )
            assert sorted(event["data"]["media"]["id"] for event in announced) == shown
            assert stack.workers[0].poll() is None, "the worker rode the outage out"


async def test_photos_journaled_by_a_worker_killed_during_the_outage_get_their_rows_on_replay(
    stack: RelayStack, private_postgres: PrivatePostgres, receiver: Receiver
) -> None:
    """The worker holding the burst is SIGKILLed while Postgres is down and a new one starts.
    Proof: the dead worker's journal held the 120 messages with their rows; after the replay
    the ledger holds them once each and the media table one row per message, with the id the
    message shows; a GET of a photo fetches it through the new worker, with the right sha256."""
    data_dir = Path(stack.env["RELAY_DATA_DIR"])
    data = os.urandom(4_000)
    caption = "photos journaled"
    with logs_on_failure(stack):
        async with scene_on(stack, receiver) as scene:
            async with session_row_held(private_postgres.url, scene.session_id):
                whatsapp_ids = await photo_burst(scene, caption, data)
                await asyncio.sleep(1)
                await asyncio.to_thread(private_postgres.stop, "immediate")
            await asyncio.sleep(2)
            stack.kill(stack.workers[0], signal.SIGKILL)
            journaled = journaled_photos(data_dir, caption)
            assert {record["data"]["whatsapp_id"] for record in journaled} == set(whatsapp_ids)
            replacement = stack.start_worker()
            await asyncio.sleep(OUTAGE_SECONDS - 2)
            await asyncio.to_thread(private_postgres.start)

            messages = await ledger_messages(scene, caption, PHOTOS, timeout=60)
            assert sorted(event["data"]["whatsapp_id"] for event in messages) == sorted(whatsapp_ids)
            shown = sorted(event["data"]["media"]["id"] for event in messages)
            rows = await media_rows(private_postgres.url, scene.session_id)
            assert sorted(row["id"] for row in rows) == shown, "one row per message, the id it shows"
            served = await scene.client.get(f"/v1/media/{shown[-1]}")
            assert served.status_code == 200, served.text
            assert hashlib.sha256(served.content).hexdigest() == hashlib.sha256(data).hexdigest()
            assert journaled_photos(data_dir, caption) == []
            assert replacement.poll() is None
