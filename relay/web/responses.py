"""The one error shape of the web process: RFC 9457 ``application/problem+json``, for REST answers and for
WebSocket handshakes refused before the upgrade."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.responses import Response

from relay.core.problems import PROBLEM_CONTENT_TYPE, Problem


def problem_response(
    problem: Problem, *, instance: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    all_headers = dict(headers or {})
    if problem.status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return Response(
        orjson.dumps(problem.to_dict(instance)),
        status_code=problem.status,
        headers=all_headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )
