"""Tenant routes for outbound messages."""

from __future__ import annotations

from relay.core.schemas import Page
from relay.web.api.operations import Access, Call, Reply, Routes
from relay.web.schemas.messages import Message, MessageCreate, MessageListQuery
from relay.web.services import messages as service

routes = Routes(tag="messages", access=Access.TENANT)

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "minLength": 1, "maxLength": service.MAX_IDEMPOTENCY_KEY},
    "description": "Retries with the same key return the first message and send nothing",
}


@routes.add(
    "POST",
    "/v1/sessions/{session_id}/messages",
    "Send a message",
    takes=MessageCreate,
    # The service checks the body after finding the session (also for the WebSocket `send` frame).
    check_body_later=True,
    returns=Message,
    status=201,
    also={
        200: "Idempotency-Key seen before: the earlier message",
        202: "Queued; the outcome arrives as message.sent or message.failed",
    },
    errors=(404, 409, 429),
    parameters=[IDEMPOTENCY_KEY],
)
async def send_message(call: Call[MessageCreate]) -> Reply[Message]:
    message, status = await service.send_message(
        redis=call.redis,
        settings=call.settings,
        tenant_id=call.tenant_id,
        session_id=call.path("session_id"),
        body=call.raw_body,
        idempotency_key=call.request.headers.get("idempotency-key"),
    )
    return Reply(message, status)


@routes.add(
    "GET",
    "/v1/sessions/{session_id}/messages",
    "List a session's outbound messages",
    takes=MessageListQuery,
    returns=Page[Message],
    errors=(404,),
)
async def list_messages(call: Call[MessageListQuery]) -> Page[Message]:
    page = call.input
    messages = await service.list_messages(
        call.tenant_id, call.path("session_id"), limit=page.limit, cursor=page.cursor
    )
    return Page.of(messages, page.limit)


@routes.add("GET", "/v1/messages/{message_id}", "Get an outbound message", returns=Message, errors=(404,))
async def get_message(call: Call[None]) -> Message:
    return await service.get_message(call.tenant_id, call.path("message_id"))
