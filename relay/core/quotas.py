"""Tenant quotas: the admin's limits on sessions, webhooks and messages a day (null: unlimited).

Each create that a quota bounds runs in one transaction that first *locks the
tenant's row*, then counts the tenant's own rows in the database and inserts
only when under the limit. The lock makes creates of one tenant count in turn
across every web process (a row lock on Postgres; on SQLite the write lock the
update takes), so two racing requests can never both take the last place, and
the database stays the only truth: nothing to drift, nothing to rebuild after
a Redis loss. A refused create has inserted nothing, so it leaves no row.
Tenants without a limit take no lock (``limit_of`` reads the limit first).

Usage::

    endpoint = await create_within_quota(
        tenant_id,
        Quota.WEBHOOKS,
        count=lambda db: WebhookEndpoint.filter(tenant_id=tenant_id).using_db(db).count(),
        create=lambda db: WebhookEndpoint.create(using_db=db, ...),
    )
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from relay.core.models import Tenant
from relay.core.problems import Problem, not_found

CreatedT = TypeVar("CreatedT")

QUOTA_EXCEEDED = "https://relay.dev/problems/quota-exceeded"


class Quota(StrEnum):
    """A quota's name as a 429 names it: the tenant's field that sets it."""

    SESSIONS = "max_sessions"
    MESSAGES_PER_DAY = "max_messages_per_day"
    WEBHOOKS = "max_webhooks"


async def create_within_quota(
    tenant_id: str,
    quota: Quota,
    *,
    count: Callable[[BaseDBAsyncClient], Awaitable[int]],
    create: Callable[[BaseDBAsyncClient | None], Awaitable[CreatedT]],
) -> CreatedT:
    """``create(connection)`` if ``count(connection)`` (the tenant's rows so far) is under the limit.

    Raises the 429 ``check_quota`` describes, having created nothing. ``create`` gets ``None`` (the
    default connection, no transaction) when the tenant has no limit for ``quota``.
    """
    if await limit_of(tenant_id, quota) is None:
        return await create(None)
    async with in_transaction() as connection:
        check_quota(quota, await locked_limit(connection, tenant_id, quota), await count(connection))
        return await create(connection)


async def limit_of(tenant_id: str, quota: Quota) -> int | None:
    """The tenant's limit for ``quota`` (None: unlimited), read before the create's transaction opens.

    Only a tenant with a limit pays for ``locked_limit``.
    """
    return _limit(await Tenant.get_or_none(id=tenant_id), quota)


async def locked_limit(connection: BaseDBAsyncClient, tenant_id: str, quota: Quota) -> int | None:
    """Lock the tenant's row until ``connection``'s transaction ends, and read the limit under it.

    The transaction writes first: on SQLite a transaction that read before its first write
    cannot take the write lock once another process has written, so the lock comes first.
    """
    # UPDATE ... SET name = name: the portable "lock this row" (SQLite has no SELECT ... FOR UPDATE).
    await Tenant.filter(id=tenant_id).using_db(connection).update(name=F("name"))
    return _limit(await Tenant.get_or_none(id=tenant_id, using_db=connection), quota)


def _limit(tenant: Tenant | None, quota: Quota) -> int | None:
    if tenant is None:
        raise not_found("tenant")
    limit: int | None = getattr(tenant, quota.value)
    return limit


def check_quota(quota: Quota, limit: int | None, used: int, *, now: datetime | None = None) -> None:
    """Raise the 429 when one more would pass ``limit``; the daily quota says when it resets."""
    if limit is None or used < limit:
        return
    retry_after = None
    detail = f"{quota.value} is {limit}; "
    if quota is Quota.MESSAGES_PER_DAY:
        retry_after = seconds_until_next_utc_day(now or datetime.now(UTC))
        detail += f"the count starts again at 00:00 UTC, in {retry_after} s"
    else:
        detail += "delete one, or ask the admin to raise the limit"
    raise Problem(
        429,
        detail,
        title="Quota exceeded",
        type=QUOTA_EXCEEDED,
        quota=quota.value,
        limit=limit,
        retry_after=retry_after,
    )


def utc_day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: the daily message quota counts from here."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_until_next_utc_day(now: datetime) -> int:
    remaining = utc_day_start(now) + timedelta(days=1) - now
    return max(1, int(remaining.total_seconds() + 0.999))
