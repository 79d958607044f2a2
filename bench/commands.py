"""The command path, end to end: one REST call that the session's worker must answer.

Two calls make Relay's web process wait for a worker:
- ``POST /v1/sessions/{id}/sandbox/inbound`` without ``count`` (one inbound message:
  web -> command stream -> worker -> engine -> ledger -> reply -> web);
- ``POST /v1/sessions/{id}/messages`` (the message row, the ``send`` command, the
  engine's send, ``message.sent`` in the ledger, the reply).
Beside them, in the same run and against the same processes, the baseline: the bare
web process answering a trivial authenticated route (``GET /v1/sessions/{id}``:
token check and one read, no worker involved), so the ratio shows what the command
path adds to any REST call.

Real ``relay serve`` and ``relay worker`` processes, one linked sandbox session, and
for each route ``--calls`` calls made by ``--concurrency`` clients at once (each
client waits for its answer before the next call); calls/s over the phase,
p50/p99 per call, and the CPU time the web and the worker process spent per call
(read from /proc: it moves far less than latency when other work shares the
machine). Medians over ``--runs`` runs. With ``--profile DIR`` the web and worker
processes run under ``py-spy record`` (no CPU column then) and their folded stacks
land in DIR. Everything listens on 127.0.0.1 and every wait has a timeout.

    python -m bench.commands [--runs 3] [--calls 1000] [--concurrency 1,16] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.stack import BenchStack, cpu_seconds, percentile

ROUTES = ("baseline", "inbound", "messages")
DESCRIPTIONS = {
    "baseline": "GET  /v1/sessions/{id}",
    "inbound": "POST /v1/sessions/{id}/sandbox/inbound",
    "messages": "POST /v1/sessions/{id}/messages",
}


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = BenchStack(
            prefix="relay-commands-",
            database_url=args.database_url,
            redis_url=args.redis_url,
            profile_dir=args.profile,
        )
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> httpx.AsyncClient:
        return self.stack.api

    async def setup(self) -> None:
        await self.stack.start()
        self.worker = self.stack.spawn_relay("worker")
        self.web = await self.stack.start_web()

    async def linked_session(self) -> tuple[dict[str, str], str]:
        """A tenant's API key and one connected sandbox session."""
        auth = await self.stack.tenant_key()
        [session_id] = await self.stack.linked_sessions(auth, 1)
        return auth, session_id

    # ---- one call of each route; each must get the answer that proves the worker answered

    def caller(self, route: str, auth: dict[str, str], session_id: str) -> Callable[[], Awaitable[None]]:
        base = f"/v1/sessions/{session_id}"

        async def baseline() -> None:
            response = await self.api.get(base, headers=auth)
            if response.status_code != 200:
                raise RuntimeError(f"baseline: {response.status_code} {response.text}")

        async def inbound() -> None:
            body = {"from": "15550000000", "text": "hello"}
            response = await self.api.post(f"{base}/sandbox/inbound", json=body, headers=auth)
            # 202 with the message's id only when the worker answered in time.
            if response.status_code != 202 or not response.json().get("whatsapp_ids"):
                raise RuntimeError(f"inbound: {response.status_code} {response.text}")

        async def messages() -> None:
            body = {"to": "15550000000", "type": "text", "text": "hi"}
            response = await self.api.post(f"{base}/messages", json=body, headers=auth)
            # 201 only when the worker answered with the outcome in time (202 means it did not).
            if response.status_code != 201:
                raise RuntimeError(f"messages: {response.status_code} {response.text}")

        return {"baseline": baseline, "inbound": inbound, "messages": messages}[route]

    async def phase(self, call: Callable[[], Awaitable[None]], concurrency: int) -> dict[str, float]:
        """``--calls`` calls by ``concurrency`` clients; calls/s and per-call p50/p99 in ms."""
        latencies: list[float] = []
        per_client = max(1, self.args.calls // concurrency)

        async def client() -> None:
            for _ in range(per_client):
                started = time.perf_counter()
                await call()
                latencies.append(time.perf_counter() - started)

        for _ in range(min(20, per_client)):  # warm-up: connections, prepared statements, caches
            await call()
        cpu_before = self.cpu_seconds()
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(client() for _ in range(concurrency))), 600)
        elapsed = time.perf_counter() - started
        web_cpu, worker_cpu = (
            after - before for after, before in zip(self.cpu_seconds(), cpu_before, strict=True)
        )
        return {
            "calls_s": len(latencies) / elapsed,
            "p50": percentile(latencies, 0.5) * 1000,
            "p99": percentile(latencies, 0.99) * 1000,
            "web_cpu": web_cpu / len(latencies) * 1000,
            "worker_cpu": worker_cpu / len(latencies) * 1000,
        }

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU seconds of the web and the worker so far (0 under py-spy)."""
        if self.args.profile or self.web is None or self.worker is None:
            return 0.0, 0.0
        return cpu_seconds([self.web.pid]), cpu_seconds([self.worker.pid])

    @property
    def routes(self) -> list[str]:
        return [route for route in ROUTES if route in self.args.routes.split(",")]

    async def run(self) -> None:
        levels = [int(level) for level in self.args.concurrency.split(",")]
        results: dict[tuple[int, str], list[dict[str, float]]] = {}
        failed = True
        try:  # start-up inside: a start that times out still stops what it started
            await self.setup()
            auth, session_id = await self.linked_session()
            for run in range(1, self.args.runs + 1):
                for concurrency in levels:
                    for route in self.routes:
                        figures = await self.phase(self.caller(route, auth, session_id), concurrency)
                        results.setdefault((concurrency, route), []).append(figures)
                        print(f"run {run} x{concurrency:<3d} {route:8s} {self.line(figures)}", flush=True)
            failed = False
        finally:
            await self.stack.close(keep=failed)
        database = self.stack.database_url.split(":")[0]
        print(f"\nmedians over {self.args.runs} runs ({database}, {self.args.calls} calls per phase):")
        for concurrency in levels:
            median = {
                route: {
                    k: statistics.median(r[k] for r in results[(concurrency, route)])
                    for k in ("calls_s", "p50", "p99", "web_cpu", "worker_cpu")
                }
                for route in self.routes
            }
            base = median.get("baseline")
            for route in self.routes:
                ratio = (
                    ""
                    if route == "baseline" or base is None
                    else f"  ({base['calls_s'] / median[route]['calls_s']:.1f}x the baseline's time)"
                )
                print(f"  x{concurrency:<3d} {DESCRIPTIONS[route]:42s} {self.line(median[route])}{ratio}")

    @staticmethod
    def line(figures: dict[str, float]) -> str:
        return (
            f"{figures['calls_s']:7.0f} calls/s   p50 {figures['p50']:6.2f} ms  p99 {figures['p99']:6.2f} ms"
            f"   CPU/call web {figures['web_cpu']:5.2f} ms  worker {figures['worker_cpu']:5.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1000, help="calls per route and concurrency level")
    parser.add_argument("--concurrency", default="1,16", help="clients at once, comma-separated levels")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument("--routes", default=",".join(ROUTES), help="which of baseline,inbound,messages")
    parser.add_argument("--profile", help="a directory: run web and worker under py-spy, folded stacks here")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
