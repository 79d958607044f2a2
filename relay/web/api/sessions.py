"""Tenant routes for sessions: CRUD, lifecycle, QR code and pairing code."""

from __future__ import annotations

from starlette.responses import Response

from relay.core.schemas import Page
from relay.web.api.operations import DATABASE, DATABASE_AND_REDIS, Access, Call, Routes
from relay.web.schemas.sessions import (
    PairCode,
    PairCodeRequest,
    Qr,
    QrQuery,
    Session,
    SessionCreate,
    SessionListQuery,
    SessionUpdate,
)
from relay.web.services import pairing
from relay.web.services import sessions as service

# Reads ask Redis whether a worker holds each session (its status says so); lifecycle changes take a
# Redis lock. Creating a session and reading its QR code need only the database.
routes = Routes(tag="sessions", access=Access.TENANT, needs=DATABASE_AND_REDIS)


@routes.add(
    "POST",
    "/v1/sessions",
    "Create a session",
    takes=SessionCreate,
    returns=Session,
    status=201,
    needs=DATABASE,
    errors=(429,),
)
async def create_session(call: Call[SessionCreate]) -> Session:
    body = call.input
    return await service.create_session(
        call.settings,
        call.redis,
        call.tenant_id,
        name=body.name,
        engine=body.engine,
        start=body.start,
        proxy=body.proxy,
        send_per_minute=body.send_per_minute,
    )


@routes.add("GET", "/v1/sessions", "List sessions", takes=SessionListQuery, returns=Page[Session])
async def list_sessions(call: Call[SessionListQuery]) -> Page[Session]:
    page = call.input
    return Page.of(
        await service.list_sessions(call.redis, call.tenant_id, limit=page.limit, cursor=page.cursor),
        page.limit,
    )


@routes.add("GET", "/v1/sessions/{session_id}", "Get a session", returns=Session, errors=(404,))
async def get_session(call: Call[None]) -> Session:
    return await service.get_session(call.redis, call.tenant_id, call.path("session_id"))


@routes.add(
    "PATCH",
    "/v1/sessions/{session_id}",
    "Rename a session or change its proxy (applies from its next start)",
    takes=SessionUpdate,
    # The service checks the body once the session is found: a foreign id is a 404 first.
    check_body_later=True,
    returns=Session,
    errors=(404,),
)
async def update_session(call: Call[SessionUpdate]) -> Session:
    return await service.update_session(
        call.settings, call.redis, call.tenant_id, call.path("session_id"), call.raw_body
    )


@routes.add(
    "DELETE",
    "/v1/sessions/{session_id}",
    "Delete a session: stop it and erase its WhatsApp credentials",
    status=204,
    errors=(404,),
)
async def delete_session(call: Call[None]) -> None:
    await service.delete_session(call.redis, call.tenant_id, call.path("session_id"))


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/start",
    "Start a session (idempotent)",
    returns=Session,
    status=202,
    errors=(404, 409),
)
async def start_session(call: Call[None]) -> Session:
    return await service.start_session(call.redis, call.tenant_id, call.path("session_id"))


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/stop",
    "Stop a session (idempotent)",
    returns=Session,
    status=202,
    errors=(404, 409),
)
async def stop_session(call: Call[None]) -> Session:
    return await service.stop_session(call.redis, call.tenant_id, call.path("session_id"))


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/logout",
    "Unlink the device and erase its credentials",
    returns=Session,
    status=202,
    errors=(404, 409),
)
async def logout_session(call: Call[None]) -> Session:
    return await service.logout_session(call.redis, call.tenant_id, call.path("session_id"))


@routes.add(
    "GET",
    "/v1/sessions/{session_id}/qr",
    "The QR code to scan, as JSON or an image",
    takes=QrQuery,
    returns=Qr,
    errors=(404, 409),
    needs=DATABASE,
    content={
        media_type: {"schema": {"type": "string", "contentMediaType": media_type}}
        for media_type in pairing.QR_FORMATS.values()
    }
    | {
        "image/svg+xml": {
            "schema": {"type": "string", "contentMediaType": "image/svg+xml"},
            "example": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 61 61">...</svg>',
        }
    },
)
async def get_qr(call: Call[QrQuery]) -> Qr | Response:
    qr = await pairing.current_qr(call.tenant_id, call.path("session_id"))
    if call.input.format == "json":
        return qr
    image = pairing.render_qr(qr.qr, call.input.format)
    # A QR code is a short-lived credential: never let a proxy or browser keep it.
    return Response(image.content, media_type=image.media_type, headers={"Cache-Control": "no-store"})


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/pair-code",
    "Link by phone number: get the code to type on the phone",
    takes=PairCodeRequest,
    returns=PairCode,
    errors=(404, 409, 504),
)
async def request_pair_code(call: Call[PairCodeRequest]) -> PairCode:
    return await pairing.request_pair_code(
        call.redis, call.tenant_id, call.path("session_id"), call.input.phone
    )
