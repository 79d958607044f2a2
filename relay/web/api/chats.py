"""Tenant routes that act in chats without sending a message: contacts check, read, presence."""

from __future__ import annotations

from relay.web.api.operations import DATABASE_AND_REDIS, Access, Call, Routes
from relay.web.schemas.chats import (
    ChatActionDone,
    ContactsCheck,
    ContactsCheckRequest,
    PresenceRequest,
    ReadRequest,
)
from relay.web.services import chats as service

# Each is a command to the session's owning worker over Redis.
routes = Routes(tag="chats", access=Access.TENANT, needs=DATABASE_AND_REDIS)
# 409: not connected (naming the status); 502: WhatsApp refused; 504: the worker did not answer in time.
ERRORS = (404, 409, 502, 504)


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/contacts/check",
    "Which numbers are on WhatsApp",
    takes=ContactsCheckRequest,
    returns=ContactsCheck,
    errors=ERRORS,
)
async def check_contacts(call: Call[ContactsCheckRequest]) -> ContactsCheck:
    return await service.check_contacts(
        call.redis, call.tenant_id, call.path("session_id"), call.input.phones
    )


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/read",
    "Send read receipts for messages in a chat",
    takes=ReadRequest,
    returns=ChatActionDone,
    errors=ERRORS,
)
async def mark_read(call: Call[ReadRequest]) -> ChatActionDone:
    body = call.input
    await service.mark_read(
        call.redis, call.tenant_id, call.path("session_id"), body.chat, body.message_ids, body.sender
    )
    return ChatActionDone(done=True)


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/presence",
    "Show typing, recording or paused in a chat",
    takes=PresenceRequest,
    returns=ChatActionDone,
    errors=ERRORS,
)
async def send_presence(call: Call[PresenceRequest]) -> ChatActionDone:
    body = call.input
    await service.send_presence(call.redis, call.tenant_id, call.path("session_id"), body.chat, body.state)
    return ChatActionDone(done=True)
