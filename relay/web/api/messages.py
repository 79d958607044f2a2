"""Tenant routes for outbound messages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.web.api.common import JSONResponse, page, page_params, read_json_object, require_tenant
from relay.web.services import messages as service


async def send_message(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request)
    message, status = await service.send_message(
        redis=request.state.redis,
        settings=request.state.settings,
        tenant_id=tenant_id,
        session_id=request.path_params["session_id"],
        body=body,
        idempotency_key=request.headers.get("idempotency-key"),
    )
    return JSONResponse(message, status_code=status)


async def list_messages(request: Request) -> Response:
    tenant_id = require_tenant(request)
    limit, cursor = page_params(request)
    messages = await service.list_messages(
        tenant_id, request.path_params["session_id"], limit=limit, cursor=cursor
    )
    return JSONResponse(page(messages, limit))


async def get_message(request: Request) -> Response:
    tenant_id = require_tenant(request)
    return JSONResponse(await service.get_message(tenant_id, request.path_params["message_id"]))


routes = [
    Route("/v1/sessions/{session_id}/messages", send_message, methods=["POST"]),
    Route("/v1/sessions/{session_id}/messages", list_messages, methods=["GET"]),
    Route("/v1/messages/{message_id}", get_message, methods=["GET"]),
]
