"""End-to-end event pipeline benchmark: sandbox engine -> ledger -> signed webhook received.

What a user sees, measured as a user would: real ``relay serve`` and ``relay worker``
processes, sandbox sessions linked through the API, bursts of inbound messages asked
for with ``POST /v1/sessions/{id}/sandbox/inbound {"count": N}`` (the events are made by
the sandbox engine inside the worker), and a receiver on loopback that records when
each event's webhook arrives. Beside it, in the same run and against the same
database, Redis and receiver, the naive pipeline: one transaction per event (ledger
row + delivery rows), one arq job per delivery, each job loading its rows and POSTing
with a plain ``httpx.AsyncClient``.

Two phases per side and run:
1. throughput: ``--sessions`` sessions each make ``--bursts`` bursts of ``--burst``
   events at once; events/s and deliveries/s from the first request to the last arrival;
2. latency: events made at ``--rate`` per second for ``--duration`` s; event -> receipt
   p50/p99 from the envelope's ``created_at`` to its first arrival at the receiver.

Medians over ``--runs`` runs and the Relay/baseline ratios are printed. After each run,
where the CPU went during the throughput phase: each process's share of one core (web,
worker, receiver, the embedded Valkey, this database's PostgreSQL backends), the CPU
milliseconds per event they add up to, and how busy the whole machine was (other
programs included): on a shared machine that last figure says whether the pipeline or
the machine was the limit. ``--profile DIR`` runs the servers under ``py-spy record
--gil`` and leaves folded stacks in DIR. Everything listens on 127.0.0.1, every wait has
a timeout, and every loop is bounded.

    python -m bench.e2e [--runs 3] [--fanout 1] [--bursts 5 --burst 500] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.baseline import baseline_publish, create_endpoints
from bench.stack import BenchStack, cpu_seconds, machine_busy_seconds, percentile

SIDES = ("relay", "baseline")
BASELINE_DATA = {"from": "15550000000", "type": "text", "text": "hello"}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.machine_busy = 0.0
        self.breakdown = ""
        self.stack = BenchStack(
            prefix="relay-e2e-",
            database_url=args.database_url,
            redis_url=args.redis_url,
            profile_dir=args.profile,
        )

    async def stats(self) -> dict[str, Any]:
        return await self.stack.receiver_stats()

    async def arrived(self, expected: int) -> bool:
        return await self.stack.received(expected)

    # ---- the Relay side, through its public API

    async def start_relay(self) -> list[subprocess.Popen[bytes]]:
        started = [await self.stack.start_web()]
        started += [self.stack.spawn_relay("worker") for _ in range(self.args.workers)]
        return started

    async def relay_tenant(self) -> tuple[dict[str, str], list[str]]:
        """A tenant with a key, ``--fanout`` endpoints and ``--sessions`` linked sandbox sessions."""
        auth = await self.stack.tenant_key()
        for n in range(self.args.fanout):
            response = await self.stack.api.post(
                "/v1/webhooks",
                json={"url": self.stack.hook_url(n), "events": ["message.received"]},
                headers=auth,
            )
            response.raise_for_status()
        return auth, await self.stack.linked_sessions(auth, self.args.sessions)

    async def inbound(self, auth: dict[str, str], session_id: str, count: int) -> None:
        response = await self.stack.api.post(
            f"/v1/sessions/{session_id}/sandbox/inbound",
            json={"from": "15550000000", "text": "hello", "count": count},
            headers=auth,
        )
        response.raise_for_status()

    # ---- the two phases, for either side

    async def throughput(
        self, produce: Callable[[int], Awaitable[None]], producers: int, servers: dict[str, int]
    ) -> tuple[float, float, float]:
        """``producers`` at once, each ``--bursts`` x ``--burst`` events.

        Returns events/s, deliveries/s, and the CPU milliseconds per event the ``servers``
        processes used: unlike rates, that figure barely moves when other programs share the CPUs.
        Where the CPU went (each process's share of one core, and the whole machine's) is kept in
        ``self.breakdown``.
        """
        await self.stack.reset_receiver()
        events = producers * self.args.bursts * self.args.burst
        watched = {name: [pid] for name, pid in servers.items()}
        watched["receiver"] = [self.stack.receiver_pid]
        if (valkey := self.stack.valkey_pid()) is not None:
            watched["valkey"] = [valkey]
        # Backends that exist before the phase (pools are opened at start-up); same host only.
        if database := await self.stack.database_pids():
            watched["postgres"] = database
        each_before = {name: cpu_seconds(pids) for name, pids in watched.items()}
        busy_before, total_before = machine_busy_seconds()
        started = time.time()
        await asyncio.gather(*(produce(n) for n in range(producers)))
        await self.stack.wait_for(
            lambda: self.arrived(events * self.args.fanout), 600, f"{events} events received"
        )
        elapsed = max((await self.stats())["last"] - started, 1e-6)
        each = {name: cpu_seconds(pids) - each_before[name] for name, pids in watched.items()}
        cpu_ms = sum(each[name] for name in servers) * 1000 / events
        busy_after, total_after = machine_busy_seconds()
        self.machine_busy = (busy_after - busy_before) / max(total_after - total_before, 1e-6)
        wall = time.time() - started
        cores = os.cpu_count() or 1
        shares = "  ".join(f"{name} {100 * used / wall:.0f}%" for name, used in each.items())
        pipeline_ms = sum(each.values()) * 1000 / events
        self.breakdown = (
            f"CPU over the throughput phase, % of one core: {shares}"
            f" = {pipeline_ms:.2f} CPU ms/event in all;"
            f" machine {100 * self.machine_busy * cores:.0f}% of {cores * 100}%"
        )
        return events / elapsed, events * self.args.fanout / elapsed, cpu_ms

    async def latency(
        self, produce_tick: Callable[[int], Awaitable[None]], per_tick: int
    ) -> tuple[float, float, float]:
        """Events at ``--rate``/s for ``--duration`` s in 20 ms ticks.

        Returns event -> receipt p50 and p99 in ms, and the events/s achieved.
        """
        await self.stack.reset_receiver()
        tick = 0.02
        ticks = int(self.args.duration / tick)
        wall_start = time.time()
        started = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()
        for n in range(ticks):
            task = asyncio.create_task(produce_tick(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            pause = started + (n + 1) * tick - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
        await asyncio.gather(*pending)
        total = ticks * per_tick
        await self.stack.wait_for(
            lambda: self.arrived(total * self.args.fanout), 300, f"{total} events received"
        )
        stats = await self.stats()
        achieved = total / max(stats["last"] - wall_start, 1e-6)
        latencies = stats["latencies"]
        return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, achieved

    async def run_relay(self) -> dict[str, float]:
        processes = await self.start_relay()
        try:
            auth, sessions = await self.relay_tenant()
            await self.inbound(auth, sessions[0], 10)  # warm-up
            await self.stack.wait_for(lambda: self.arrived(10 * self.args.fanout), 60, "warm-up")

            async def burst(n: int) -> None:
                for _ in range(self.args.bursts):
                    await self.inbound(auth, sessions[n], self.args.burst)

            servers = {
                f"{n}:{p.args[3] if len(p.args) > 3 else p.pid}": p.pid for n, p in enumerate(processes)
            }
            events_s, deliveries_s, cpu_ms = await self.throughput(burst, len(sessions), servers)
            per_session = max(1, round(self.args.rate * 0.02 / len(sessions)))

            async def tick(_: int) -> None:
                await asyncio.gather(*(self.inbound(auth, s, per_session) for s in sessions))

            p50, p99, achieved = await self.latency(tick, per_session * len(sessions))
        finally:
            for process in processes:
                self.stack.stop(process)
        return self.figures(events_s, deliveries_s, p50, p99, achieved, cpu_ms)

    def figures(
        self, events_s: float, deliveries_s: float, p50: float, p99: float, at: float, cpu_ms: float
    ) -> dict[str, float]:
        """One side's figures for one run, as the report prints them (both sides alike)."""
        return {
            "events_s": events_s,
            "deliveries_s": deliveries_s,
            "p50": p50,
            "p99": p99,
            "at": at,
            "cpu_ms": cpu_ms,
            "busy": self.machine_busy * 100,
        }

    async def run_baseline(self) -> dict[str, float]:
        from arq import create_pool
        from arq.connections import RedisSettings

        from relay.core.db import close_database, open_database
        from relay.core.ids import new_id

        worker = self.stack.spawn(
            sys.executable, "-m", "bench.baseline", name="baseline-worker", profile=True
        )
        await open_database(self.stack.database_url)
        arq = await create_pool(RedisSettings.from_dsn(self.stack.redis_url))
        try:
            tenant_id = new_id("ten")
            urls = [self.stack.hook_url(n) for n in range(self.args.fanout)]
            endpoints = await create_endpoints(tenant_id, urls, ["message.received"])
            await self.stack.reset_receiver()
            await baseline_publish(
                arq, tenant_id, endpoints, BASELINE_DATA
            )  # warm-up: the worker is up once it arrives
            await self.stack.wait_for(lambda: self.arrived(self.args.fanout), 60, "baseline warm-up")

            async def burst(_: int) -> None:
                for _ in range(self.args.bursts * self.args.burst):
                    await baseline_publish(arq, tenant_id, endpoints, BASELINE_DATA)

            # The baseline publishes from this very process, so its CPU counts too.
            servers = {"baseline-worker": worker.pid, "bench(publisher)": os.getpid()}
            events_s, deliveries_s, cpu_ms = await self.throughput(burst, self.args.sessions, servers)
            per_tick = max(1, round(self.args.rate * 0.02 / self.args.sessions)) * self.args.sessions

            # Ticks the baseline cannot keep up with pile up; they queue here rather than on the
            # database pool, whose acquire gives up after a while on a busy machine.
            publishers = asyncio.Semaphore(self.args.sessions)

            async def tick(_: int) -> None:
                async with publishers:
                    for _ in range(per_tick):
                        await baseline_publish(arq, tenant_id, endpoints, BASELINE_DATA)

            p50, p99, achieved = await self.latency(tick, per_tick)
        finally:
            await arq.aclose()
            await close_database()
            self.stack.stop(worker)
        return self.figures(events_s, deliveries_s, p50, p99, achieved, cpu_ms)

    async def run(self) -> None:
        results: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
        failed = True
        try:  # start-up inside: a start that times out still stops what it started
            await self.stack.start()
            self.stack.install_keys_here()
            await self.stack.start_receiver()
            for run in range(1, self.args.runs + 1):
                for side in self.args.sides:
                    figures = await (self.run_relay() if side == "relay" else self.run_baseline())
                    results[side].append(figures)
                    print(f"run {run} {side:8s} {self.line(figures)}", flush=True)
                    print(f"    {self.breakdown}", flush=True)
            failed = False
        finally:
            await self.stack.close(keep=failed)
        median = {
            side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            for side, runs in results.items()
            if runs
        }
        database = self.stack.database_url.split(":")[0]
        print()
        print(
            f"medians over {self.args.runs} runs ({database}, {self.args.sessions} sessions,"
            f" {self.args.fanout} endpoint(s) per event, latency at {self.args.rate:.0f} events/s):"
        )
        for side in median:
            print(f"  {side:8s} {self.line(median[side])}")
        if len(median) < len(SIDES):
            return
        relay, baseline = median["relay"], median["baseline"]
        print(
            f"  ratio    {relay['events_s'] / baseline['events_s']:.1f}x events/s,"
            f" p99 {baseline['p99'] / relay['p99']:.1f}x lower"
        )

    @staticmethod
    def line(figures: dict[str, float]) -> str:
        return (
            f"{figures['events_s']:7.0f} events/s {figures['deliveries_s']:7.0f} deliveries/s"
            f"   event->receipt p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms"
            f" (at {figures['at']:.0f} events/s)   {figures['cpu_ms']:.2f} CPU ms/event"
            f"   machine {figures['busy']:.0f}% busy"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--burst", type=int, default=200, help="events per sandbox/inbound call")
    parser.add_argument("--bursts", type=int, default=3, help="calls per session in the throughput phase")
    parser.add_argument("--fanout", type=int, default=1, help="webhook endpoints per event")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s in the latency phase")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--sides", type=lambda text: text.split(","), default=list(SIDES), help="relay,baseline (both)"
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument("--profile", help="a directory: run the servers under py-spy, folded stacks here")
    args = parser.parse_args()
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
