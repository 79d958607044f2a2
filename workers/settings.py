"""The arq worker: webhook jobs and crons, plus the session supervisor as a long-lived task.

The supervisor is started from ``on_startup`` rather than as a job: a WhatsApp
connection lives for days, and arq jobs have timeouts, retry-on-cancel and a
bounded number of slots.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from relay.core.config import Settings
from relay.core.constants import ARQ_QUEUE
from relay.core.db import close_database, open_database
from relay.core.redis import connect_redis
from webhooks import worker as webhook_worker
from webhooks.outbox import install as install_webhook_outbox
from workers.supervisor import SessionSupervisor

log = logging.getLogger("relay.worker")

# Threads beyond one per session: neonize holds one default-executor thread per live session.
EXECUTOR_HEADROOM = 32


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=settings.worker_capacity + EXECUTOR_HEADROOM))
    await open_database(settings.database_url)
    install_webhook_outbox()
    ctx["relay_redis"] = connect_redis(settings.require_redis_url())
    supervisor = SessionSupervisor(settings, ctx["relay_redis"])
    ctx["supervisor"] = supervisor
    await supervisor.start()
    await webhook_worker.startup(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    supervisor: SessionSupervisor | None = ctx.get("supervisor")
    if supervisor is not None:
        await supervisor.shutdown()
    await webhook_worker.shutdown(ctx)
    redis = ctx.get("relay_redis")
    if redis is not None:
        await redis.aclose()
    await close_database()


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    options: dict[str, Any] = {
        "functions": list(webhook_worker.FUNCTIONS),
        "cron_jobs": list(webhook_worker.CRON_JOBS),
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
    return Worker(**options)


def run_worker(settings: Settings) -> None:
    asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    # Built inside the running loop: arq captures the loop and installs its signal handlers there.
    worker = build_worker(settings)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        log.info("worker stopping")
    finally:
        await worker.close()
