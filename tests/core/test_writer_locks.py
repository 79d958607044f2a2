"""A writer that hangs while it holds a tenant's seq counter stalls the others only for a while.

PostgreSQL only (SQLite has no row locks: its one writer at a time waits on the
file, bounded by its busy timeout), on a throwaway cluster of the test's own so
it runs in the default suite too.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

from tests.servers import PrivatePostgres

STUCK_COUNTER = """
import asyncio, sys
import asyncpg
from relay.core.db import apply_migrations, open_database
from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from webhooks import outbox

def event(tenant_id):
    return NewEvent(tenant_id=tenant_id, session_id=None, type=EventType.WEBHOOK_TEST, data={})

async def outcome(tenant_id):
    try:
        [envelope] = await publish_events(None, [event(tenant_id)])
    except Exception as exc:
        return type(exc).__name__
    return f"seq {envelope['seq']}"

async def main(url):
    await apply_migrations(url)
    await open_database(url)
    outbox.install()
    # Another writer took ten_stuck's counter in its transaction, then hung.
    holder = await asyncpg.connect(url)
    await holder.execute("BEGIN")
    await holder.execute("INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ('ten_stuck', 0)")
    print(await outcome("ten_stuck"), flush=True)
    print(await outcome("ten_free"), flush=True)
    await holder.execute("ROLLBACK")
    print(await outcome("ten_stuck"), flush=True)
    await holder.close()

asyncio.run(main(sys.argv[1]))
"""


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.destroy()


async def test_a_hung_holder_of_a_tenant_counter_makes_its_tenants_writes_fail_not_hang(
    postgres: PrivatePostgres,
) -> None:
    """The blocked write fails after the lock timeout (nothing written, the caller may retry),
    other tenants write meanwhile, and the tenant writes again once the holder is gone, from seq 1:
    the refused write left no hole."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STUCK_COUNTER, postgres.url, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert output.decode().splitlines() == ["LockNotAvailableError", "seq 1", "seq 1"]
