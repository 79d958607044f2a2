"""Tenant routes for webhook endpoints and their deliveries (logic in ``webhooks.service``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.web.api.common import JSONResponse, page, page_params, read_json_object, require_tenant
from webhooks import service
from webhooks.schemas import valid_status_filter


async def create_webhook(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request)
    endpoint = await service.create_endpoint(request.state.settings, tenant_id, body)
    return JSONResponse(endpoint, status_code=201)


async def list_webhooks(request: Request) -> Response:
    tenant_id = require_tenant(request)
    limit, cursor = page_params(request)
    return JSONResponse(page(await service.list_endpoints(tenant_id, limit=limit, cursor=cursor), limit))


async def get_webhook(request: Request) -> Response:
    tenant_id = require_tenant(request)
    return JSONResponse(await service.get_endpoint(tenant_id, request.path_params["webhook_id"]))


async def update_webhook(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request)
    endpoint = await service.update_endpoint(
        request.state.settings, request.state.redis, tenant_id, request.path_params["webhook_id"], body
    )
    return JSONResponse(endpoint)


async def delete_webhook(request: Request) -> Response:
    tenant_id = require_tenant(request)
    await service.delete_endpoint(tenant_id, request.path_params["webhook_id"])
    return Response(status_code=204)


async def rotate_secret(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request, allow_empty=True)
    return JSONResponse(await service.rotate_secret(tenant_id, request.path_params["webhook_id"], body))


async def test_webhook(request: Request) -> Response:
    tenant_id = require_tenant(request)
    result = await service.send_test(request.state.redis, tenant_id, request.path_params["webhook_id"])
    return JSONResponse(result, status_code=202)


async def list_deliveries(request: Request) -> Response:
    tenant_id = require_tenant(request)
    limit, cursor = page_params(request)
    status = valid_status_filter(request.query_params.get("status") or None)
    deliveries = await service.list_deliveries(
        tenant_id, request.path_params["webhook_id"], status=status, limit=limit, cursor=cursor
    )
    return JSONResponse(page(deliveries, limit))


async def replay(request: Request) -> Response:
    tenant_id = require_tenant(request)
    body = await read_json_object(request)
    result = await service.replay(request.state.redis, tenant_id, request.path_params["webhook_id"], body)
    return JSONResponse(result, status_code=202)


async def get_delivery(request: Request) -> Response:
    tenant_id = require_tenant(request)
    return JSONResponse(await service.get_delivery(tenant_id, request.path_params["delivery_id"]))


async def retry_delivery(request: Request) -> Response:
    tenant_id = require_tenant(request)
    delivery = await service.retry_delivery(
        request.state.redis, tenant_id, request.path_params["delivery_id"]
    )
    return JSONResponse(delivery, status_code=202)


routes: list[Route] = [
    Route("/v1/webhooks", create_webhook, methods=["POST"]),
    Route("/v1/webhooks", list_webhooks, methods=["GET"]),
    Route("/v1/webhooks/{webhook_id}", get_webhook, methods=["GET"]),
    Route("/v1/webhooks/{webhook_id}", update_webhook, methods=["PATCH"]),
    Route("/v1/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
    Route("/v1/webhooks/{webhook_id}/rotate-secret", rotate_secret, methods=["POST"]),
    Route("/v1/webhooks/{webhook_id}/test", test_webhook, methods=["POST"]),
    Route("/v1/webhooks/{webhook_id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/v1/webhooks/{webhook_id}/replay", replay, methods=["POST"]),
    Route("/v1/deliveries/{delivery_id}", get_delivery, methods=["GET"]),
    Route("/v1/deliveries/{delivery_id}/retry", retry_delivery, methods=["POST"]),
]
