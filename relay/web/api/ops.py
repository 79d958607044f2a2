"""Unauthenticated operator endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise import connections
from tortoise.functions import Count

from relay.core.metrics import SESSIONS_BY_STATUS
from relay.core.models import Session
from relay.core.problems import Problem
from relay.web.api.common import JSONResponse
from relay.web.responses import problem_response

log = logging.getLogger("relay.web.api")

# A readiness probe must answer even when a dependency hangs.
READY_CHECK_TIMEOUT = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _check_database() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def _check_redis(request: Request) -> None:
    await request.state.redis.ping()


async def readyz(request: Request) -> Response:
    checks = {"database": _check_database(), "redis": _check_redis(request)}
    results = await asyncio.gather(
        *(asyncio.wait_for(check, READY_CHECK_TIMEOUT) for check in checks.values()),
        return_exceptions=True,
    )
    report = {}
    for name, result in zip(checks, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("readiness: %s failed: %r", name, result)
            report[name] = "timeout" if isinstance(result, TimeoutError) else "unavailable"
        else:
            report[name] = "ok"
    failed = [name for name, state in report.items() if state != "ok"]
    if failed:
        problem = Problem(503, f"not ready: {', '.join(failed)} unreachable")
        response = problem_response(problem, instance=request.url.path)
        return response
    return JSONResponse(report)


async def metrics(request: Request) -> Response:
    # Counted at scrape time: a gauge kept in memory would drift across processes.
    rows = await Session.annotate(count=Count("id")).group_by("status").values("status", "count")
    SESSIONS_BY_STATUS.clear()
    for row in rows:
        SESSIONS_BY_STATUS.labels(status=row["status"]).set(row["count"])
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
