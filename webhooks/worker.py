"""What the arq worker runs for webhooks: the delivery engine and the sweeper.

The engine is not an arq job (arq's poll delay and job bookkeeping would cap
it at a few hundred deliveries a second); it runs as long-lived tasks started
in ``startup``. arq only schedules the sweeper.
"""

from __future__ import annotations

import contextlib
from typing import Any

from arq.cron import cron
from redis.exceptions import RedisError

from relay.core.config import Settings
from relay.core.redis import connect_redis
from webhooks.constants import SWEEP_EVERY_SECONDS
from webhooks.deliverer import Deliverer
from webhooks.sweeper import sweep_webhook_deliveries

FUNCTIONS: list[Any] = []
CRON_JOBS: list[Any] = [
    cron(
        sweep_webhook_deliveries,
        name="webhooks:sweep",
        second=set(range(0, 60, SWEEP_EVERY_SECONDS)),
        run_at_startup=True,
        unique=True,
        timeout=60,
        keep_result=0,
        max_tries=1,
    )
]


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    # Its own client: blocking pops must not wait behind arq's pool or time out with it.
    redis = connect_redis(settings.require_redis_url())
    deliverer = Deliverer(redis, settings, ctx["database_watch"])
    await deliverer.start()
    ctx["webhook_redis"] = redis
    ctx["webhook_deliverer"] = deliverer


async def shutdown(ctx: dict[str, Any]) -> None:
    deliverer: Deliverer | None = ctx.pop("webhook_deliverer", None)
    if deliverer is not None:
        await deliverer.stop()
    redis = ctx.pop("webhook_redis", None)
    if redis is not None:
        with contextlib.suppress(RedisError, OSError):
            await redis.aclose()
