"""How long the web's /metrics and GET /v1/stats take as the tables grow.

Both read their cluster-wide figures from the database on every call (sessions by status,
pending webhook deliveries and the oldest one's age, and for /v1/stats endpoints and today's
messages). This fills the tables straight from this process (bulk inserts, spread over 100
tenants), starts one web process, and times sequential calls::

    python -m bench.metrics_scrape --sessions 10000 --pending 100000
    python -m bench.metrics_scrape --database-url postgres://postgres@127.0.0.1:5432/bench

Prints one line per endpoint: calls, p50 and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from bench.stack import BenchStack, percentile
from relay.core.db import close_database, open_database
from relay.core.enums import DeliveryStatus, SessionStatus
from relay.core.ids import new_id
from relay.core.models import Session
from webhooks.models import Delivery

TENANTS = 100
INSERT_BATCH = 1_000


async def fill(database_url: str, sessions: int, pending: int) -> None:
    await open_database(database_url)
    try:
        tenants = [new_id("ten") for _ in range(TENANTS)]
        statuses = itertools.cycle(list(SessionStatus))
        rows = [
            Session(id=Session.make_id(), tenant_id=tenants[i % TENANTS], name=f"s{i}", engine="sandbox",
                    status=next(statuses))
            for i in range(sessions)
        ]  # fmt: skip
        await Session.bulk_create(rows, batch_size=INSERT_BATCH)
        deliveries = [
            Delivery(id=new_id("dlv"), tenant_id=tenants[i % TENANTS], endpoint_id=new_id("whk"),
                     event_id=new_id("evt"), status=DeliveryStatus.PENDING)
            for i in range(pending)
        ]  # fmt: skip
        await Delivery.bulk_create(deliveries, batch_size=INSERT_BATCH)
    finally:
        await close_database()


async def time_calls(stack: BenchStack, path: str, calls: int, headers: dict[str, str]) -> list[float]:
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        response = await stack.api.get(path, headers=headers)
        durations.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return durations


async def run(sessions: int, pending: int, calls: int, database_url: str | None) -> None:
    stack = BenchStack(prefix="relay-metrics-", database_url=database_url, redis_url=None)
    ok = False
    try:
        await stack.start()
        started = time.perf_counter()
        await fill(stack.database_url, sessions, pending)
        filled_in = time.perf_counter() - started
        print(f"filled {sessions} sessions and {pending} pending deliveries in {filled_in:.1f} s")
        await stack.start_web()
        admin = {"Authorization": f"Bearer {stack.env['RELAY_ADMIN_TOKEN']}"}
        tenant = await stack.tenant_key()
        for name, path, headers in (
            ("/metrics", "/metrics", {}),
            ("/v1/stats (admin: every tenant)", "/v1/stats", admin),
            ("/v1/stats (one tenant)", "/v1/stats", tenant),
        ):
            await time_calls(stack, path, 3, headers)  # warm up: connections, caches
            durations = await time_calls(stack, path, calls, headers)
            print(
                f"{name}: {calls} calls, p50 {percentile(durations, 0.5):.1f} ms, "
                f"p99 {percentile(durations, 0.99):.1f} ms"
            )
        ok = True
    finally:
        await stack.close(keep=not ok)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument(
        "--database-url", default=None, help="Postgres (dropped and recreated); SQLite if unset"
    )
    args = parser.parse_args()
    asyncio.run(run(args.sessions, args.pending, args.calls, args.database_url))


if __name__ == "__main__":
    main()
