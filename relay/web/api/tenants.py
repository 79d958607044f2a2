"""Admin routes: tenants and their API keys."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.web.api.common import JSONResponse, page, page_params, read_json_object, require_admin
from relay.web.services import tenants as service
from relay.web.services.validation import optional_string, require_string


async def create_tenant(request: Request) -> Response:
    require_admin(request)
    body = await read_json_object(request)
    name = require_string(body, "name", max_length=200)
    return JSONResponse(await service.create_tenant(name), status_code=201)


async def list_tenants(request: Request) -> Response:
    require_admin(request)
    limit, cursor = page_params(request)
    return JSONResponse(page(await service.list_tenants(limit=limit, cursor=cursor), limit))


async def get_tenant(request: Request) -> Response:
    require_admin(request)
    return JSONResponse(await service.get_tenant(request.path_params["tenant_id"]))


async def delete_tenant(request: Request) -> Response:
    require_admin(request)
    await service.delete_tenant(request.state.redis, request.path_params["tenant_id"])
    return Response(status_code=204)


async def create_api_key(request: Request) -> Response:
    require_admin(request)
    body = await read_json_object(request, allow_empty=True)
    name = optional_string(body, "name", max_length=200)
    key = await service.create_api_key(request.path_params["tenant_id"], name)
    return JSONResponse(key, status_code=201)


async def list_api_keys(request: Request) -> Response:
    require_admin(request)
    limit, cursor = page_params(request)
    keys = await service.list_api_keys(request.path_params["tenant_id"], limit=limit, cursor=cursor)
    return JSONResponse(page(keys, limit))


async def delete_api_key(request: Request) -> Response:
    require_admin(request)
    await service.delete_api_key(request.path_params["tenant_id"], request.path_params["key_id"])
    return Response(status_code=204)


routes = [
    Route("/v1/tenants", create_tenant, methods=["POST"]),
    Route("/v1/tenants", list_tenants, methods=["GET"]),
    Route("/v1/tenants/{tenant_id}", get_tenant, methods=["GET"]),
    Route("/v1/tenants/{tenant_id}", delete_tenant, methods=["DELETE"]),
    Route("/v1/tenants/{tenant_id}/api-keys", create_api_key, methods=["POST"]),
    Route("/v1/tenants/{tenant_id}/api-keys", list_api_keys, methods=["GET"]),
    Route("/v1/tenants/{tenant_id}/api-keys/{key_id}", delete_api_key, methods=["DELETE"]),
]
