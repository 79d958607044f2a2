"""The admin's bodies: tenants and their API keys."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field

from relay.core import models
from relay.core.schemas import (
    ApiKeyId,
    Identified,
    NullsOmitted,
    OptionalQuery,
    PageQuery,
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


class Tenant(Identified):
    name: str
    created_at: Timestamp

    @classmethod
    def of(cls, tenant: models.Tenant) -> Self:
        return cls(id=tenant.id, name=tenant.name, created_at=tenant.created_at)


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
