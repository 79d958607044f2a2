"""The arq worker: webhook jobs and crons, plus the session supervisor as a long-lived task.

The supervisor is started from ``on_startup`` rather than as a job: a WhatsApp
connection lives for days, and arq jobs have timeouts, retry-on-cancel and a
bounded number of slots.

Neither Redis nor the database going away ends the process: arq's poll loop
waits Redis out (``OutageTolerantWorker``), and the supervisor, the runners and
the webhook deliverer wait for whichever is missing. A worker that does stop
(a signal) closes the database on every path, whatever Redis says meanwhile:
an open aiosqlite thread would keep the interpreter from ever exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker
from redis.exceptions import RedisError

from relay.core.config import Settings
from relay.core.constants import ARQ_QUEUE
from relay.core.db import close_database, open_database
from relay.core.events import finish_publishing
from relay.core.redis import connect_redis
from webhooks import worker as webhook_worker
from webhooks.outbox import install as install_webhook_outbox
from workers import media_sweeper
from workers.engines.host.pool import close_engine_hosts
from workers.metrics_server import WorkerMetricsServer
from workers.supervisor import SessionSupervisor

log = logging.getLogger("relay.worker")

# Threads beyond one per session (WhatsApp clients hold theirs in their engine hosts now; the
# headroom stays for the sandbox and the database calls).
EXECUTOR_HEADROOM = 32
# While Redis is away, arq's poll loop (and a worker starting without Redis) retries after these pauses.
REDIS_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
# A stopping worker waits this long for its last events' feed appends and webhook hand-offs.
FINISH_PUBLISHING_SECONDS = 10.0


class OutageTolerantWorker(Worker):
    """arq's worker, except that a poll failing because Redis is unreachable waits and polls again.

    Stock arq lets the ``ConnectionError`` end its main task, after which the
    worker neither works nor exits.
    """

    _failing_since: float | None = None
    _failures = 0

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.warning("redis unavailable (%s); the worker waits for it", exc)
            await asyncio.sleep(REDIS_RETRY_DELAYS[min(self._failures, len(REDIS_RETRY_DELAYS) - 1)])
            self._failures += 1
            return
        if self._failing_since is not None:
            log.info("redis is back after %.1fs", time.monotonic() - self._failing_since)
            self._failing_since, self._failures = None, 0


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=settings.worker_capacity + EXECUTOR_HEADROOM))
    await open_database(settings.database_url)
    install_webhook_outbox()
    ctx["relay_redis"] = connect_redis(settings.require_redis_url())
    supervisor = SessionSupervisor(settings, ctx["relay_redis"])
    ctx["supervisor"] = supervisor
    ctx["database_watch"] = supervisor.watch
    ctx["metrics_server"] = WorkerMetricsServer(
        settings, lambda: [runner.status for runner in supervisor.runners.values()]
    )
    await ctx["metrics_server"].start()
    await supervisor.start()
    await webhook_worker.startup(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Stop everything started in ``startup``; runs once even if called again (see ``_run``)."""
    if ctx.get("relay_closed"):
        return
    ctx["relay_closed"] = True
    try:
        supervisor: SessionSupervisor | None = ctx.get("supervisor")
        if supervisor is not None:
            await supervisor.shutdown()
        await close_engine_hosts()
        await webhook_worker.shutdown(ctx)
        metrics_server: WorkerMetricsServer | None = ctx.get("metrics_server")
        if metrics_server is not None:
            await metrics_server.stop()
        # Events are answered at their commit and handed to Redis in the background: send the
        # last hand-offs before the client closes (and the loop ends, which would cancel them).
        # Bounded: with Redis away they are lost anyway, and the ledger has the events.
        try:
            async with asyncio.timeout(FINISH_PUBLISHING_SECONDS):
                await finish_publishing()
        except TimeoutError:
            log.warning("stopping before the last events' feed appends and hand-offs were sent")
        redis = ctx.get("relay_redis")
        if redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await redis.aclose()
    finally:
        await close_database()


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    options: dict[str, Any] = {
        "functions": list(webhook_worker.FUNCTIONS),
        "cron_jobs": [*webhook_worker.CRON_JOBS, *media_sweeper.CRON_JOBS],
        "redis_settings": RedisSettings.from_dsn(settings.require_redis_url()),
        "queue_name": ARQ_QUEUE,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings},
        "max_jobs": 200,
        "poll_delay": 0.05,
        "job_timeout": 120,
        "keep_result": 0,
        "health_check_interval": 30,
        "job_completion_wait": 10,
    }
    options.update(overrides)
    return OutageTolerantWorker(**options)


def run_worker(settings: Settings) -> None:
    # uvloop (installed with uvicorn[standard], which the web process runs on too): the worker is
    # mostly socket writes and task switches (webhook POSTs, Redis, the database), which uvloop
    # does in C; measured in bench/README.md ("e2e.py").
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform without uvloop
        asyncio.run(_run(settings))
        return
    uvloop.run(_run(settings))


async def _run(settings: Settings) -> None:
    await _wait_for_redis(settings.require_redis_url())
    # Built inside the running loop: arq captures the loop and installs its signal handlers there.
    worker = build_worker(settings)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        log.info("worker stopping")
    finally:
        try:
            await worker.close()
        except (RedisError, OSError) as exc:
            # arq talks to Redis before it calls on_shutdown; without Redis it never gets there.
            log.warning("closing arq without redis (%s)", exc)
        finally:
            await shutdown(worker.ctx)


async def _wait_for_redis(url: str) -> None:
    """A worker started while Redis is away waits for it instead of exiting."""
    client = connect_redis(url, max_connections=1)
    try:
        for attempt in itertools.count():
            try:
                await client.ping()
                return
            except (RedisError, OSError) as exc:
                if attempt == 0:
                    log.warning("redis unavailable (%s); the worker starts once it answers", exc)
                await asyncio.sleep(REDIS_RETRY_DELAYS[min(attempt, len(REDIS_RETRY_DELAYS) - 1)])
    finally:
        await client.aclose()
