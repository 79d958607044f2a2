"""The web process: REST API, WebSocket feed, ops endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from relay.core.config import Settings
from relay.core.constants import REDIS_READ_TIMEOUT
from relay.core.db import close_database, open_database
from relay.core.redis import connect_redis
from webhooks.outbox import install as install_webhook_outbox

log = logging.getLogger("relay.web.app")


def create_app(settings: Settings | None = None) -> Starlette:
    from relay.web.api import routes as api_routes
    from relay.web.api.errors import exception_handlers
    from relay.web.api.middleware import middleware
    from relay.web.dashboard import routes as dashboard_routes
    from relay.web.request_id import RequestIdMiddleware
    from relay.web.revocation import RevocationListener
    from relay.web.ws import endpoint as websocket
    from relay.web.ws.fanout import EventFanout
    from relay.web.ws.watchdog import WriteWatchdog

    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await open_database(settings.database_url)
        install_webhook_outbox()
        # A hung Redis costs a request REDIS_READ_TIMEOUT, then a 503; it is never waited on.
        redis = connect_redis(settings.require_redis_url(), read_timeout=REDIS_READ_TIMEOUT)
        fanout = EventFanout(settings.require_redis_url())
        await fanout.start()
        feed_watchdog = WriteWatchdog()
        feed_watchdog.start()
        revocations = RevocationListener(redis)
        revocations.start()
        try:
            yield {"settings": settings, "redis": redis, "fanout": fanout, "feed_watchdog": feed_watchdog}
        finally:
            await revocations.stop()
            await feed_watchdog.stop()
            await fanout.stop()
            await redis.aclose()
            await close_database()

    return Starlette(
        routes=[*api_routes(), *websocket.routes, *dashboard_routes()],
        # The feed is dispatched before the HTTP middlewares (``relay.web.ws.endpoint``).
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(websocket.FeedDispatch),
            *middleware(settings),
        ],
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
