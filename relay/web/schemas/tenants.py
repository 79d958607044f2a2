"""The admin's bodies: tenants and their API keys."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, RootModel
from typing_extensions import TypedDict

from relay.core import models
from relay.core.schemas import (
    ApiKeyId,
    Between,
    Identified,
    NullsOmitted,
    OptionalQuery,
    PageQuery,
    ResponseBody,
    TenantId,
    Timestamp,
)
from relay.web.schemas.fields import Name


class TenantCreate(NullsOmitted):
    name: Name


class TenantListQuery(PageQuery):
    cursor: OptionalQuery[TenantId] = None


class ApiKeyListQuery(PageQuery):
    cursor: OptionalQuery[ApiKeyId] = None


# A 32-bit column on every backend.
MAX_QUOTA = 2_147_483_647

QuotaLimit = Annotated[
    int,
    Between(0, MAX_QUOTA),
    Field(description="The most the tenant may have; null: unlimited."),
]


class TenantChanges(TypedDict, total=False):
    """The fields of a PATCH: each one sent is changed, a field left out keeps its value."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]  # read by pydantic

    name: Name
    max_sessions: QuotaLimit | None
    max_messages_per_day: QuotaLimit | None
    max_webhooks: QuotaLimit | None


class TenantUpdate(RootModel[TenantChanges]):
    """``PATCH /v1/tenants/{id}``: only the fields sent change; a quota set to null is unlimited.

    A lower limit than the current usage refuses further creates; it deletes nothing.
    """


class Tenant(Identified):
    name: str
    max_sessions: int | None = Field(
        description="Sessions it may have (deleted ones excepted); null: no limit."
    )
    max_messages_per_day: int | None = Field(
        description="Messages it may send per UTC day, counted from 00:00 UTC; null: no limit."
    )
    max_webhooks: int | None = Field(description="Webhook endpoints it may have; null: no limit.")
    created_at: Timestamp

    @classmethod
    def of(cls, tenant: models.Tenant, **more: Any) -> Self:
        return cls(
            id=tenant.id,
            name=tenant.name,
            max_sessions=tenant.max_sessions,
            max_messages_per_day=tenant.max_messages_per_day,
            max_webhooks=tenant.max_webhooks,
            created_at=tenant.created_at,
            **more,
        )


class TenantUsage(ResponseBody):
    """What the quotas count now: the tenant's own rows only."""

    sessions: int
    messages_today: int = Field(description="Messages accepted since 00:00 UTC.")
    webhooks: int


class TenantWithUsage(Tenant):
    usage: TenantUsage


class ApiKeyCreate(NullsOmitted):
    name: Annotated[str, Field(max_length=200)] | None = None


class ApiKey(Identified):
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    name: str | None
    created_at: Timestamp
    last_used_at: Timestamp | None

    @classmethod
    def of(cls, row: models.ApiKey, **more: Any) -> Self:
        return cls(
            id=row.id,
            prefix=row.prefix,
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            **more,
        )


class ApiKeyCreated(ApiKey):
    key: str = Field(description="Shown once; starts with rk_. Relay keeps only its hash.")
