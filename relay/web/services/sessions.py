"""Session lifecycle as the web sees it: the desired state.

The web only ever writes ``desired_state``; ``status`` belongs to the worker
that owns the session (and reads show whether a worker still holds it:
``session_liveness``). Changing the desired state wakes the supervisors so a
worker reacts at once instead of at its next poll.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.commands import submit_command
from relay.core.config import Settings
from relay.core.constants import (
    LIFECYCLE_LOCK_TIMEOUT,
    LIFECYCLE_LOCK_WAIT,
    SUPERVISOR_WAKE_CHANNEL,
    session_lifecycle_lock_key,
)
from relay.core.crypto import encrypt_secret
from relay.core.enums import CommandKind, DesiredState, EngineKind
from relay.core.models import Session
from relay.core.problems import Problem, invalid
from relay.core.proxies import InvalidProxy, check_proxy
from relay.core.quotas import Quota, create_within_quota
from relay.core.schemas import parse
from relay.web.schemas import sessions as schemas
from relay.web.services.session_liveness import sessions_as_seen
from relay.web.services.session_lookup import visible_session

log = logging.getLogger("relay.web.services")


async def wake_supervisors(redis: Redis, session_ids: Iterable[str]) -> None:
    """Tell the workers at once that these sessions changed.

    A courtesy: supervisors also poll the database every ``SUPERVISOR_POLL_SECONDS``, so
    a change already committed must not fail (and be retried) because Redis is down.
    """
    try:
        for session_id in session_ids:
            await redis.publish(SUPERVISOR_WAKE_CHANNEL, session_id)
    except RedisError as exc:
        log.warning("supervisors not woken (they find the change at their next poll): %r", exc)


async def _encrypted_proxy(settings: Settings, proxy: str | None) -> str | None:
    """The proxy checked (shape, then where its host resolves now) and encrypted for the row."""
    if proxy is None:
        return None
    try:
        await check_proxy(proxy, allow_private=settings.proxy_allow_private)
    except InvalidProxy as exc:
        raise invalid("proxy", str(exc)) from exc
    return encrypt_secret(proxy)


async def create_session(
    settings: Settings,
    redis: Redis,
    tenant_id: str,
    *,
    name: str,
    engine: EngineKind,
    start: bool,
    proxy: str | None = None,
    send_per_minute: int | None = None,
) -> schemas.Session:
    encrypted_proxy = await _encrypted_proxy(settings, proxy)
    session = await create_within_quota(
        tenant_id,
        Quota.SESSIONS,
        count=lambda connection: count_sessions(tenant_id, connection),
        create=lambda connection: Session.create(
            using_db=connection,
            id=Session.make_id(),
            tenant_id=tenant_id,
            name=name,
            engine=engine,
            desired_state=DesiredState.RUNNING if start else DesiredState.STOPPED,
            encrypted_proxy=encrypted_proxy,
            send_per_minute=send_per_minute or settings.send_per_minute or None,
        ),
    )
    if start:
        await wake_supervisors(redis, [session.id])
    return schemas.Session.of(session)


async def count_sessions(tenant_id: str, connection: BaseDBAsyncClient | None = None) -> int:
    """The sessions ``max_sessions`` counts: the tenant's own, but not those deleted and awaiting cleanup."""
    query = Session.filter(tenant_id=tenant_id).exclude(desired_state=DesiredState.DELETED)
    return await query.using_db(connection).count()


async def update_session(
    settings: Settings, redis: Redis, tenant_id: str, session_id: str, body: dict[str, Any]
) -> schemas.Session:
    """``body`` is checked as a ``SessionUpdate`` once the session is known (foreign ids: 404).

    The engine reads the proxy when the session starts, so a new proxy applies from its next start.
    """
    # Read as the answer will be (liveness from Redis) before changing anything: an outage is a 503
    # with the session unchanged, not a change followed by an error.
    session = await get_session(redis, tenant_id, session_id)
    changes: dict[str, Any] = dict(parse(schemas.SessionUpdate, body).root)
    if "proxy" in changes:
        changes["encrypted_proxy"] = await _encrypted_proxy(settings, changes.pop("proxy"))
    if changes:
        await (
            Session.filter(id=session.id)
            .exclude(desired_state=DesiredState.DELETED)
            .update(updated_at=datetime.now(UTC), **changes)
        )
    return await get_session(redis, tenant_id, session_id)


async def get_session(redis: Redis, tenant_id: str, session_id: str) -> schemas.Session:
    (session,) = await sessions_as_seen(redis, [await visible_session(tenant_id, session_id)])
    return session


async def list_sessions(
    redis: Redis, tenant_id: str, *, limit: int, cursor: str | None
) -> list[schemas.Session]:
    query = Session.filter(tenant_id=tenant_id).exclude(desired_state=DesiredState.DELETED)
    if cursor:
        query = query.filter(id__gt=cursor)
    return await sessions_as_seen(redis, await query.order_by("id").limit(limit))


@asynccontextmanager
async def lifecycle_lock(redis: Redis, session_id: str) -> AsyncIterator[None]:
    """One lifecycle change per session at a time, across web processes and workers."""
    lock = redis.lock(
        session_lifecycle_lock_key(session_id),
        timeout=LIFECYCLE_LOCK_TIMEOUT,
        blocking_timeout=LIFECYCLE_LOCK_WAIT,
    )
    if not await lock.acquire():
        raise Problem(409, "another start, stop or logout of this session is in progress; retry")
    try:
        yield
    finally:
        try:
            await lock.release()
        except LockError:
            # Held past its timeout; someone else may own it now, which is what the timeout is for.
            pass


async def change_desired_state(
    redis: Redis,
    tenant_id: str,
    session_id: str,
    desired_state: DesiredState,
    *,
    command: CommandKind | None,
) -> None:
    """Record what the tenant wants, wake the workers, and tell the owner if it must act now.

    Idempotent: asking twice for the same state changes nothing more.
    """
    await visible_session(tenant_id, session_id)
    async with lifecycle_lock(redis, session_id):
        # Re-checked under the lock: a delete that won the race makes this a 404.
        session = await visible_session(tenant_id, session_id)
        await (
            Session.filter(id=session.id)
            .exclude(desired_state=DesiredState.DELETED)
            .update(desired_state=desired_state, updated_at=datetime.now(UTC))
        )
        await wake_supervisors(redis, [session.id])
        if command is not None:
            await submit_command(redis, session.id, command)


async def start_session(redis: Redis, tenant_id: str, session_id: str) -> schemas.Session:
    await change_desired_state(redis, tenant_id, session_id, DesiredState.RUNNING, command=None)
    return await get_session(redis, tenant_id, session_id)


async def stop_session(redis: Redis, tenant_id: str, session_id: str) -> schemas.Session:
    await change_desired_state(redis, tenant_id, session_id, DesiredState.STOPPED, command=CommandKind.STOP)
    return await get_session(redis, tenant_id, session_id)


async def logout_session(redis: Redis, tenant_id: str, session_id: str) -> schemas.Session:
    await change_desired_state(redis, tenant_id, session_id, DesiredState.LOGOUT, command=CommandKind.LOGOUT)
    return await get_session(redis, tenant_id, session_id)


async def delete_session(redis: Redis, tenant_id: str, session_id: str) -> None:
    """Hide the session now; its owner logs out, erases credentials and deletes the row."""
    await change_desired_state(redis, tenant_id, session_id, DesiredState.DELETED, command=None)
