"""Webhook delivery benchmark: Relay's delivery engine vs a naive arq-job-per-delivery baseline.

Both sides run as real processes on loopback (Redis, the database, a receiver,
one worker) and deliver the same signed events to the same receiver:

- relay:    ``relay worker`` (batched list pops, leased batch claims, aiohttp, batched writes)
- baseline: an arq worker with one job per delivery that loads its rows, signs,
            POSTs with a plain ``httpx.AsyncClient`` and saves the row (arq defaults,
            except max_jobs=100 so the baseline is not starved of concurrency)

Two phases per run and side:
1. throughput: ``--events`` events x ``--fanout`` endpoints are queued with no worker
   running; a worker is started and the drain rate is measured at the receiver
   (first to last arrival);
2. latency: with the worker warm, events are published at ``--rate`` per second for
   ``--duration`` s; event -> first attempt is measured at the receiver from the
   moment ``publish_event`` was called (it includes the ledger commit).

Medians over ``--runs`` runs and the Relay/baseline ratio are printed. Bounded:
everything listens on 127.0.0.1 and every wait has a timeout.

    python -m bench.webhooks [--runs 3] [--events 2000] [--fanout 5] [--rate 200] [--duration 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.baseline import BASELINE_QUEUE, create_endpoints
from bench.stack import BenchStack


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = BenchStack(
            prefix="relay-webhooks-bench-", database_url=args.database_url, redis_url=args.redis_url
        )

    async def setup(self) -> None:
        from relay.core.db import open_database
        from relay.core.redis import connect_redis
        from webhooks.outbox import install as install_webhook_outbox

        await self.stack.start()
        self.stack.install_keys_here()
        await self.stack.start_receiver()
        await open_database(self.stack.database_url)
        install_webhook_outbox()
        self.redis = connect_redis(self.stack.redis_url)

    async def teardown(self, keep: bool = False) -> None:
        from relay.core.db import close_database

        redis = getattr(self, "redis", None)
        if redis is not None:
            await redis.aclose()
        await close_database()
        await self.stack.close(keep=keep)

    async def _wait(self, probe: Any, timeout: float, what: str) -> None:
        await self.stack.wait_for(probe, timeout, what)

    async def tenant_with_endpoints(self, fanout: int) -> str:
        from relay.core.ids import new_id

        tenant_id = new_id("ten")
        await create_endpoints(tenant_id, [self.stack.hook_url(n) for n in range(fanout)], ["*"])
        return tenant_id

    async def publish(self, side: str, tenant_id: str) -> None:
        from relay.core.enums import EventType
        from relay.core.events import publish_event
        from webhooks.models import Delivery

        if side == "relay":
            await publish_event(
                self.redis,
                tenant_id=tenant_id,
                session_id=None,
                type=EventType.MESSAGE_RECEIVED,
                data={"t": time.time(), "text": "x" * 200},
            )
            return
        envelope = await publish_event(
            None,
            tenant_id=tenant_id,
            session_id=None,
            type=EventType.MESSAGE_RECEIVED,
            data={"t": time.time(), "text": "x" * 200},
        )
        for delivery_id in await Delivery.filter(event_id=envelope["id"]).values_list("id", flat=True):
            await self.arq.enqueue_job("baseline_deliver", delivery_id, _queue_name=BASELINE_QUEUE)

    def start_worker(self, side: str) -> subprocess.Popen[bytes]:
        if side == "relay":
            return self.stack.spawn_relay("worker")
        return self.stack.spawn(sys.executable, "-m", "bench.baseline", name="baseline-worker")

    async def stats(self) -> dict[str, Any]:
        return await self.stack.receiver_stats()

    async def throughput(self, side: str) -> float:
        await self.stack.reset_receiver()
        tenant_id = await self.tenant_with_endpoints(self.args.fanout)
        publishers = 4
        per = self.args.events // publishers

        async def produce() -> None:
            for _ in range(per):
                await self.publish(side, tenant_id)

        await asyncio.gather(*[produce() for _ in range(publishers)])
        expected = per * publishers * self.args.fanout
        worker = self.start_worker(side)
        try:
            await self._wait(lambda: self._count_at_least(expected), 300, f"{side} draining {expected}")
        finally:
            self.stack.stop(worker)
        stats = await self.stats()
        return expected / max(stats["last"] - stats["first"], 1e-6)

    async def _count_at_least(self, expected: int) -> bool:
        return (await self.stats())["count"] >= expected

    async def latency(self, side: str) -> tuple[float, float, float]:
        tenant_id = await self.tenant_with_endpoints(self.args.fanout)
        worker = self.start_worker(side)
        try:
            # Warm up: the worker is ready once a first event arrives.
            await self.stack.reset_receiver()
            await self.publish(side, tenant_id)
            await self._wait(lambda: self._count_at_least(self.args.fanout), 60, f"{side} warm-up")
            await self.stack.reset_receiver()
            total = int(self.args.rate * self.args.duration)
            started = time.perf_counter()
            commits: list[float] = []
            for n in range(total):
                before = time.perf_counter()
                await self.publish(side, tenant_id)
                commits.append(time.perf_counter() - before)
                pause = started + (n + 1) / self.args.rate - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
            achieved = total / (time.perf_counter() - started)
            await self._wait(
                lambda: self._count_at_least(total * self.args.fanout), 120, f"{side} latency run"
            )
        finally:
            self.stack.stop(worker)
        latencies = sorted((await self.stats())["latencies"])
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        commits.sort()
        print(
            f"    ({side}: publish_event itself p50 {commits[len(commits) // 2] * 1000:.1f} ms,"
            f" p99 {commits[int(len(commits) * 0.99)] * 1000:.1f} ms)",
            flush=True,
        )
        return p50, p99, achieved

    async def run(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.arq: Any = None
        results: dict[str, dict[str, list[float]]] = {
            side: {"rate": [], "p50": [], "p99": [], "ev_s": []} for side in ("relay", "baseline")
        }
        failed = True
        try:  # start-up inside: a start that times out still stops what it started
            await self.setup()
            self.arq = await create_pool(RedisSettings.from_dsn(self.stack.redis_url))
            for run in range(1, self.args.runs + 1):
                for side in ("relay", "baseline"):
                    rate = await self.throughput(side)
                    p50, p99, achieved = await self.latency(side)
                    results[side]["rate"].append(rate)
                    results[side]["p50"].append(p50)
                    results[side]["p99"].append(p99)
                    results[side]["ev_s"].append(achieved)
                    print(
                        f"run {run} {side:8s} {rate:8.0f} deliveries/s   latency at "
                        f"{achieved * self.args.fanout:.0f} deliveries/s ({achieved:.0f} events/s): "
                        f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms",
                        flush=True,
                    )
            failed = False
        finally:
            if self.arq is not None:
                await self.arq.aclose()
            await self.teardown(keep=failed)
        median = {side: {k: statistics.median(v) for k, v in r.items()} for side, r in results.items()}
        print()
        print(
            f"medians over {self.args.runs} runs ({self.args.events} events x {self.args.fanout} endpoints,"
            f" database {self.stack.database_url.split(':')[0]}):"
        )
        for side in ("relay", "baseline"):
            m = median[side]
            print(
                f"  {side:8s} {m['rate']:8.0f} deliveries/s   p50 {m['p50']:7.1f} ms   p99 {m['p99']:7.1f} ms"
            )
        print(
            f"  ratio    {median['relay']['rate'] / median['baseline']['rate']:8.1f}x throughput,"
            f" p99 {median['baseline']['p99'] / median['relay']['p99']:.1f}x lower"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--fanout", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the latency phase")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    args = parser.parse_args()
    asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
