"""An engine never waits for the database: a media message is journaled with its row, then committed.

A transaction of the test locks the media table (Postgres ``LOCK TABLE``), so the
worker's transaction that writes the message and its media row waits on it. The
sandbox answers ``sandbox/inbound`` once its engine's report returned, which is once
the message is in the worker's journal; at that moment the journal holds the event
with its media row, and the ledger has neither. Once the lock goes both commit
together, the file is fetched and stored, and ``message.media`` follows.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.media.conftest import CONTACT, connected, media_event
from tests.servers import PrivatePostgres
from tests.sessions import events_of
from tests.workers.private_stack import private_relay


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()  # skips, saying why, where initdb is not installed
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.destroy()


@contextlib.asynccontextmanager
async def media_table_locked(database_url: str) -> AsyncIterator[None]:
    connection = await asyncpg.connect(database_url)
    try:
        async with connection.transaction():
            await connection.execute("LOCK TABLE media IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await connection.close()


def journaled_media_messages(data_dir: Path) -> list[dict[str, Any]]:
    """The ``message.received`` records with a media row in the worker's journal, as written."""
    records = []
    for segment in (data_dir / "journal").glob("*/*.jsonl"):
        for line in segment.read_bytes().splitlines():
            record = json.loads(line)
            if record["type"] == "message.received" and "media_row" in record:
                records.append(record)
    return records


async def test_a_media_message_is_journaled_with_its_row_before_the_database_takes_either(
    relay_env: dict[str, str], tmp_path: Path, postgres: PrivatePostgres
) -> None:
    async with private_relay(relay_env, tmp_path, name="media_slow", DATABASE_URL=postgres.url) as relay:
        client = relay.tenant
        session_id = await connected(client)
        data = os.urandom(3_000)
        body = {
            "from": CONTACT,
            "type": "image",
            "mimetype": "image/gif",
            "media": {"base64": base64.b64encode(data).decode()},
        }
        async with media_table_locked(postgres.url):
            answer = await client.post(f"/v1/sessions/{session_id}/sandbox/inbound", json=body)
            assert answer.status_code == 202, answer.text
            (whatsapp_id,) = answer.json()["whatsapp_ids"]
            # The engine's report has returned: the message is journaled, with its row ...
            (record,) = journaled_media_messages(tmp_path / "data")
            assert record["data"]["whatsapp_id"] == whatsapp_id
            row = record["media_row"]
            assert row["id"] == record["data"]["media"]["id"] and row["status"] == "pending"
            assert row["reference"], "what the engine needs to fetch the bytes is journaled"
            # ... and neither the event nor the row is committed: they wait for the database together.
            received = await events_of(client, session_id, "message.received")
            assert [e for e in received if e["data"]["whatsapp_id"] == whatsapp_id] == []

        stored = (await media_event(client, session_id, row["id"]))["data"]["media"]
        assert stored["status"] == "stored"
        (event,) = [
            e
            for e in await events_of(client, session_id, "message.received")
            if e["data"]["whatsapp_id"] == whatsapp_id
        ]
        assert event["data"]["media"]["id"] == row["id"]
        file = await client.get(stored["url"])
        assert file.status_code == 200, file.text
        assert hashlib.sha256(file.content).hexdigest() == hashlib.sha256(data).hexdigest()
