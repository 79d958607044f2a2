"""``GET /v1/tenant``: the caller's own tenant, its quotas and what it uses of them (read-only).

The admin sets the limits (``tenants``); a tenant may see them, so a dashboard
or a client can tell how close it is before a create is refused with 429.
"""

from __future__ import annotations

from relay.web.api.operations import Access, Call, Routes
from relay.web.schemas.tenants import TenantWithUsage
from relay.web.services import tenants as service

routes = Routes(tag="tenant", access=Access.TENANT)


@routes.add("GET", "/v1/tenant", "Your own tenant: its quotas and current usage", returns=TenantWithUsage)
async def get_own_tenant(call: Call[None]) -> TenantWithUsage:
    return await service.get_tenant(call.tenant_id)
