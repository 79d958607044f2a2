"""The one error shape of the web process: RFC 9457 ``application/problem+json``, for REST answers and for
WebSocket handshakes refused before the upgrade.

``outage_problem`` tells an unreachable dependency from a bug, for REST routes and the
WebSocket feed alike (``relay.web.api.middleware.DependencyOutageMiddleware`` applies it to
every request and handshake).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from relay.core.db import is_database_unavailable
from relay.core.problems import PROBLEM_CONTENT_TYPE, Dependency, Problem, unavailable
from relay.core.redis import is_redis_unavailable


def problem_response(
    problem: Problem, *, instance: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    all_headers = dict(headers or {})
    if problem.status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    if problem.retry_after is not None:
        all_headers.setdefault("Retry-After", str(problem.retry_after))
    return Response(
        orjson.dumps(problem.to_dict(instance)),
        status_code=problem.status,
        headers=all_headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def outage_problem(exc: BaseException) -> Problem | None:
    """The 503 for an exception that means a dependency is unreachable; ``None`` for anything else."""
    if isinstance(exc, BaseExceptionGroup):
        # A task group (the feed runs its reader and writer in one) reports what its tasks raised.
        found = (outage_problem(inner) for inner in exc.exceptions)
        return next((problem for problem in found if problem is not None), None)
    if is_database_unavailable(exc):
        return unavailable(Dependency.DATABASE)
    if is_redis_unavailable(exc):
        return unavailable(Dependency.REDIS)
    return None
