"""Admin routes: tenants and their API keys."""

from __future__ import annotations

from relay.core.schemas import Page
from relay.web.api.operations import DATABASE_AND_REDIS, Access, Call, Routes
from relay.web.schemas.sessions import Session, SessionListQuery
from relay.web.schemas.tenants import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyListQuery,
    Tenant,
    TenantCreate,
    TenantListQuery,
    TenantUpdate,
    TenantWithUsage,
)
from relay.web.services import tenants as service

routes = Routes(tag="admin", access=Access.ADMIN)


@routes.add("POST", "/v1/tenants", "Create a tenant", takes=TenantCreate, returns=Tenant, status=201)
async def create_tenant(call: Call[TenantCreate]) -> Tenant:
    return await service.create_tenant(call.input.name)


@routes.add("GET", "/v1/tenants", "List tenants", takes=TenantListQuery, returns=Page[Tenant])
async def list_tenants(call: Call[TenantListQuery]) -> Page[Tenant]:
    page = call.input
    return Page.of(await service.list_tenants(limit=page.limit, cursor=page.cursor), page.limit)


@routes.add(
    "GET",
    "/v1/tenants/{tenant_id}",
    "Get a tenant, its quotas and usage",
    returns=TenantWithUsage,
    errors=(404,),
)
async def get_tenant(call: Call[None]) -> TenantWithUsage:
    return await service.get_tenant(call.path("tenant_id"))


@routes.add(
    "PATCH",
    "/v1/tenants/{tenant_id}",
    "Rename a tenant or set its quotas (null: unlimited)",
    takes=TenantUpdate,
    # The service checks the body once the tenant is found: an unknown id is a 404 first.
    check_body_later=True,
    returns=TenantWithUsage,
    errors=(404,),
)
async def update_tenant(call: Call[TenantUpdate]) -> TenantWithUsage:
    return await service.update_tenant(call.path("tenant_id"), call.raw_body)


@routes.add(
    "DELETE",
    "/v1/tenants/{tenant_id}",
    "Delete a tenant, its keys, webhooks and sessions",
    status=204,
    errors=(404,),
)
async def delete_tenant(call: Call[None]) -> None:
    await service.delete_tenant(call.redis, call.path("tenant_id"))


@routes.add(
    "POST",
    "/v1/tenants/{tenant_id}/api-keys",
    "Create an API key (the key is shown once)",
    takes=ApiKeyCreate,
    optional_body=True,
    returns=ApiKeyCreated,
    status=201,
    errors=(404,),
)
async def create_api_key(call: Call[ApiKeyCreate]) -> ApiKeyCreated:
    return await service.create_api_key(call.path("tenant_id"), call.input.name)


@routes.add(
    "GET",
    "/v1/tenants/{tenant_id}/api-keys",
    "List a tenant's API keys",
    takes=ApiKeyListQuery,
    returns=Page[ApiKey],
    errors=(404,),
)
async def list_api_keys(call: Call[ApiKeyListQuery]) -> Page[ApiKey]:
    page = call.input
    keys = await service.list_api_keys(call.path("tenant_id"), limit=page.limit, cursor=page.cursor)
    return Page.of(keys, page.limit)


@routes.add(
    "DELETE",
    "/v1/tenants/{tenant_id}/api-keys/{key_id}",
    "Revoke an API key, its JWTs and the sockets they opened, at once",
    status=204,
    errors=(404,),
)
async def delete_api_key(call: Call[None]) -> None:
    await service.delete_api_key(call.redis, call.path("tenant_id"), call.path("key_id"))


@routes.add(
    "GET",
    "/v1/tenants/{tenant_id}/sessions",
    "List a tenant's sessions, as its own API key lists them with GET /v1/sessions",
    takes=SessionListQuery,
    returns=Page[Session],
    errors=(404,),
    needs=DATABASE_AND_REDIS,
)
async def list_tenant_sessions(call: Call[SessionListQuery]) -> Page[Session]:
    page = call.input
    sessions = await service.list_tenant_sessions(
        call.redis, call.path("tenant_id"), limit=page.limit, cursor=page.cursor
    )
    return Page.of(sessions, page.limit)
