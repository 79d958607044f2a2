"""Sandbox engine routes: play the phone's part (scan, write, drop, unlink)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from relay.core.enums import CommandKind
from relay.web.api.operations import DATABASE_AND_REDIS, Access, Call, Handler, Routes
from relay.web.schemas.fields import user_jid
from relay.web.schemas.sandbox import (
    NoBody,
    SandboxAccepted,
    SandboxDrop,
    SandboxInbound,
    SandboxJoinGroup,
    SandboxScan,
    parse_inbound,
)
from relay.web.services.sandbox import sandbox_action

# Each action is a command on the session's Redis stream.
routes = Routes(tag="sandbox", access=Access.TENANT, needs=DATABASE_AND_REDIS)
BodyT = TypeVar("BodyT", bound=BaseModel)


def _action(
    kind: CommandKind, summary: str, takes: type[BodyT]
) -> Callable[[Handler[BodyT, SandboxAccepted]], Handler[BodyT, SandboxAccepted]]:
    return routes.add(
        "POST",
        f"/v1/sessions/{{session_id}}/sandbox/{kind.removeprefix('sandbox.')}",
        summary,
        takes=takes,
        # Scan, drop and logout may come without a body; inbound says who writes what.
        optional_body=not any(field.is_required() for field in takes.model_fields.values()),
        returns=SandboxAccepted,
        status=202,
        errors=(404, 409),
    )


async def _ask(call: Call[BaseModel], kind: CommandKind, **params: object) -> SandboxAccepted:
    return await sandbox_action(call.redis, call.tenant_id, call.path("session_id"), kind, params)


@_action(CommandKind.SANDBOX_SCAN, "Sandbox: the phone scans the QR", SandboxScan)
async def sandbox_scan(call: Call[SandboxScan]) -> SandboxAccepted:
    return await _ask(call, CommandKind.SANDBOX_SCAN, **call.input.model_dump(exclude_none=True))


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/sandbox/inbound",
    "Sandbox: a contact writes to the session (text, or an image, video, audio or document)",
    takes=SandboxInbound,
    check_body_later=True,
    returns=SandboxAccepted,
    status=202,
    errors=(404, 409),
)
async def sandbox_inbound(call: Call[SandboxInbound]) -> SandboxAccepted:
    body = parse_inbound(call.raw_body)
    return await _ask(call, CommandKind.SANDBOX_INBOUND, **body.model_dump(by_alias=True, exclude_none=True))


@_action(CommandKind.SANDBOX_DROP, "Sandbox: the connection breaks for a while", SandboxDrop)
async def sandbox_drop(call: Call[SandboxDrop]) -> SandboxAccepted:
    return await _ask(call, CommandKind.SANDBOX_DROP, seconds=call.input.seconds)


@_action(CommandKind.SANDBOX_LOGOUT, "Sandbox: the phone unlinks the device", NoBody)
async def sandbox_logout(call: Call[NoBody]) -> SandboxAccepted:
    return await _ask(call, CommandKind.SANDBOX_LOGOUT)


@_action(
    CommandKind.SANDBOX_JOIN_GROUP, "Sandbox: a contact adds the session to a new group", SandboxJoinGroup
)
async def sandbox_join_group(call: Call[SandboxJoinGroup]) -> SandboxAccepted:
    body = call.input
    others = [user_jid(p) for p in body.participants]
    return await _ask(
        call,
        CommandKind.SANDBOX_JOIN_GROUP,
        subject=body.subject,
        participants=others,
        **{"from": user_jid(body.from_)},
    )


@_action(CommandKind.SANDBOX_SEEN, "Sandbox: what the contacts saw (receipts, presence, messages)", NoBody)
async def sandbox_seen(call: Call[NoBody]) -> SandboxAccepted:
    return await _ask(call, CommandKind.SANDBOX_SEEN)
