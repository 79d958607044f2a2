"""Tenant routes for sessions: CRUD, lifecycle, QR code and pairing code."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.core.problems import invalid
from relay.web.api.common import JSONResponse, page, page_params, read_json_object, require_tenant
from relay.web.services import pairing
from relay.web.services import sessions as service
from relay.web.services.validation import optional_bool, phone_digits, require_string


async def create_session(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request)
    name = require_string(body, "name", max_length=200)
    engine = body.get("engine", "whatsapp")
    if engine not in service.ENGINES:
        raise invalid("engine", f"must be one of {', '.join(service.ENGINES)}")
    start = optional_bool(body, "start", default=True)
    session = await service.create_session(
        request.state.redis, tenant_id, name=name, engine=engine, start=bool(start)
    )
    return JSONResponse(session, status_code=201)


async def list_sessions(request: Request) -> Response:
    tenant_id = require_tenant(request)
    limit, cursor = page_params(request)
    return JSONResponse(page(await service.list_sessions(tenant_id, limit=limit, cursor=cursor), limit))


async def get_session(request: Request) -> Response:
    tenant_id = require_tenant(request)
    return JSONResponse(await service.get_session(tenant_id, request.path_params["session_id"]))


async def delete_session(request: Request) -> Response:
    tenant_id = require_tenant(request)
    await service.delete_session(request.state.redis, tenant_id, request.path_params["session_id"])
    return Response(status_code=204)


async def start_session(request: Request) -> Response:
    tenant_id = require_tenant(request)
    session_id = request.path_params["session_id"]
    return JSONResponse(
        await service.start_session(request.state.redis, tenant_id, session_id), status_code=202
    )


async def stop_session(request: Request) -> Response:
    tenant_id = require_tenant(request)
    session_id = request.path_params["session_id"]
    return JSONResponse(
        await service.stop_session(request.state.redis, tenant_id, session_id), status_code=202
    )


async def logout_session(request: Request) -> Response:
    tenant_id = require_tenant(request)
    session_id = request.path_params["session_id"]
    return JSONResponse(
        await service.logout_session(request.state.redis, tenant_id, session_id), status_code=202
    )


async def get_qr(request: Request) -> Response:
    tenant_id = require_tenant(request)
    image_format = request.query_params.get("format", "json")
    if image_format != "json" and image_format not in pairing.QR_FORMATS:
        raise invalid("format", "must be json, png or svg")
    qr = await pairing.current_qr(tenant_id, request.path_params["session_id"])
    if image_format == "json":
        return JSONResponse(qr)
    image = pairing.render_qr(qr["qr"], image_format)
    # A QR code is a short-lived credential: never let a proxy or browser keep it.
    return Response(image.content, media_type=image.media_type, headers={"Cache-Control": "no-store"})


async def request_pair_code(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request)
    if body.get("phone") is None:
        raise invalid("phone", "is required")
    phone = phone_digits(body["phone"], "phone")
    code = await pairing.request_pair_code(
        request.state.redis, tenant_id, request.path_params["session_id"], phone
    )
    return JSONResponse(code)


routes = [
    Route("/v1/sessions", create_session, methods=["POST"]),
    Route("/v1/sessions", list_sessions, methods=["GET"]),
    Route("/v1/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/v1/sessions/{session_id}", delete_session, methods=["DELETE"]),
    Route("/v1/sessions/{session_id}/start", start_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}/stop", stop_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}/logout", logout_session, methods=["POST"]),
    Route("/v1/sessions/{session_id}/qr", get_qr, methods=["GET"]),
    Route("/v1/sessions/{session_id}/pair-code", request_pair_code, methods=["POST"]),
]
