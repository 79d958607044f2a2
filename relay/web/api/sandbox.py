"""Sandbox engine routes: play the phone's part (scan, write, drop, unlink)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.core.problems import invalid
from relay.web.api.common import JSONResponse, read_json_object, require_tenant
from relay.web.services.sandbox import sandbox_action
from relay.web.services.validation import optional_int, phone_digits, recipient, require_string

MAX_INBOUND_BURST = 1000


def _scan_params(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("phone") is None:
        return {}
    return {"phone": phone_digits(body["phone"], "phone")}


def _inbound_params(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("from") is None:
        raise invalid("from", "is required")
    return {
        "from": recipient(body["from"], "from"),
        "text": require_string(body, "text", max_length=65_536),
        "count": optional_int(body, "count", minimum=1, maximum=MAX_INBOUND_BURST, default=1),
    }


def _no_params(body: dict[str, Any]) -> dict[str, Any]:
    return {}


def _action(
    name: str, parse: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        tenant_id = require_tenant(request)
        body = await read_json_object(request, allow_empty=True)
        params = parse(body)
        result = await sandbox_action(
            request.state.redis, tenant_id, request.path_params["session_id"], name, params
        )
        return JSONResponse(result, status_code=202)

    endpoint.__name__ = f"sandbox_{name}"
    return endpoint


routes = [
    Route("/v1/sessions/{session_id}/sandbox/scan", _action("scan", _scan_params), methods=["POST"]),
    Route(
        "/v1/sessions/{session_id}/sandbox/inbound",
        _action("inbound", _inbound_params),
        methods=["POST"],
    ),
    Route("/v1/sessions/{session_id}/sandbox/drop", _action("drop", _no_params), methods=["POST"]),
    Route("/v1/sessions/{session_id}/sandbox/logout", _action("logout", _no_params), methods=["POST"]),
]
