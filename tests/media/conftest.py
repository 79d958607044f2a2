"""Inbound media end to end: a Relay of its own per media configuration, files sent by the sandbox.

Each stack is ``tests.workers.private_stack``'s: its own Valkey, database, web and
worker, with the ``RELAY_MEDIA_*`` (and, for S3, ``AWS_*``) variables of the test.
The S3 store is moto's server mode on a loopback port, started as a subprocess.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of
from tests.stack import free_port, wait_http_ok
from tests.webhooks.conftest import ledger  # noqa: F401  (the real engine's story reports to the ledger)

CONTACT = "15550100077"
MOTO_BUCKET = "relay-media"


@dataclass
class SentMedia:
    """A file a sandbox contact sent, and the ``message.received`` event that announced it."""

    data: bytes
    received: dict[str, Any]

    @property
    def media(self) -> dict[str, Any]:
        return self.received["data"]["media"]  # type: ignore[no-any-return]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


async def send_media(
    client: httpx.AsyncClient, session_id: str, kind: str, data: bytes, **fields: Any
) -> SentMedia:
    """A sandbox contact sends ``data``; returns once its ``message.received`` is in the ledger."""
    body = {"from": CONTACT, "type": kind, "media": {"base64": base64.b64encode(data).decode()}, **fields}
    response = await client.post(f"/v1/sessions/{session_id}/sandbox/inbound", json=body)
    assert response.status_code == 202, response.text
    (whatsapp_id,) = response.json()["whatsapp_ids"]

    async def received() -> dict[str, Any] | None:
        events = await events_of(client, session_id, "message.received")
        return next((e for e in events if e["data"]["whatsapp_id"] == whatsapp_id), None)

    return SentMedia(data, await wait_until(received, what="message.received"))


async def media_event(client: httpx.AsyncClient, session_id: str, media_id: str) -> dict[str, Any]:
    """The ``message.media`` event of ``media_id``, once it is in the ledger."""

    async def found() -> dict[str, Any] | None:
        events = await events_of(client, session_id, "message.media")
        return next((e for e in events if e["data"]["media"]["id"] == media_id), None)

    return await wait_until(found, timeout=20, what=f"message.media for {media_id}")


async def age_media(database_url: str, media_id: str) -> None:
    """Make a media row look a year old, as the retention sweeper will find it."""
    query = "UPDATE media SET created_at = '2000-01-01 00:00:00+00:00' WHERE id = {}"
    if database_url.startswith("sqlite://"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite://"))) as db, db:
            db.execute(query.format("?"), [media_id])
        return
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE media SET created_at = '2000-01-01 00:00:00+00' WHERE id = $1", media_id
        )
    finally:
        await connection.close()


class MotoServer:
    """moto's S3 in server mode on a loopback port, as this interpreter's ``python -m moto.server``."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (again, on the same port: empty, as moto keeps nothing) with the media bucket."""
        with (self._log_dir / "moto.log").open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_http_ok(f"{self.endpoint}/moto-api/data.json", self._process)
        self.client().create_bucket(Bucket=MOTO_BUCKET)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=20)

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables an S3 media store reads, pointed at this server."""
        return {
            "AWS_ACCESS_KEY_ID": "relay-test",
            "AWS_SECRET_ACCESS_KEY": "relay-test-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> Any:
        import boto3

        env = self.aws_env()
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def connected(client: httpx.AsyncClient) -> str:
    return str((await connected_sandbox_session(client, "media"))["id"])


def stored_file(data_dir: Path, tenant_id: str, media_id: str) -> Path:
    """Where the default file store keeps a media file (``RELAY_DATA_DIR``/media/<tenant>/<media>)."""
    return data_dir / "media" / tenant_id / media_id
