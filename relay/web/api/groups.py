"""Tenant routes for a session's WhatsApp groups: list, read, create, change, leave, invite link."""

from __future__ import annotations

from relay.web.api.operations import DATABASE_AND_REDIS, Access, Call, Routes
from relay.web.schemas.chats import ChatActionDone
from relay.web.schemas.groups import (
    Group,
    GroupCreate,
    GroupList,
    GroupListQuery,
    GroupUpdate,
    InviteLink,
    ParticipantResults,
    ParticipantsRequest,
)
from relay.web.services import groups as service

# Each is a command to the session's owning worker over Redis.
routes = Routes(tag="groups", access=Access.TENANT, needs=DATABASE_AND_REDIS)
# 404: unknown session or group; 409: not connected (naming the status); 502: WhatsApp refused;
# 504: the worker did not answer in time.
ERRORS = (404, 409, 502, 504)
GROUP = "/v1/sessions/{session_id}/groups/{group_jid}"


@routes.add(
    "GET",
    "/v1/sessions/{session_id}/groups",
    "List the session's groups",
    takes=GroupListQuery,
    returns=GroupList,
    errors=ERRORS,
)
async def list_groups(call: Call[GroupListQuery]) -> GroupList:
    query = call.input
    return await service.list_groups(
        call.redis, call.tenant_id, call.path("session_id"), query.limit, query.cursor
    )


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/groups",
    "Create a group",
    takes=GroupCreate,
    returns=Group,
    status=201,
    errors=ERRORS,
)
async def create_group(call: Call[GroupCreate]) -> Group:
    return await service.create_group(call.redis, call.tenant_id, call.path("session_id"), call.input)


@routes.add("GET", GROUP, "Get a group: subject, description, participants", returns=Group, errors=ERRORS)
async def group_info(call: Call[None]) -> Group:
    return await service.group_info(
        call.redis, call.tenant_id, call.path("session_id"), call.path("group_jid")
    )


@routes.add(
    "PATCH", GROUP, "Change a group's subject or description", takes=GroupUpdate, returns=Group, errors=ERRORS
)
async def update_group(call: Call[GroupUpdate]) -> Group:
    session_id, jid = call.path("session_id"), call.path("group_jid")
    return await service.update_group(call.redis, call.tenant_id, session_id, jid, call.input)


@routes.add(
    "POST",
    f"{GROUP}/participants",
    "Add, remove, promote or demote participants",
    takes=ParticipantsRequest,
    returns=ParticipantResults,
    errors=ERRORS,
)
async def change_participants(call: Call[ParticipantsRequest]) -> ParticipantResults:
    session_id, jid = call.path("session_id"), call.path("group_jid")
    return await service.change_participants(call.redis, call.tenant_id, session_id, jid, call.input)


@routes.add("POST", f"{GROUP}/leave", "Leave a group", returns=ChatActionDone, errors=ERRORS)
async def leave_group(call: Call[None]) -> ChatActionDone:
    await service.leave_group(call.redis, call.tenant_id, call.path("session_id"), call.path("group_jid"))
    return ChatActionDone(done=True)


@routes.add("GET", f"{GROUP}/invite-link", "A group's invite link", returns=InviteLink, errors=ERRORS)
async def invite_link(call: Call[None]) -> InviteLink:
    return await service.invite_link(
        call.redis, call.tenant_id, call.path("session_id"), call.path("group_jid")
    )
