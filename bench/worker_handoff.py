"""How long a worker takes to stop on SIGTERM, and to hand its sessions to another worker.

What a container platform's stop timeout must cover (infra/terraform sets the worker task's
``stopTimeout``, docker-compose.yml its ``stop_grace_period``): real ``relay serve`` and two
``relay worker`` processes on an embedded Valkey (or ``--redis-url``) and a fresh database;
``--sessions`` sandbox sessions linked through the REST API while only worker A runs, then
worker B starts, and A gets SIGTERM. Measured from the signal:

- A's exit (arq's wait for running jobs, then each runner settling its events and releasing
  its lease);
- every session's lease held by B (read from Redis, where the leases live);
- every session ``connected`` again through the API.

    python -m bench.worker_handoff [--runs 3] [--sessions 50] [--database-url postgres://...]

Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from bench.stack import BenchStack
from relay.core.constants import session_lease_key, worker_room_key

WAIT_LIMIT_SECONDS = 120.0
POLL_SECONDS = 0.02
LINK_BATCH = 50


def lease_pid(value: bytes | None) -> int | None:
    """The pid in a lease's value (``host:pid:nonce:token``, workers/lease.py)."""
    if value is None:
        return None
    return int(value.decode().split(":")[1])


async def wait(probe: Callable[[], Awaitable[bool]], what: str) -> float:
    """Seconds until ``probe()`` is true, polled every POLL_SECONDS."""
    started = time.perf_counter()
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    while time.monotonic() < deadline:
        if await probe():
            return time.perf_counter() - started
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"timed out after {WAIT_LIMIT_SECONDS:.0f} s: {what}")


async def one_run(sessions: int, database_url: str | None, redis_url: str | None) -> dict[str, float]:
    stack = BenchStack(prefix="relay-bench-handoff-", database_url=database_url, redis_url=redis_url)
    failed = True
    try:
        await stack.start()
        await stack.start_web()
        first = stack.spawn_relay("worker")
        auth = await stack.tenant_key()
        ids: list[str] = []
        while len(ids) < sessions:  # in batches: linked_sessions gives each call 60 s
            ids += await stack.linked_sessions(auth, min(LINK_BATCH, sessions - len(ids)))
        redis = Redis.from_url(stack.redis_url)
        try:
            keys = [session_lease_key(session_id) for session_id in ids]

            async def owned_by(pid: int) -> bool:
                return all(lease_pid(value) == pid for value in await redis.mget(keys))

            await wait(lambda: owned_by(first.pid), "worker A owns every session")
            second = stack.spawn_relay("worker")

            async def second_ready() -> bool:
                rooms = [key async for key in redis.scan_iter(match=worker_room_key("*"))]
                return any(f":{second.pid}:".encode() in key for key in rooms)

            await wait(second_ready, "worker B announces its room")

            async def first_exited() -> bool:
                return first.poll() is not None

            async def all_connected() -> bool:
                for session_id in ids:
                    state = (await stack.api.get(f"/v1/sessions/{session_id}", headers=auth)).json()
                    if state["status"] != "connected":
                        return False
                return True

            first.send_signal(signal.SIGTERM)
            exit_s, moved_s = await asyncio.gather(
                wait(first_exited, "worker A exits"),
                wait(lambda: owned_by(second.pid), "B owns every session"),
            )
            connected_s = moved_s + await wait(all_connected, "every session connected on B")
            if first.returncode != 0:
                raise RuntimeError(f"worker A exited with {first.returncode}")
        finally:
            await redis.aclose()
        failed = False
        return {"exit": exit_s, "moved": moved_s, "connected": connected_s}
    finally:
        await stack.close(keep=failed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    results = []
    for run in range(1, args.runs + 1):
        result = asyncio.run(one_run(args.sessions, args.database_url, args.redis_url))
        results.append(result)
        print(
            f"run {run}: SIGTERM -> worker A exited {result['exit']:.2f} s, "
            f"every lease on B {result['moved']:.2f} s, every session connected {result['connected']:.2f} s",
            flush=True,
        )
    medians = {key: statistics.median(result[key] for result in results) for key in results[0]}
    print(
        f"median of {args.runs} runs, {args.sessions} sessions: exit {medians['exit']:.2f} s, "
        f"leases on B {medians['moved']:.2f} s, connected {medians['connected']:.2f} s"
    )


if __name__ == "__main__":
    main()
