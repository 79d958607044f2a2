"""Credential stores against the real Go core: a SQLite file per session, or shared Postgres.

whatsmeow creates its schema on the first connect attempt (before it dials WhatsApp), so
an offline attempt is enough to get a real store; a linked device is then a row we write
with the shapes whatsmeow's schema demands.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines.conftest import RecordingReporter, make_context
from workers.engines.base import EngineContext, NotConnected
from workers.engines.whatsapp import WhatsAppEngine
from workers.engines.whatsapp.backoff import ReconnectPolicy

LINKED_JID = "15550100001:7@s.whatsapp.net"
OFFLINE = ReconnectPolicy(preflight=False, initial=5, jitter=0)
DEVICE_ROW = {
    "jid": LINKED_JID,
    "registration_id": 1,
    "noise_key": b"n" * 32,
    "identity_key": b"i" * 32,
    "signed_pre_key": b"s" * 32,
    "signed_pre_key_id": 1,
    "signed_pre_key_sig": b"g" * 64,
    "adv_key": b"a" * 32,
    "adv_details": b"",
    "adv_account_sig": b"c" * 64,
    "adv_account_sig_key": b"k" * 32,
    "adv_device_sig": b"d" * 64,
}


def insert_device_sql(placeholders: list[str]) -> str:
    return f"INSERT INTO whatsmeow_device ({', '.join(DEVICE_ROW)}) VALUES ({', '.join(placeholders)})"


async def dial_once(context: EngineContext) -> RecordingReporter:
    """One offline run of the real engine: the core opens the store, then fails to dial."""
    reporter = RecordingReporter()
    engine = WhatsAppEngine(context, reporter, policy=OFFLINE)
    task = asyncio.create_task(engine.run())
    await reporter.wait_for(lambda r: "reconnecting" in r.statuses(), timeout=15)
    await engine.stop()
    await asyncio.wait_for(task, 10)
    return reporter


def sqlite_devices(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT jid FROM whatsmeow_device")]


async def linked_sqlite_store(context: EngineContext) -> Path:
    await dial_once(context)  # an unlinked session: the core creates an empty store
    path = context.data_dir / "whatsapp" / f"{context.session_id}.db"
    with sqlite3.connect(path) as db:
        db.execute(insert_device_sql(["?"] * len(DEVICE_ROW)), list(DEVICE_ROW.values()))
    return path


async def test_an_unlinked_session_starts_from_a_clean_store(tmp_path: Path) -> None:
    context = make_context(tmp_path)
    path = await linked_sqlite_store(context)
    await dial_once(context)  # jid is None: the user logged out or never paired
    assert sqlite_devices(path) == []


async def test_a_linked_session_resumes_from_its_store(tmp_path: Path) -> None:
    unlinked = make_context(tmp_path)
    path = await linked_sqlite_store(unlinked)
    linked = dataclasses.replace(unlinked, jid=LINKED_JID, phone="15550100001")
    reporter = await dial_once(linked)
    assert sqlite_devices(path) == [LINKED_JID]
    assert "failed to dial" in reporter.of("status")[-1]["reason"]
    assert not reporter.of("qr")


async def test_logout_of_a_stopped_session_tries_to_reach_whatsapp_then_says_why_not(
    tmp_path: Path,
) -> None:
    context = make_context(tmp_path)
    path = await linked_sqlite_store(context)
    engine = WhatsAppEngine(context, RecordingReporter(), policy=OFFLINE)
    with pytest.raises(NotConnected, match="could not reach WhatsApp to unlink the device: failed to dial"):
        await engine.logout()
    await engine.erase_credentials()
    assert not path.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def whatsmeow_postgres() -> Iterator[str]:
    """$RELAY_TEST_WHATSAPP_STORE, or a throwaway local cluster when Postgres is installed."""
    url = os.environ.get("RELAY_TEST_WHATSAPP_STORE")
    if url:
        yield url
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("no Postgres server binaries (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if not shutil.which("runuser") or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a 'postgres' user for the throwaway cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="relay-wa-pg-"))
    if as_user:
        shutil.chown(root, user="postgres")
    data, port = root / "data", _free_port()
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "relay"], check=True, capture_output=True
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgres://relay@127.0.0.1:{port}/postgres?sslmode=disable"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


async def test_a_shared_postgres_store_is_created_by_whatsmeow_and_erased_by_jid(
    tmp_path: Path, whatsmeow_postgres: str
) -> None:
    import asyncpg

    unlinked = make_context(tmp_path, whatsapp_store=whatsmeow_postgres)
    reporter = await dial_once(unlinked)
    # The core reached WhatsApp's dial only after creating its schema in Postgres.
    assert "failed to dial" in reporter.of("status")[-1]["reason"]
    assert not (tmp_path / "whatsapp").exists()  # no SQLite file on the side

    connection = await asyncpg.connect(whatsmeow_postgres)
    try:
        await connection.execute("DELETE FROM whatsmeow_device")
        placeholders = [f"${n}" for n in range(1, len(DEVICE_ROW) + 1)]
        await connection.execute(insert_device_sql(placeholders), *DEVICE_ROW.values())
        await connection.execute(
            "INSERT INTO whatsmeow_pre_keys (jid, key_id, key, uploaded) VALUES ($1, 1, $2, false)",
            LINKED_JID,
            b"p" * 32,
        )
        linked = dataclasses.replace(unlinked, jid=LINKED_JID, phone="15550100001")
        resumed = await dial_once(linked)  # resumes by JID: the device is found, then the dial fails
        assert "failed to dial" in resumed.of("status")[-1]["reason"] and not resumed.of("qr")

        await WhatsAppEngine(linked, RecordingReporter()).erase_credentials()
        assert await connection.fetchval("SELECT count(*) FROM whatsmeow_device") == 0
        assert await connection.fetchval("SELECT count(*) FROM whatsmeow_pre_keys") == 0
    finally:
        await connection.close()
