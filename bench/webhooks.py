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

    python bench/webhooks.py [--runs 3] [--events 2000] [--fanout 5] [--rate 200] [--duration 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and its name would shadow
# the ``webhooks`` package; the repository root must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

BASELINE_QUEUE = "bench:baseline"


# --------------------------------------------------------------------------- receiver process


def run_receiver(port: int) -> None:
    """Counts deliveries and records event -> arrival latency for each event's first arrival."""
    import uvloop
    from aiohttp import web

    arrivals: list[float] = []
    latencies: list[float] = []
    seen: set[tuple[str, str]] = set()

    async def hook(request: web.Request) -> web.Response:
        now = time.time()
        body = orjson.loads(await request.read())
        key = (request.path, body["id"])
        if key not in seen:
            seen.add(key)
            arrivals.append(now)
            latencies.append(now - body["data"]["t"])
        return web.Response(text="ok")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "count": len(arrivals),
                "first": min(arrivals, default=0),
                "last": max(arrivals, default=0),
                "latencies": latencies,
            }
        )

    async def reset(_: web.Request) -> web.Response:
        arrivals.clear(), latencies.clear(), seen.clear()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook/{n}", hook)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --------------------------------------------------------------------------- baseline worker


async def baseline_deliver(ctx: dict[str, Any], delivery_id: str) -> None:
    """The obvious implementation: one job, three reads, one POST, one write."""
    from relay.core.enums import DeliveryStatus
    from relay.core.events import envelope_of
    from relay.core.models import Event
    from webhooks.models import Delivery, WebhookEndpoint
    from webhooks.signing import WebhookSigner

    delivery = await Delivery.get(id=delivery_id)
    event = await Event.get(id=delivery.event_id)
    endpoint = await WebhookEndpoint.get(id=delivery.endpoint_id)
    body = orjson.dumps(envelope_of(event))
    headers = WebhookSigner([endpoint.secret]).headers(event.id, int(time.time()), body)
    started = time.perf_counter()
    response = await ctx["client"].post(
        endpoint.url, content=body, headers={**headers, "content-type": "application/json"}
    )
    delivery.attempts += 1
    delivery.status = DeliveryStatus.SUCCEEDED if response.is_success else DeliveryStatus.PENDING
    delivery.last_status_code = response.status_code
    delivery.attempt_log = [
        *delivery.attempt_log,
        {"status_code": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000)},
    ]
    await delivery.save()


def run_baseline_worker() -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    from relay.core.db import close_database, open_database

    async def startup(ctx: dict[str, Any]) -> None:
        await open_database(os.environ["DATABASE_URL"])
        ctx["client"] = httpx.AsyncClient(timeout=15)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["client"].aclose()
        await close_database()

    async def main() -> None:
        worker = Worker(
            functions=[baseline_deliver],
            redis_settings=RedisSettings.from_dsn(os.environ["REDIS_URL"]),
            queue_name=BASELINE_QUEUE,
            on_startup=startup,
            on_shutdown=shutdown,
            max_jobs=100,
        )
        try:
            await worker.async_run()
        finally:
            await worker.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- driver


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from tests.stack import free_port

        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="relay-webhooks-bench-"))
        self.redis_port = free_port()
        self.receiver_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = args.database_url or f"sqlite://{self.tmp / 'relay.db'}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RELAY_")},
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url,
            "RELAY_DATA_DIR": str(self.tmp / "data"),
            "RELAY_WEBHOOK_ALLOW_PRIVATE": "true",
            "RELAY_LOG_LEVEL": "warning",
            "PYTHONPATH": str(ROOT),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{len(self.processes):02d}.log").open("wb")
        process = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    async def setup(self) -> None:
        from relay.core.db import apply_migrations, open_database
        from relay.core.redis import connect_redis
        from webhooks.outbox import install as install_webhook_outbox

        redis_server = shutil.which("redis-server") or shutil.which("valkey-server")
        if redis_server is None:
            raise SystemExit("needs redis-server or valkey-server on PATH")
        self.spawn(
            redis_server,
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        )
        self.spawn(sys.executable, __file__, "receiver", "--port", str(self.receiver_port))
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.receiver_port}", timeout=10)
        await self._wait(lambda: self._receiver_up(), 15, "receiver")
        await apply_migrations(self.database_url)
        await open_database(self.database_url)
        install_webhook_outbox()
        self.redis = connect_redis(self.redis_url)
        await self._wait(lambda: self.redis.ping(), 15, "redis")

    async def teardown(self, keep: bool = False) -> None:
        from relay.core.db import close_database

        for process in reversed(self.processes):
            self.stop(process)
        await self.http.aclose()
        await self.redis.aclose()
        await close_database()
        if keep:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _receiver_up(self) -> bool:
        try:
            return (await self.http.get("/stats")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _wait(self, probe: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if await probe():
                    return
            except Exception:
                pass
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{what} not ready after {timeout}s (logs in {self.tmp})")

    async def tenant_with_endpoints(self, fanout: int) -> str:
        from relay.core.ids import new_id
        from webhooks.models import WebhookEndpoint
        from webhooks.signing import generate_secret

        tenant_id = new_id("ten")
        for n in range(fanout):
            await WebhookEndpoint.create(
                id=WebhookEndpoint.make_id(),
                tenant_id=tenant_id,
                url=f"http://127.0.0.1:{self.receiver_port}/hook/{n}",
                events=["*"],
                secret=generate_secret(),
            )
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
            return self.spawn(sys.executable, "-m", "relay", "worker")
        return self.spawn(sys.executable, __file__, "baseline-worker")

    async def stats(self) -> dict[str, Any]:
        return (await self.http.get("/stats")).json()  # type: ignore[no-any-return]

    async def throughput(self, side: str) -> float:
        await self.http.post("/reset")
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
            self.stop(worker)
        stats = await self.stats()
        return expected / max(stats["last"] - stats["first"], 1e-6)

    async def _count_at_least(self, expected: int) -> bool:
        return (await self.stats())["count"] >= expected

    async def latency(self, side: str) -> tuple[float, float, float]:
        tenant_id = await self.tenant_with_endpoints(self.args.fanout)
        worker = self.start_worker(side)
        try:
            # Warm up: the worker is ready once a first event arrives.
            await self.http.post("/reset")
            await self.publish(side, tenant_id)
            await self._wait(lambda: self._count_at_least(self.args.fanout), 60, f"{side} warm-up")
            await self.http.post("/reset")
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
            self.stop(worker)
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

        await self.setup()
        self.arq = await create_pool(RedisSettings.from_dsn(self.redis_url))
        results: dict[str, dict[str, list[float]]] = {
            side: {"rate": [], "p50": [], "p99": [], "ev_s": []} for side in ("relay", "baseline")
        }
        failed = True
        try:
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
            await self.arq.aclose()
            await self.teardown(keep=failed)
        median = {side: {k: statistics.median(v) for k, v in r.items()} for side, r in results.items()}
        print()
        print(
            f"medians over {self.args.runs} runs ({self.args.events} events x {self.args.fanout} endpoints,"
            f" database {self.database_url.split(':')[0]}):"
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
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "receiver", "baseline-worker"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--fanout", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the latency phase")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if args.role == "receiver":
        run_receiver(args.port)
    elif args.role == "baseline-worker":
        run_baseline_worker()
    else:
        asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
