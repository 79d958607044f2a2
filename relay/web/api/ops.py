"""Unauthenticated operator endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from redis.asyncio import Redis
from starlette.responses import Response
from tortoise import connections

from relay.core.constants import OUTAGE_RETRY_AFTER, READY_CHECK_TIMEOUT
from relay.core.problems import Problem
from relay.web.api.operations import DATABASE_AND_REDIS, NOTHING, Access, Call, Routes
from relay.web.schemas.ops import Health, Ready
from relay.web.services.cluster_metrics import ClusterCollector, read_cluster_figures

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
    "Prometheus metrics: this web process's series and the cluster-wide gauges",
    content={
        "text/plain": {
            "schema": {"type": "string", "description": "Prometheus text format"},
            "example": '# TYPE relay_sessions gauge\nrelay_sessions{status="connected"} 3.0\n',
        }
    },
)
async def metrics(call: Call[None]) -> Response:
    # A registry per scrape: the figures belong to this answer, not to a gauge another scrape rewrites.
    # A dependency that is away leaves its series out (services.cluster_metrics), never a 503.
    cluster = CollectorRegistry(auto_describe=False)
    cluster.register(ClusterCollector(await read_cluster_figures()))
    return Response(generate_latest(REGISTRY) + generate_latest(cluster), media_type=CONTENT_TYPE_LATEST)
