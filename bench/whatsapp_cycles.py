"""WhatsApp client lifecycles against the real Go core, offline: engine hosts vs the core in process.

Every client really dials: each session carries its own proxy (``EngineContext.proxy``, as
the API stores it), a loopback HTTP proxy (``tests/proxies.py``) that records
``CONNECT web.whatsapp.com:443`` and refuses it, so each lifecycle is
start → one call into the Go core → refused dial → ``reconnecting`` → stop.

1. **hosts** (what Relay does): ``RemoteEngine`` s on an ``EngineHostPool`` with the
   default limits, this process acting as the worker; open fds and RSS of the whole
   tree (this process and its ``relay engine-host`` children) every 100 lifecycles.
2. **in process** (the baseline, Relay before engine hosts): ``WhatsAppEngine`` s in
   this process, the same churn; fds and RSS of this process.
3. **memory**: RSS of an empty host, and per started client while 50 clients are
   held mid-dial (a proxy that accepts CONNECT and never answers);
4. **round trip**: one call answered by an idle host, what each report adds before its ack.

    python -m bench.whatsapp_cycles [--runs 3] [--cycles 1000] [--baseline-cycles 300] [--parallel 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.core.config import Settings
from tests.proxies import RefusingProxy
from workers.engines.base import EngineContext
from workers.engines.host.channel import HostChannel
from workers.engines.host.pool import EngineHostPool
from workers.engines.host.remote import RemoteEngine
from workers.engines.host.resources import process_usage
from workers.engines.host.wire import Op


class Reporter:
    def __init__(self) -> None:
        self.statuses: list[str] = []
        self.changed = asyncio.Event()

    async def status(self, status: str, reason: str | None = None, **_: Any) -> None:
        self.statuses.append(str(status))
        self.changed.set()

    async def qr(self, code: str, expires_at: datetime) -> None: ...

    async def pair_code(self, code: str) -> None: ...

    async def message_received(self, data: dict[str, Any]) -> None: ...

    async def message_ack(self, data: dict[str, Any]) -> None: ...

    async def group_event(self, type: Any, data: dict[str, Any]) -> None: ...

    async def synced(self, count: int) -> None: ...

    async def flush(self) -> bool:
        return True

    async def wait_for(self, status: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while status not in self.statuses:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))


def settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url="sqlite://:memory:",
        redis_url=None,
        jwt_secret="x" * 48,
        proxy_allow_private=True,  # the sessions' proxy is on loopback
        **overrides,
    )


def context(base: Settings, proxy: str) -> EngineContext:
    return EngineContext(
        session_id="bench_" + uuid.uuid4().hex[:10],
        tenant_id="bench",
        name="bench",
        phone=None,
        jid=None,
        data_dir=base.data_dir,
        settings=base,
        proxy=proxy,
    )


def tree(hosts: list[HostChannel]) -> tuple[int, float]:
    """Open fds and RSS (MB) of this process and the hosts."""
    fds, rss = 0, 0
    for pid in [os.getpid(), *(host.pid for host in hosts)]:
        usage = process_usage(pid)
        if usage is not None:
            fds += usage.fds
            rss += usage.rss_bytes
    return fds, rss / 2**20


async def churn(cycles: int, parallel: int, make_engine: Callable[[Reporter], Any], sample: Any) -> None:
    """``cycles`` lifecycles, ``parallel`` at a time; ``sample(done)`` after every 100."""
    done = 0

    async def one() -> None:
        nonlocal done
        reporter = Reporter()
        engine = make_engine(reporter)
        task = asyncio.create_task(engine.run())
        await reporter.wait_for("reconnecting")
        await engine.stop()
        await asyncio.wait_for(task, 60)
        done += 1
        if done % 100 == 0:
            sample(done)

    async def lane(count: int) -> None:
        for _ in range(count):
            await one()

    share, rest = divmod(cycles, parallel)
    await asyncio.gather(*(lane(share + (1 if i < rest else 0)) for i in range(parallel)))
    if done % 100:
        sample(done)


async def run_hosts(data_dir: Path, cycles: int, parallel: int, proxy: str) -> dict[str, Any]:
    base = settings(data_dir)
    pool = EngineHostPool(base)
    rows: list[tuple[int, int, float, int]] = []
    try:
        # Warm up: one host started, its pools at their high-water mark.
        await churn(
            parallel, parallel, lambda r: RemoteEngine(context(base, proxy), r, pool=pool), lambda _: None
        )
        fds0, rss0 = tree(pool.hosts)
        rows.append((0, fds0, rss0, len(pool.hosts)))
        started = time.monotonic()
        await churn(
            cycles,
            parallel,
            lambda r: RemoteEngine(context(base, proxy), r, pool=pool),
            lambda n: rows.append((n, *tree(pool.hosts), len(pool.hosts))),
        )
        elapsed = time.monotonic() - started
        return {"rows": rows, "elapsed": elapsed, "retired": pool.retired, "started": pool.started}
    finally:
        await pool.close()


async def run_in_process(data_dir: Path, cycles: int, parallel: int, proxy: str) -> dict[str, Any]:
    from workers.engines.whatsapp import WhatsAppEngine
    from workers.engines.whatsapp.backoff import ReconnectPolicy

    base = settings(data_dir)
    policy = ReconnectPolicy(initial=3600, preflight=False)

    def engine(reporter: Reporter) -> Any:
        return WhatsAppEngine(context(base, proxy), reporter, policy=policy)

    rows: list[tuple[int, int, float, int]] = []
    await churn(parallel, parallel, engine, lambda _: None)
    rows.append((0, *tree([]), 0))
    started = time.monotonic()
    await churn(cycles, parallel, engine, lambda n: rows.append((n, *tree([]), 0)))
    return {"rows": rows, "elapsed": time.monotonic() - started}


class _Nobody:
    """A placeholder session that only starts a host (nothing is ever reported to it)."""

    def on_report(self, host: HostChannel, frame: dict[str, Any]) -> None: ...

    def on_connected(self, host: HostChannel, connected: bool) -> None: ...

    async def move(self, host: HostChannel, why: str) -> None: ...


async def memory(data_dir: Path, clients: int) -> tuple[float, float]:
    """(RSS MB of an empty host, RSS MB per client held mid-dial)."""
    base = settings(data_dir, engine_host_sessions=clients + 1)
    pool = EngineHostPool(base)
    async with RefusingProxy(hold=True) as holding:
        try:
            host = await pool.attach("empty", _Nobody())  # neonize and the Go runtime loaded, no client
            pool.detach(host, "empty")
            await asyncio.sleep(2)
            empty = process_usage(host.pid)
            engines = [
                RemoteEngine(context(base, holding.url()), Reporter(), pool=pool) for _ in range(clients)
            ]
            tasks = [asyncio.create_task(engine.run()) for engine in engines]
            await holding.wait_for_connects(clients)
            await asyncio.sleep(2)
            full = process_usage(host.pid)
            # A client stuck mid-dial takes a minute to stop (the Go core waits for the dial):
            # the bench ends the host instead.
            stops = [asyncio.create_task(engine.stop()) for engine in engines]
            await asyncio.sleep(0.2)
            os.kill(host.pid, signal.SIGKILL)
            await asyncio.gather(*stops, *tasks)
        finally:
            await pool.close()
    assert empty is not None and full is not None
    return empty.rss_bytes / 2**20, (full.rss_bytes - empty.rss_bytes) / 2**20 / clients


async def round_trip(data_dir: Path, calls: int = 2000) -> tuple[float, float]:
    """(median, p99) µs of one call answered by an idle host: what each report adds before its ack."""
    pool = EngineHostPool(settings(data_dir))
    try:
        host = await pool.attach("empty", _Nobody())
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            await host.call(Op.STATS)
            times.append(time.perf_counter() - started)
    finally:
        await pool.close()
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99)] * 1e6


def show(title: str, result: dict[str, Any]) -> tuple[int, float]:
    rows = result["rows"]
    print(f"\n{title}: {rows[-1][0]} lifecycles in {result['elapsed']:.1f}s")
    print(f"{'lifecycles':>10}{'open fds':>10}{'RSS MB':>9}{'hosts':>7}")
    for done, fds, rss, hosts in rows:
        print(f"{done:>10}{fds:>10}{rss:>9.0f}{hosts:>7}")
    # Through hosts the curve is a sawtooth (a host is replaced every few hundred connects):
    # its peak is what a machine must have room for.
    peak = max(r[1] for r in rows) - rows[0][1], max(r[2] for r in rows) - rows[0][2]
    end = rows[-1][1] - rows[0][1], rows[-1][2] - rows[0][2]
    print(
        f"growth at the end: {end[0]:+d} fds, {end[1]:+.0f} MB; "
        f"at the peak: {peak[0]:+d} fds, {peak[1]:+.0f} MB"
    )
    return peak


async def main(runs: int, cycles: int, baseline_cycles: int, parallel: int) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=parallel + 32))
    print(f"{datetime.now():%Y-%m-%d %H:%M}  {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    hosts: list[tuple[int, float]] = []
    empties, per_client = [], []
    trips: list[tuple[float, float]] = []
    async with RefusingProxy() as refusing:
        for run in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                result = await run_hosts(Path(tmp), cycles, parallel, refusing.url())
                hosts.append(show(f"run {run + 1}, engine hosts", result))
                rtt = await round_trip(Path(tmp))
                trips.append(rtt)
                print(f"pipe round trip: median {rtt[0]:.0f} µs, p99 {rtt[1]:.0f} µs")
                empty, client = await memory(Path(tmp), 50)
                empties.append(empty)
                per_client.append(client)
                print(f"empty host {empty:.0f} MB; {client:.2f} MB per client held mid-dial (50 clients)")
        # Last: the in-process baseline leaks into this very process.
        with tempfile.TemporaryDirectory() as tmp:
            base_growth = show(
                "baseline, Go core in process",
                await run_in_process(Path(tmp), baseline_cycles, parallel, refusing.url()),
            )
    fds = statistics.median(g[0] for g in hosts)
    rss = statistics.median(g[1] for g in hosts)
    per_fds = base_growth[0] / baseline_cycles
    per_mb = base_growth[1] / baseline_cycles
    print(
        f"\nmedians of {runs} runs, {cycles} lifecycles through hosts, "
        f"peak growth: {fds:+.0f} fds, {rss:+.0f} MB"
    )
    print(
        f"baseline in process: {per_fds:.2f} fds and {per_mb * 1024:.0f} KB per lifecycle, i.e. at "
        f"{cycles} lifecycles {per_fds * cycles:+.0f} fds, {per_mb * cycles:+.0f} MB "
        f"({per_fds * cycles / max(fds, 1):.1f}x the fds, {per_mb * cycles / max(rss, 1):.1f}x the MB "
        "of the hosts' peak)"
    )
    print(
        f"empty host {statistics.median(empties):.0f} MB, "
        f"{statistics.median(per_client):.2f} MB per started client (medians)"
    )
    print(
        f"pipe round trip: median {statistics.median(t[0] for t in trips):.0f} µs, "
        f"p99 {statistics.median(t[1] for t in trips):.0f} µs (medians)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--baseline-cycles", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=10)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.cycles, args.baseline_cycles, args.parallel)))
