"""The live feed's fan-out as a user sees it: Relay beside a bare Starlette broadcast, same run.

Relay side: real ``relay serve`` and ``relay worker`` processes (SQLite, Valkey),
one tenant with a linked sandbox session, K sockets subscribed to ``*``; a burst of
inbound messages asked for with ``POST /v1/sessions/{id}/sandbox/inbound
{"count": N}``, so each event is made by the sandbox engine in the worker, committed
to the ledger, appended to the tenant stream and fanned out by the web process.

Baseline: a bare Starlette app under the same uvicorn settings, the same K sockets
and the same client code; ``POST /burst?count=N`` makes it send N frames of the same
shape and size to every socket in a plain ``for socket in sockets: await
socket.send_text(frame)`` loop. Nothing else: no auth, no filter, no buffer.
``--sides bare,bare-writers,relay`` adds a stronger baseline, opt-in: the same app
sending the burst with one task per socket, each writing the whole burst to its
socket (Relay's writer design without anything else Relay does).

Per size and side: deliveries/s from the burst request to the last frame received,
event -> client latency (from the envelope's ``created_at``, as a client would), and
server RSS growth per open socket (RSS with every socket subscribed, minus RSS
after one warm-up socket). Every client must get every event, or the run fails.
Clients run in ``--clients`` subprocesses (the bench raises RLIMIT_NOFILE for its
own processes and the servers it starts). Medians of ``--runs`` runs are printed.

    python -m bench.ws_fanout [--sizes 500x200,2000x50,10000x10] [--runs 3]
    python -m bench.ws_fanout --profile relay-500x200.svg  # py-spy on the web process

Everything listens on 127.0.0.1, every wait has a timeout, every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.stack import BenchStack, free_port, percentile, raise_nofile_limit
from relay.core.constants import WS_MAX_FRAME_BYTES

SIDES = ("bare", "relay")
# Opt-in: the bare app writing with one task per socket instead of one loop.
BARE_WRITERS = "bare-writers"
INBOUND_TEXT = "fan-out bench"
CONNECT_CONCURRENCY = 64


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def isoformat_now() -> str:
    """What Relay puts in ``created_at``: UTC, millisecond precision."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------- the bare broadcast


def bare_frame(index: int, created_at: str) -> str:
    """An event frame of the same shape and size as Relay's for a sandbox inbound message."""
    envelope = {
        "id": "evt_" + secrets.token_hex(13),
        "seq": index + 1,
        "type": "message.received",
        "tenant_id": "ten_" + "0" * 26,
        "session_id": "ses_" + "0" * 26,
        "created_at": created_at,
        "data": {
            "whatsapp_id": "3EB0" + secrets.token_hex(8).upper(),
            "chat": "15551234567@s.whatsapp.net",
            "from": "15551234567@s.whatsapp.net",
            "from_me": False,
            "push_name": "Sandbox Contact",
            "timestamp": created_at,
            "type": "text",
            "text": INBOUND_TEXT,
            "is_group": False,
        },
    }
    return '{"type":"event","event":' + orjson.dumps(envelope).decode() + "}"


