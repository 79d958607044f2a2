"""100 start/stop cycles of the real WhatsApp engine against the real Go core, offline.

Each cycle: run() → the core fails to dial → ``reconnecting`` → stop() → run() returns.
Prints Python threads, OS threads, RSS and open file descriptors before and after, and
(with ``--minute``) how many connect attempts one offline session makes in 60 s with the
default reconnect policy.

    python bench/whatsapp_cycles.py [--cycles 100] [--minute]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.core.config import Settings
from workers.engines.base import EngineContext
from workers.engines.whatsapp import WhatsAppEngine
from workers.engines.whatsapp.backoff import ReconnectPolicy


class Reporter:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, str | None]] = []
        self.changed = asyncio.Event()

    async def status(self, status: str, reason: str | None = None, **_: Any) -> None:
        self.statuses.append((status, reason))
        self.changed.set()

    async def qr(self, code: str, expires_at: datetime) -> None: ...

    async def pair_code(self, code: str) -> None: ...

    async def message_received(self, data: dict[str, Any]) -> None: ...

    async def message_ack(self, data: dict[str, Any]) -> None: ...


def proc_status(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def snapshot() -> dict[str, int]:
    return {
        "python_threads": threading.active_count(),
        "os_threads": proc_status("Threads"),
        "rss_kib": proc_status("VmRSS"),
        "open_fds": len(os.listdir("/proc/self/fd")),
    }


def context(data_dir: Path) -> EngineContext:
    settings = Settings(
        data_dir=data_dir, database_url="sqlite://:memory:", redis_url=None, jwt_secret="x" * 48
    )
    return EngineContext(
        session_id="bench_" + uuid.uuid4().hex[:8],
        tenant_id="bench",
        name="bench",
        phone=None,
        jid=None,
        data_dir=data_dir,
        settings=settings,
    )


async def cycle(data_dir: Path, policy: ReconnectPolicy) -> None:
    reporter = Reporter()
    engine = WhatsAppEngine(context(data_dir), reporter, policy=policy)
    task = asyncio.create_task(engine.run())
    while not any(status == "reconnecting" for status, _ in reporter.statuses):
        reporter.changed.clear()
        await asyncio.wait_for(reporter.changed.wait(), 10)
    await engine.stop()
    await asyncio.wait_for(task, 10)


async def attempts_in_a_minute(data_dir: Path) -> tuple[int, int]:
    engine = WhatsAppEngine(context(data_dir), Reporter())
    task = asyncio.create_task(engine.run())
    await asyncio.sleep(60)
    await engine.stop()
    await task
    return engine.connect_attempts, engine.core_attempts


async def main(cycles: int, minute: bool) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))
    policy = ReconnectPolicy(preflight=False)  # every cycle really calls into the Go core
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        await cycle(data_dir, policy)  # warm-up: executor thread, Go runtime threads
        before = snapshot()
        started = time.monotonic()
        for _ in range(cycles):
            await cycle(data_dir, policy)
        elapsed = time.monotonic() - started
        after = snapshot()
        print(f"{cycles} start/stop cycles in {elapsed:.1f}s ({elapsed / cycles * 1000:.0f} ms each)")
        print(f"{'':16}{'before':>10}{'after':>10}{'delta':>10}")
        for key in before:
            print(f"{key:16}{before[key]:>10}{after[key]:>10}{after[key] - before[key]:>+10}")
        if minute:
            tries, core = await attempts_in_a_minute(data_dir)
            print(f"default policy, 60 s offline: {tries} connect attempts, {core} of them into the Go core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--minute", action="store_true", help="also count attempts in 60 s offline")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.cycles, arguments.minute))
