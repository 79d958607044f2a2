"""Redis is killed under a burst of inbound messages and comes back: the worker carries on.

Redis (a private Valkey with an append-only file, fsynced at every write) is killed
with SIGKILL 1 s into a burst of 600 inbound messages and started again 10 s later
on the same port and data. The database stays up, so the ledger keeps taking events
while the live feed and webhook dispatch cannot reach Redis; the deliveries it could
not announce are found again in the database once Redis is back.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relay.core.config import sqlite_url
from tests.outages.conftest import (
    BURST,
    ledger_messages,
    logs_on_failure,
    relay_on,
    scene_on,
    webhook_deliveries,
)
from tests.servers import PrivateValkey
from tests.sessions import events_of
from tests.stack import RelayStack
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.timeout(120)

OUTAGE_SECONDS = 10


@pytest.fixture
async def stack(
    private_valkey: PrivateValkey, relay_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[RelayStack]:
    # A lease outlives the outage when its TTL exceeds the outage plus the time since its last
    # renewal (a third of the TTL): 30 s does; the owner must then keep its session throughout.
    relay = relay_on(
        relay_env,
        tmp_path,
        database_url=sqlite_url(tmp_path / "relay.db"),
        redis_url=private_valkey.url,
        RELAY_LEASE_TTL="30",
    )
    try:
        yield relay
    finally:
        relay.stop_all()


async def test_redis_killed_mid_burst_loses_nothing_and_the_worker_carries_on(
    stack: RelayStack, private_valkey: PrivateValkey, receiver: Receiver
) -> None:
    """Proof nothing was lost: the ledger holds all 600 messages (600 distinct WhatsApp ids)
    and the receiver got a delivery for each, signature verified with standardwebhooks.
    Proof the worker carried on: the same process is alive, its session never restarted
    (its lease outlived the outage), and a message sent after Redis is back is delivered."""
    with logs_on_failure(stack):
        async with scene_on(stack, receiver) as scene:
            statuses_before = len(await events_of(scene.client, scene.session_id, "session.status"))
            await scene.burst("while redis was away")
            await asyncio.sleep(1)
            private_valkey.kill()
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(private_valkey.start)

            messages = await ledger_messages(scene, "while redis was away", BURST, timeout=30)
            assert len(messages) == BURST
            assert len({event["data"]["whatsapp_id"] for event in messages}) == BURST
            deliveries = await webhook_deliveries(receiver, scene.secret, "while redis was away", BURST, 40)
            assert {payload["id"] for payload in deliveries} == {event["id"] for event in messages}

            worker = stack.workers[0]
            assert worker.poll() is None, "the worker rode the outage out"
            statuses = await events_of(scene.client, scene.session_id, "session.status")
            assert statuses[statuses_before:] == [], "the session kept running with its owner"

            await scene.burst("after redis came back", count=1)
            await ledger_messages(scene, "after redis came back", 1, timeout=20)
            await webhook_deliveries(receiver, scene.secret, "after redis came back", 1, timeout=20)
            assert stack.workers == [worker] and worker.poll() is None


async def test_a_worker_told_to_stop_while_redis_is_away_exits(
    stack: RelayStack, private_valkey: PrivateValkey, receiver: Receiver
) -> None:
    """Stock arq cannot reach its on_shutdown without Redis, and the database left open kept
    the process alive forever. Proof it exits: SIGTERM with Redis gone, and the process ends on
    its own, having closed the database."""
    with logs_on_failure(stack):
        async with scene_on(stack, receiver):
            private_valkey.kill()
            worker = stack.workers[0]
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.wait, 60)
            assert code == 0
            log = worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
            assert "Tortoise-ORM shutdown" in log