def run_bare(port: int) -> None:
    """A bare Starlette WebSocket broadcast: the floor Relay's feed is compared against."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    sockets: set[WebSocket] = set()
    background: set[asyncio.Task[None]] = set()

    async def follow(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text('{"type":"ready","tenant_id":"ten_bare"}')
        await websocket.receive_text()  # the subscribe frame
        await websocket.send_text('{"type":"subscribed","session_id":"*"}')
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def broadcast(count: int, *, writers: bool) -> None:
        # The whole burst exists at once, as when the sandbox engine makes N inbound messages:
        # an event's latency includes the wait behind the events before it, on both sides.
        created_at = isoformat_now()
        frames = [bare_frame(index, created_at) for index in range(count)]
        if writers:
            await asyncio.gather(*(write_all(websocket, frames) for websocket in list(sockets)))
            return
        for frame in frames:
            for websocket in list(sockets):
                try:
                    await websocket.send_text(frame)
                except (WebSocketDisconnect, RuntimeError, OSError):
                    sockets.discard(websocket)

    async def write_all(websocket: WebSocket, frames: list[str]) -> None:
        try:
            for frame in frames:
                await websocket.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            sockets.discard(websocket)

    async def burst(request: Request) -> PlainTextResponse:
        count = int(request.query_params["count"])
        task = asyncio.create_task(broadcast(count, writers=request.query_params.get("writers") == "1"))
        background.add(task)
        task.add_done_callback(background.discard)
        return PlainTextResponse("ok", status_code=202)

    async def ready(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/readyz", ready),
            Route("/burst", burst, methods=["POST"]),
            WebSocketRoute("/ws", follow),
        ]
    )
    # The settings ``relay serve`` uses, so the two sides differ only in the app.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_size=WS_MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        ws="websockets-sansio",
    )


# --------------------------------------------------------------------------- client processes


async def run_client(url: str, sockets: int, events: int, timeout: float) -> None:
    """Open ``sockets`` feed sockets, say ``ready``, wait for ``go``, then collect ``events`` each.

    Talks to the driver over stdin/stdout, one JSON line each way per step.
    """
    import websockets

    latencies: list[float] = []
    last_at = 0.0
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connections: list[Any] = []

    async def open_one() -> None:
        async with gate:
            ws = await websockets.connect(url, proxy=None, max_size=None, open_timeout=120, compression=None)
            assert orjson.loads(await ws.recv())["type"] == "ready"
            await ws.send('{"type":"subscribe","session_id":"*"}')
            while orjson.loads(await ws.recv())["type"] != "subscribed":
                pass
            connections.append(ws)

    async def collect(ws: Any) -> int:
        nonlocal last_at
        got = 0
        while got < events:
            frame = orjson.loads(await ws.recv())
            now = time.time()
            event = frame.get("event")
            if frame["type"] != "event" or event["type"] != "message.received":
                continue
            if event["data"].get("text") != INBOUND_TEXT:
                continue
            created = datetime.fromisoformat(event["created_at"]).timestamp()
            latencies.append(now - created)
            last_at = max(last_at, now)
            got += 1
        return got

    loop = asyncio.get_running_loop()
    await asyncio.wait_for(asyncio.gather(*(open_one() for _ in range(sockets))), timeout)
    print(orjson.dumps({"ready": len(connections)}).decode(), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    try:
        done = await asyncio.wait_for(asyncio.gather(*(collect(ws) for ws in connections)), timeout)
        complete = sum(done)
    except TimeoutError:
        complete = -1
    print(orjson.dumps({"received": len(latencies), "complete": complete, "last_at": last_at}).decode())
    print(orjson.dumps({"latencies": latencies}).decode(), flush=True)
    for ws in connections:
        ws.transport.abort()


# --------------------------------------------------------------------------- driver


class Bench:
    """The fan-out measurements on one ``BenchStack``: a fresh web process (Relay's or the bare app)
    per measurement, the worker and the linked sandbox session kept across them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = BenchStack(
            prefix="relay-ws-bench-",
            database_url=os.environ.get("DATABASE_URL"),
            redis_url=os.environ.get("REDIS_URL"),
            raise_nofile=True,
        )
        self.tmp = self.stack.tmp
        self.api_key = ""
        self.session_id = ""

    # ---- the shared Relay stack: Valkey, database, worker, one tenant with a linked sandbox session

    async def start_stack(self) -> None:
        await self.stack.start()
        self.stack.spawn_relay("worker")
        web = await self.stack.start_web()
        auth = await self.stack.tenant_key()
        self.api_key = auth["Authorization"].removeprefix("Bearer ")
        [self.session_id] = await self.stack.linked_sessions(auth, 1)
        self.stack.retire(web)  # each measurement gets a fresh web process

    async def start_relay_web(self) -> tuple[int, subprocess.Popen[bytes]]:
        return self.stack.port, await self.stack.start_web()

    async def start_bare(self) -> tuple[int, subprocess.Popen[bytes]]:
        port = free_port()
        code = f"from bench.ws_fanout import run_bare; run_bare({port})"
        server = self.stack.spawn(sys.executable, "-c", code, name="bare-web")
        await self.stack.wait_http_ok(f"http://127.0.0.1:{port}/readyz", 60, "the bare app")
        return port, server

    # ---- one measurement

    async def measure(self, side: str, sockets: int, events: int) -> dict[str, float]:
        port, server = await (self.start_relay_web() if side == "relay" else self.start_bare())
        base = f"http://127.0.0.1:{port}"
        url = (
            f"ws://127.0.0.1:{port}/v1/ws?token={self.api_key}"
            if side == "relay"
            else f"ws://127.0.0.1:{port}/ws"
        )
        try:
            await self.run_clients(url, 1, 1, trigger=None)  # warm-up: first-connection imports and caches
            rss_before = rss_kib(server.pid)
            result = await self.run_clients(
                url, sockets, events, trigger=lambda: self.trigger(side, base, events), server=server
            )
            result["kib_per_socket"] = (result.pop("rss_open") - rss_before) / sockets
            return result
        finally:
            self.stack.retire(server)

    async def trigger(self, side: str, base: str, events: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            if side != "relay":
                params = {"count": events, "writers": int(side == BARE_WRITERS)}
                (await client.post("/burst", params=params)).raise_for_status()
                return
            headers = {"Authorization": f"Bearer {self.api_key}"}
            body = {"from": "15551234567", "text": INBOUND_TEXT, "count": events}
            path = f"/v1/sessions/{self.session_id}/sandbox/inbound"
            (await client.post(path, json=body, headers=headers)).raise_for_status()

    async def run_clients(
        self,
        url: str,
        sockets: int,
        events: int,
        *,
        trigger: Callable[[], Awaitable[None]] | None,
        server: subprocess.Popen[bytes] | None = None,
    ) -> dict[str, float]:
        count = min(self.args.clients, sockets)
        shares = [sockets // count + (1 if index < sockets % count else 0) for index in range(count)]
        timeout = self.args.timeout
        clients = [
            self.stack.spawn(
                sys.executable,
                "-m",
                "bench.ws_fanout",
                "--client",
                url,
                str(share),
                str(events),
                str(timeout),
                name="client",
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for share in shares
        ]
        loop = asyncio.get_running_loop()

        async def line(process: subprocess.Popen[bytes]) -> Any:
            assert process.stdout is not None
            raw = await asyncio.wait_for(loop.run_in_executor(None, process.stdout.readline), timeout + 30)
            if not raw:
                raise RuntimeError(f"a client exited early (logs in {self.tmp})")
            return orjson.loads(raw)

        try:
            for process in clients:
                await line(process)  # ready
            rss_open = rss_kib(server.pid) if server is not None else 0
            started = time.time()
            for process in clients:
                assert process.stdin is not None
                process.stdin.write(b"go\n")
                process.stdin.flush()
            if trigger is None:
                return {}
            await trigger()
            summaries = [await line(process) for process in clients]
            latencies = sorted([lat for process in clients for lat in (await line(process))["latencies"]])
        finally:
            for process in clients:
                self.stack.retire(process)
        if any(summary["complete"] < 0 for summary in summaries) or len(latencies) != sockets * events:
            raise RuntimeError(
                f"{len(latencies)} of {sockets * events} deliveries arrived (logs in {self.tmp})"
            )
        finished = max(summary["last_at"] for summary in summaries)
        return {
            "rate": len(latencies) / (finished - started),
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "rss_open": rss_open,
        }

    async def profile(self, output: str, sockets: int, events: int) -> None:
        """py-spy on the web process for the whole burst, written as a flame graph."""
        port, server = await self.start_relay_web()
        url = f"ws://127.0.0.1:{port}/v1/ws?token={self.api_key}"
        base = f"http://127.0.0.1:{port}"
        spies: list[subprocess.Popen[bytes]] = []
        try:
            await self.run_clients(url, 1, 1, trigger=None)

            async def traced_burst() -> None:
                spies.append(self.stack.attach_profiler(server.pid, output))
                await asyncio.sleep(1.0)
                await self.trigger("relay", base, events)

            await self.run_clients(url, sockets, events, trigger=traced_burst, server=server)
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
        finally:
            self.stack.retire(server)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        sockets, _, events = item.partition("x")
        sizes.append((int(sockets), int(events)))
    return sizes


def report(sockets: int, events: int, runs: dict[str, list[dict[str, float]]]) -> None:
    """Medians per side, and Relay's ratios to the bare broadcast when both were measured."""
    median = {
        side: {key: statistics.median(run[key] for run in results) for key in results[0]}
        for side, results in runs.items()
        if results
    }
    print(f"{sockets} sockets x {events} events:")
    for side, m in median.items():
        print(
            f"  {side:12} {m['rate']:>9,.0f} deliveries/s  p50 {m['p50_ms']:6.0f} ms  "
            f"p99 {m['p99_ms']:6.0f} ms  {m['kib_per_socket']:5.1f} KiB/socket"
        )
    relay = median.get("relay")
    for baseline in ("bare", BARE_WRITERS):
        bare = median.get(baseline)
        if relay is None or bare is None:
            continue
        print(
            f"  relay/{baseline}: rate {relay['rate'] / bare['rate']:.2f}x  "
            f"p99 {relay['p99_ms'] / bare['p99_ms']:.2f}x  "
            f"memory {relay['kib_per_socket'] / bare['kib_per_socket']:.2f}x",
            flush=True,
        )


async def drive(args: argparse.Namespace) -> None:
    bench = Bench(args)
    failed = True
    try:
        await bench.start_stack()
        if args.profile:
            [(sockets, events)] = parse_sizes(args.sizes)[:1]
            await bench.profile(args.profile, sockets, events)
            print(f"profile written to {args.profile}")
            failed = False
            return
        print(
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
            f"{args.clients} client processes, {args.runs} runs per size (medians)"
        )
        for sockets, events in parse_sizes(args.sizes):
            runs: dict[str, list[dict[str, float]]] = {side: [] for side in args.sides.split(",")}
            for run in range(args.runs):
                for side in args.sides.split(","):
                    result = await bench.measure(side, sockets, events)
                    runs[side].append(result)
                    print(
                        f"  run {run + 1} {side:12} {sockets}x{events}: {result['rate']:,.0f}/s "
                        f"p50 {result['p50_ms']:.0f} ms p99 {result['p99_ms']:.0f} ms "
                        f"{result['kib_per_socket']:.1f} KiB/socket",
                        flush=True,
                    )
            report(sockets, events, runs)
        failed = False
    finally:
        await bench.stack.close(keep=failed)


def main() -> None:
    raise_nofile_limit()
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        url, sockets, events, timeout = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        import uvloop

        uvloop.run(run_client(url, sockets, events, timeout))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="500x200,2000x50,10000x10", help="SOCKETSxEVENTS,...")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sides", default=",".join(SIDES), help=f"any of bare,relay,{BARE_WRITERS}")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--timeout", type=float, default=240.0, help="bound on every wait, seconds")
    parser.add_argument("--profile", help="write a py-spy profile of the web process (first size, one run)")
    asyncio.run(drive(parser.parse_args()))


if __name__ == "__main__":
    main()
