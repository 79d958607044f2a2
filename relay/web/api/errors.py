"""Every error leaves the API as RFC 9457 ``application/problem+json``.

Handlers raise ``Problem``; Starlette's own 404/405 and anything unexpected are
translated here so an integrator only ever parses one error shape. An
unreachable database or Redis never gets this far: ``middleware.DependencyOutageMiddleware``
answers it with 503.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from relay.core.problems import Problem
from relay.web.responses import problem_response

log = logging.getLogger("relay.web.api")

Handler = Callable[[Request, Exception], Awaitable[Response]]


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, instance=request.url.path)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = {
        404: f"no route for {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, exc.detail)
    # Starlette's 405 carries the Allow header; keep it.
    return problem_response(Problem(exc.status_code, detail), instance=request.url.path, headers=exc.headers)


async def _unhandled(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer so uvicorn logs the traceback; one line here
    # ties it to the request without printing the traceback twice.
    log.error("unhandled %s in %s %s", type(exc).__name__, request.method, request.url.path)
    return problem_response(Problem(500, "internal error"), instance=request.url.path)


def exception_handlers() -> dict[Any, Handler]:
    return {
        Problem: _problem,
        HTTPException: _http_exception,
        Exception: _unhandled,
    }
