"""An engine never waits long for the database: a media row it cannot write in time comes later.

A transaction of the test locks the media table (Postgres ``LOCK TABLE``), so the
worker's insert of the row waits on it. The message still reaches the ledger, with
its media ``pending``; once the lock goes the row is written, the file fetched and
stored, and ``message.media`` follows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.media.conftest import connected, media_event, send_media
from tests.servers import PrivatePostgres
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


async def test_a_media_row_the_database_holds_up_is_written_once_it_answers(
    relay_env: dict[str, str], tmp_path: Path, postgres: PrivatePostgres
) -> None:
    async with private_relay(relay_env, tmp_path, name="media_slow", DATABASE_URL=postgres.url) as relay:
        client = relay.tenant
        session_id = await connected(client)
        data = os.urandom(3_000)
        async with media_table_locked(postgres.url):
            sent = await send_media(client, session_id, "image", data, mimetype="image/gif")
            assert sent.media["status"] == "pending"

        stored = (await media_event(client, session_id, sent.media["id"]))["data"]["media"]
        assert stored["status"] == "stored"
        answer = await client.get(sent.media["url"])
        assert answer.status_code == 200, answer.text
        assert hashlib.sha256(answer.content).hexdigest() == hashlib.sha256(data).hexdigest()
        log = "".join(path.read_text() for path in (tmp_path / "logs").glob("*worker*"))
        assert f"media {sent.media['id']} row written later" in log
