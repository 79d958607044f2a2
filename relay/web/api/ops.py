"""Unauthenticated operator endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from starlette.responses import Response
from tortoise import connections
from tortoise.functions import Count

from relay.core.constants import OUTAGE_RETRY_AFTER, READY_CHECK_TIMEOUT, UNPLACED_REASON_PREFIX
from relay.core.enums import DesiredState
from relay.core.metrics import SESSIONS_BY_STATUS, SESSIONS_UNPLACED
from relay.core.models import Session
from relay.core.problems import Problem
from relay.web.api.operations import DATABASE, DATABASE_AND_REDIS, NOTHING, Access, Call, Routes
from relay.web.schemas.ops import Health, Ready

log = logging.getLogger("relay.web.api")

routes = Routes(tag="ops", access=Access.PUBLIC, needs=NOTHING)


@routes.add("GET", "/healthz", "Liveness", returns=Health)
async def healthz(call: Call[None]) -> Health:
    return Health(status="ok")


async def _check_database() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def _check_redis(redis: Redis) -> None:
    await redis.ping()


@routes.add(
    "GET", "/readyz", "Readiness: database and Redis reachable", returns=Ready, needs=DATABASE_AND_REDIS
)
async def readyz(call: Call[None]) -> Ready:
    """Both checks at once, each bounded: a hung dependency is reported, never waited on."""
    checks = {"database": _check_database(), "redis": _check_redis(call.redis)}
    results = await asyncio.gather(
        *(asyncio.wait_for(check, READY_CHECK_TIMEOUT) for check in checks.values()),
        return_exceptions=True,
    )
    failed = []
    for name, result in zip(checks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("readiness: %s failed: %r", name, result)
            failed.append(name)
    if failed:
        raise Problem(503, f"not ready: {', '.join(failed)} unreachable", retry_after=OUTAGE_RETRY_AFTER)
    return Ready(database="ok", redis="ok")


@routes.add(
    "GET",
    "/metrics",
    "Prometheus metrics",
    needs=DATABASE,
    content={
        "text/plain": {
            "schema": {"type": "string", "description": "Prometheus text format"},
            "example": '# TYPE relay_sessions gauge\nrelay_sessions{status="connected"} 3.0\n',
        }
    },
)
async def metrics(call: Call[None]) -> Response:
    # Counted at scrape time: a gauge kept in memory would drift across processes.
    rows = await Session.annotate(count=Count("id")).group_by("status").values("status", "count")
    SESSIONS_BY_STATUS.clear()
    for row in rows:
        SESSIONS_BY_STATUS.labels(status=row["status"]).set(row["count"])
    # The supervisors give such a session its reason (workers.placement); the row is the only shared record.
    SESSIONS_UNPLACED.set(
        await Session.filter(
            desired_state=DesiredState.RUNNING, reason__startswith=UNPLACED_REASON_PREFIX
        ).count()
    )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
