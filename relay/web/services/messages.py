"""Sending messages: one path for REST ``POST .../messages`` and the WebSocket ``send`` frame.

The row is written first (status ``queued``) and only then is the owning
worker asked to send it, so a message is never lost between the two; the
caller waits a bounded time for the outcome and otherwise learns it from the
``message.sent`` / ``message.failed`` event.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from relay.core.commands import CommandResult, submit_command
from relay.core.config import Settings
from relay.core.enums import CommandKind, DesiredState, MessageStatus
from relay.core.models import OutboundMessage, Session
from relay.core.problems import Problem, invalid, not_found
from relay.core.quotas import Quota, create_within_quota, utc_day_start
from relay.core.redis import is_redis_unavailable
from relay.core.schemas import check_text
from relay.web.schemas.messages import Message, parse_message
from relay.web.schemas.sessions import send_interval
from relay.web.services.session_lookup import visible_session

log = logging.getLogger("relay.web.services")

MAX_IDEMPOTENCY_KEY = 200
SEND_QUEUE_FULL = "https://relay.dev/problems/send-queue-full"


async def send_message(
    *,
    redis: Redis,
    settings: Settings,
    tenant_id: str,
    session_id: str,
    body: dict[str, Any],
    idempotency_key: str | None,
) -> tuple[Message, int]:
    """Queue a message and ask the session's owner to send it.

    ``body`` is the JSON object of ``POST .../messages`` or of a WebSocket
    ``send`` frame, checked here against ``MessageCreate`` only once the session
    is known, so a foreign session is a 404 whatever the body says.
    Returns ``(message, HTTP status)``: 201 when the worker answered
    within ``settings.send_wait`` (the status is then ``sent`` or ``failed``),
    202 when it is still ``queued``, 200 when ``idempotency_key`` was already
    used by this tenant (the earlier message is returned and nothing is sent).
    Raises ``Problem``: 404 unknown session, 422 bad body, 409 session not
    meant to be running, 429 past the tenant's ``max_messages_per_day`` or
    the session's send queue bound (no row written). Redis being down is not an error here: the stored
    message goes out when the worker next looks at its queue (202).
    """
    if idempotency_key is not None:
        check_text("Idempotency-Key", idempotency_key)
        if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise invalid("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    session = await visible_session(tenant_id, session_id)
    if idempotency_key is not None:
        earlier = await _by_idempotency_key(tenant_id, idempotency_key)
        if earlier is not None:
            return Message.of(earlier), 200
    outgoing = parse_message(body)
    if session.desired_state != DesiredState.RUNNING:
        raise Problem(409, f"session is {session.desired_state}; start it before sending")
    await _check_send_queue(settings, session)
    try:
        message = await create_within_quota(
            tenant_id,
            Quota.MESSAGES_PER_DAY,
            count=lambda connection: count_messages_today(tenant_id, connection),
            create=lambda connection: OutboundMessage.create(
                using_db=connection,
                id=OutboundMessage.make_id(),
                tenant_id=tenant_id,
                session_id=session.id,
                to=outgoing.to,
                type=outgoing.type,
                payload=outgoing.payload(),
                status=MessageStatus.QUEUED,
                idempotency_key=idempotency_key,
            ),
        )
    except IntegrityError:
        # Two requests with one key raced past the lookup; the loser answers with the winner.
        if idempotency_key is None:
            raise
        earlier = await _by_idempotency_key(tenant_id, idempotency_key)
        if earlier is None:
            raise
        return Message.of(earlier), 200
    try:
        result = await submit_command(
            redis, session.id, CommandKind.SEND, {"message_id": message.id}, wait=settings.send_wait
        )
    except RedisError as exc:
        if not is_redis_unavailable(exc):
            raise
        log.warning("message %s stays queued for the worker's next look: %r", message.id, exc)
        result = None
    answer = Message.of(message) if result is None else await _with_outcome(message, result)
    # The worker may answer at once that the message waits (session reconnecting): still 202.
    return answer, 202 if answer.status == MessageStatus.QUEUED else 201


async def _check_send_queue(settings: Settings, session: Session) -> None:
    """A session's queue is bounded: past ``RELAY_SEND_QUEUE_LIMIT`` queued messages a send is a 429.

    Checked before the insert, outside any lock: racing sends may pass the bound by a few, which a
    bound meant to stop a runaway sender allows.
    """
    queued = await OutboundMessage.filter(session_id=session.id, status=MessageStatus.QUEUED).count()
    if queued < settings.send_queue_limit:
        return
    interval = send_interval(session.send_per_minute)
    raise Problem(
        429,
        f"this session already has {queued} messages queued (the limit is {settings.send_queue_limit}); "
        "retry once some have gone out",
        title="Send queue full",
        type=SEND_QUEUE_FULL,
        limit=settings.send_queue_limit,
        retry_after=max(1, math.ceil(interval or 1)),
    )


async def count_messages_today(tenant_id: str, connection: BaseDBAsyncClient | None = None) -> int:
    """The messages ``max_messages_per_day`` counts: the tenant's own, accepted since 00:00 UTC."""
    since = utc_day_start(datetime.now(UTC))
    query = OutboundMessage.filter(tenant_id=tenant_id, created_at__gte=since)
    return await query.using_db(connection).count()


async def _with_outcome(message: OutboundMessage, result: CommandResult) -> Message:
    """The message as the worker's answer says its row now is, without reading the row back."""
    if "whatsapp_id" not in result.data:
        # A worker from before answers carried the outcome (a rolling upgrade): read it.
        await message.refresh_from_db()
        return Message.of(message)
    return Message.of(message).model_copy(
        update={
            "status": MessageStatus(result.data["status"]),
            "whatsapp_id": result.data["whatsapp_id"],
            "error": result.error,
        }
    )


async def _by_idempotency_key(tenant_id: str, key: str) -> OutboundMessage | None:
    return await OutboundMessage.get_or_none(tenant_id=tenant_id, idempotency_key=key)


async def get_message(tenant_id: str, message_id: str) -> Message:
    message = await OutboundMessage.get_or_none(id=message_id, tenant_id=tenant_id)
    if message is None:
        raise not_found("message")
    return Message.of(message)


async def list_messages(tenant_id: str, session_id: str, *, limit: int, cursor: str | None) -> list[Message]:
    await visible_session(tenant_id, session_id)
    query = OutboundMessage.filter(tenant_id=tenant_id, session_id=session_id)
    if cursor:
        query = query.filter(id__gt=cursor)
    return [Message.of(m) for m in await query.order_by("id").limit(limit)]
