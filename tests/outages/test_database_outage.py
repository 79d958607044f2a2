"""Postgres dies under a burst of inbound messages and comes back: nothing is lost.

The burst is caught in flight on purpose: before it starts, a transaction of the
test takes the session's row (``SELECT ... FOR UPDATE``), so every group the worker
tries to commit waits on it, and the outage kills them along with that transaction.
So every one of the 600 messages has to get through the outage, however fast the
machine. Postgres is stopped with ``-m immediate`` (a crash, to its clients) 1 s into
the burst and started again 10 s later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

from tests.outages.conftest import (
    BURST,
    Scene,
    ledger_messages,
    logs_on_failure,
    relay_on,
    scene_on,
    webhook_deliveries,
)
from tests.servers import PrivatePostgres, PrivateValkey
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.timeout(120)

OUTAGE_SECONDS = 10


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


@contextlib.asynccontextmanager
async def session_row_held(database_url: str, session_id: str) -> AsyncIterator[None]:
    """Nothing of the session commits while this is open (the outage closes it for us)."""
    connection = await asyncpg.connect(database_url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", session_id)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await connection.close()


async def assert_all_delivered_once(scene: Scene, receiver: Receiver, text: str, back_at: datetime) -> None:
    messages = await ledger_messages(scene, text, BURST, timeout=40)
    whatsapp_ids = {event["data"]["whatsapp_id"] for event in messages}
    assert len(messages) == BURST and len(whatsapp_ids) == BURST
    # All of them went through the outage: recorded once Postgres was back, none before.
    assert all(datetime.fromisoformat(event["created_at"]) >= back_at for event in messages)

    deliveries = await webhook_deliveries(receiver, scene.secret, text, BURST, timeout=40)
    assert {payload["id"] for payload in deliveries} == {event["id"] for event in messages}
    assert len(deliveries) - BURST <= 1, f"{len(deliveries) - BURST} duplicate deliveries"


async def test_postgres_stopped_mid_burst_loses_no_message(
    stack: RelayStack, private_postgres: PrivatePostgres, receiver: Receiver
) -> None:
    """Proof nothing was lost: the ledger holds all 600 messages exactly once (600 distinct
    WhatsApp ids), each recorded after Postgres came back, and the receiver got a delivery
    for each of them, signature verified with standardwebhooks, with at most one duplicate."""
    with logs_on_failure(stack):
        async with scene_on(stack, receiver) as scene:
            async with session_row_held(private_postgres.url, scene.session_id):
                await scene.burst("through the outage")
                await asyncio.sleep(1)
                await asyncio.to_thread(private_postgres.stop, "immediate")
            await asyncio.sleep(OUTAGE_SECONDS)
            back_at = datetime.now(UTC)
            await asyncio.to_thread(private_postgres.start)

            await assert_all_delivered_once(scene, receiver, "through the outage", back_at)
            assert stack.workers[0].poll() is None, "the worker rode the outage out"


def journaled_messages(data_dir: Path, text: str) -> int:
    count = 0
    for segment in (data_dir / "journal").glob("*/*.jsonl"):
        for line in segment.read_bytes().splitlines():
            record = json.loads(line)
            count += record["type"] == "message.received" and record["data"]["text"] == text
    return count


async def test_worker_killed_during_the_outage_delivers_its_journal_after_restart(
    stack: RelayStack, private_postgres: PrivatePostgres, receiver: Receiver
) -> None:
    """The worker holding the burst is SIGKILLed while Postgres is down; a new `relay worker`
    starts, still during the outage. Proof nothing was lost: the dead worker's journal held
    all 600 messages when it died; once Postgres is back the new worker replays them under
    the dead worker's lease token (its log says so) and deletes that journal; the ledger
    holds all 600 exactly once and the receiver got each, verified, at most one duplicate."""
    data_dir = Path(stack.env["RELAY_DATA_DIR"])
    with logs_on_failure(stack):
        async with scene_on(stack, receiver) as scene:
            async with session_row_held(private_postgres.url, scene.session_id):
                await scene.burst("journaled")
                await asyncio.sleep(1)
                await asyncio.to_thread(private_postgres.stop, "immediate")
            await asyncio.sleep(2)
            stack.kill(stack.workers[0], signal.SIGKILL)
            assert journaled_messages(data_dir, "journaled") == BURST
            replacement = stack.start_worker()
            await asyncio.sleep(OUTAGE_SECONDS - 2)
            back_at = datetime.now(UTC)
            await asyncio.to_thread(private_postgres.start)

            await assert_all_delivered_once(scene, receiver, "journaled", back_at)
            log = replacement.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
            assert f"session {scene.session_id}: {BURST} journaled event(s) replayed" in log
            assert journaled_messages(data_dir, "journaled") == 0
            assert replacement.poll() is None
