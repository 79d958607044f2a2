"""Upgrading a ledger written before seqs existed: every event gets its place, and new ones follow on.

Runs on the suite's backend: a fresh SQLite file, or a throwaway database on
the suite's PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest


@pytest.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgres"):
        yield f"sqlite://{tmp_path / 'upgrade.db'}"
        return
    name = f"relay_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


UPGRADE = """
import asyncio, json, sys
from datetime import UTC, datetime
from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate
from relay.core.db import tortoise_config

async def main(url):
    config = tortoise_config(url)
    await migrate(config=config, target="models.0001_initial")
    await migrate(config=config, app_labels=["webhooks"])
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, 6))
    # Written in another order than their ids: numbering follows the ids, as paging did.
    for event_id, tenant in [("evt_3", "ten_a"), ("evt_1", "ten_a"), ("evt_2", "ten_b"), ("evt_4", "ten_a")]:
        await connection.execute_query(
            f"INSERT INTO events (id, tenant_id, type, created_at, data) VALUES ({marks})",
            [event_id, tenant, "webhook.test", datetime.now(UTC), "{}"],
        )
    await Tortoise.close_connections()
    await migrate(config=config)
    await Tortoise.init(config=config)
    connection = connections.get("default")
    _, events = await connection.execute_query("SELECT id, tenant_id, seq FROM events ORDER BY id")
    _, counters = await connection.execute_query("SELECT tenant_id, last_seq FROM tenant_sequences")
    await Tortoise.close_connections()
    print(json.dumps({"events": [list(row.values()) for row in map(dict, events)],
                      "counters": sorted(list(row.values()) for row in map(dict, counters))}))

asyncio.run(main(sys.argv[1]))
"""


async def test_existing_events_are_numbered_per_tenant_in_id_order(empty_database: str) -> None:
    """In a process of its own, as `relay migrate` runs: the test process's database stays untouched."""
    upgrade = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPGRADE, empty_database, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(upgrade.communicate(), 60)
    assert upgrade.returncode == 0
    result = json.loads(output)
    assert result["events"] == [
        ["evt_1", "ten_a", 1],
        ["evt_2", "ten_b", 1],
        ["evt_3", "ten_a", 2],
        ["evt_4", "ten_a", 3],
    ]
    assert result["counters"] == [["ten_a", 3], ["ten_b", 1]]
