"""Tenants and their API keys: the admin's side of Relay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from relay.core.enums import DesiredState
from relay.core.models import ApiKey, Session, Tenant
from relay.core.problems import not_found
from relay.core.schemas import parse
from relay.web.auth import generate_api_key, hash_api_key
from relay.web.revocation import publish_revocation
from relay.web.schemas import tenants as schemas
from relay.web.schemas.sessions import Session as SessionView
from relay.web.services.messages import count_messages_today
from relay.web.services.sessions import count_sessions, list_sessions, wake_supervisors
from webhooks.service import count_endpoints, delete_tenant_webhooks

# Shown in key lists so a user can tell keys apart without the secret part.
KEY_PREFIX_LENGTH = 10


async def create_tenant(name: str) -> schemas.Tenant:
    tenant = await Tenant.create(id=Tenant.make_id(), name=name)
    return schemas.Tenant.of(tenant)


async def _tenant(tenant_id: str) -> Tenant:
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise not_found("tenant")
    return tenant


async def get_tenant(tenant_id: str) -> schemas.TenantWithUsage:
    tenant = await _tenant(tenant_id)
    usage = schemas.TenantUsage(
        sessions=await count_sessions(tenant_id),
        messages_today=await count_messages_today(tenant_id),
        webhooks=await count_endpoints(tenant_id),
    )
    return schemas.TenantWithUsage.of(tenant, usage=usage)


async def update_tenant(tenant_id: str, body: dict[str, Any]) -> schemas.TenantWithUsage:
    """``body`` is checked as a ``TenantUpdate`` once the tenant is known (unknown ids: 404)."""
    await _tenant(tenant_id)
    changes = dict(parse(schemas.TenantUpdate, body).root)
    if changes:
        await Tenant.filter(id=tenant_id).update(**changes)
    return await get_tenant(tenant_id)


async def list_tenants(*, limit: int, cursor: str | None) -> list[schemas.Tenant]:
    query = Tenant.all()
    if cursor:
        query = query.filter(id__gt=cursor)
    return [schemas.Tenant.of(t) for t in await query.order_by("id").limit(limit)]


async def delete_tenant(redis: Redis, tenant_id: str) -> None:
    """Revoke access at once (its keys, their JWTs and sockets); sessions are handed to the workers.

    Sessions are not deleted here: their WhatsApp credentials live with the
    worker that owns them, so they are marked ``deleted`` and the owner logs
    out, erases the credentials and removes the row.
    """
    await _tenant(tenant_id)
    now = datetime.now(UTC)
    async with in_transaction() as connection:
        keys = ApiKey.filter(tenant_id=tenant_id).using_db(connection)
        key_ids = [str(key_id) for key_id in await keys.values_list("id", flat=True)]
        await keys.delete()
        await delete_tenant_webhooks(tenant_id, connection)
        session_ids = (
            await Session.filter(tenant_id=tenant_id).using_db(connection).values_list("id", flat=True)
        )
        await (
            Session.filter(tenant_id=tenant_id)
            .using_db(connection)
            .update(desired_state=DesiredState.DELETED, updated_at=now)
        )
        await Tenant.filter(id=tenant_id).using_db(connection).delete()
    await publish_revocation(redis, key_ids, tenant_id=tenant_id)
    await wake_supervisors(redis, [str(session_id) for session_id in session_ids])


async def create_api_key(tenant_id: str, name: str | None) -> schemas.ApiKeyCreated:
    """The only time the key itself is returned; the database keeps its hash."""
    await _tenant(tenant_id)
    key = generate_api_key()
    row = await ApiKey.create(
        id=ApiKey.make_id(),
        tenant_id=tenant_id,
        name=name,
        prefix=key[:KEY_PREFIX_LENGTH],
        key_hash=hash_api_key(key),
    )
    return schemas.ApiKeyCreated.of(row, key=key)


async def list_api_keys(tenant_id: str, *, limit: int, cursor: str | None) -> list[schemas.ApiKey]:
    await _tenant(tenant_id)
    query = ApiKey.filter(tenant_id=tenant_id)
    if cursor:
        query = query.filter(id__gt=cursor)
    return [schemas.ApiKey.of(k) for k in await query.order_by("id").limit(limit)]


async def delete_api_key(redis: Redis, tenant_id: str, key_id: str) -> None:
    """The key, the JWTs minted with it and the sockets either opened stop working at once."""
    await _tenant(tenant_id)
    if not await ApiKey.filter(id=key_id, tenant_id=tenant_id).delete():
        raise not_found("API key")
    await publish_revocation(redis, [key_id])


async def list_tenant_sessions(
    redis: Redis, tenant_id: str, *, limit: int, cursor: str | None
) -> list[SessionView]:
    """A tenant's sessions as its own key would list them, for the operator (``relay sessions list``)."""
    await _tenant(tenant_id)
    return await list_sessions(redis, tenant_id, limit=limit, cursor=cursor)
