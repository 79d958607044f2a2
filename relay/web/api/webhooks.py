"""Tenant routes for webhook endpoints and their deliveries (logic in ``webhooks.service``)."""

from __future__ import annotations

from relay.core.schemas import Page
from relay.web.api.operations import Access, Call, Routes
from webhooks import service
from webhooks.schemas import (
    Delivery,
    DeliveryQuery,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
    WebhookListQuery,
    WebhookReplay,
    WebhookReplayed,
    WebhookRotate,
    WebhookTestSent,
)

routes = Routes(tag="webhooks", access=Access.TENANT)


@routes.add(
    "POST",
    "/v1/webhooks",
    "Create a webhook endpoint (returns its secret)",
    takes=WebhookEndpointCreate,
    returns=WebhookEndpointWithSecret,
    status=201,
    errors=(429,),
)
async def create_webhook(call: Call[WebhookEndpointCreate]) -> WebhookEndpointWithSecret:
    return await service.create_endpoint(call.settings, call.tenant_id, call.input)


@routes.add(
    "GET", "/v1/webhooks", "List webhook endpoints", takes=WebhookListQuery, returns=Page[WebhookEndpoint]
)
async def list_webhooks(call: Call[WebhookListQuery]) -> Page[WebhookEndpoint]:
    page = call.input
    return Page.of(
        await service.list_endpoints(call.tenant_id, limit=page.limit, cursor=page.cursor), page.limit
    )


@routes.add(
    "GET", "/v1/webhooks/{webhook_id}", "Get a webhook endpoint", returns=WebhookEndpoint, errors=(404,)
)
async def get_webhook(call: Call[None]) -> WebhookEndpoint:
    return await service.get_endpoint(call.tenant_id, call.path("webhook_id"))


@routes.add(
    "PATCH",
    "/v1/webhooks/{webhook_id}",
    "Update a webhook endpoint",
    takes=WebhookEndpointUpdate,
    # The service checks the body once the endpoint is found: a foreign id is a 404 first.
    check_body_later=True,
    returns=WebhookEndpoint,
    errors=(404,),
)
async def update_webhook(call: Call[WebhookEndpointUpdate]) -> WebhookEndpoint:
    return await service.update_endpoint(
        call.settings, call.redis, call.tenant_id, call.path("webhook_id"), call.raw_body
    )


@routes.add("DELETE", "/v1/webhooks/{webhook_id}", "Delete a webhook endpoint", status=204, errors=(404,))
async def delete_webhook(call: Call[None]) -> None:
    await service.delete_endpoint(call.tenant_id, call.path("webhook_id"))


@routes.add(
    "POST",
    "/v1/webhooks/{webhook_id}/rotate-secret",
    "Rotate the signing secret; the old one keeps signing during the grace period",
    takes=WebhookRotate,
    optional_body=True,
    returns=WebhookEndpointWithSecret,
    errors=(404,),
)
async def rotate_secret(call: Call[WebhookRotate]) -> WebhookEndpointWithSecret:
    return await service.rotate_secret(call.tenant_id, call.path("webhook_id"), call.input)


@routes.add(
    "POST",
    "/v1/webhooks/{webhook_id}/test",
    "Send a webhook.test event to this endpoint",
    returns=WebhookTestSent,
    status=202,
    errors=(404, 409),
)
async def test_webhook(call: Call[None]) -> WebhookTestSent:
    return await service.send_test(call.redis, call.tenant_id, call.path("webhook_id"))


@routes.add(
    "GET",
    "/v1/webhooks/{webhook_id}/deliveries",
    "An endpoint's deliveries with their attempt logs",
    takes=DeliveryQuery,
    returns=Page[Delivery],
    errors=(404,),
)
async def list_deliveries(call: Call[DeliveryQuery]) -> Page[Delivery]:
    query = call.input
    deliveries = await service.list_deliveries(
        call.tenant_id, call.path("webhook_id"), status=query.status, limit=query.limit, cursor=query.cursor
    )
    return Page.of(deliveries, query.limit)


@routes.add(
    "POST",
    "/v1/webhooks/{webhook_id}/replay",
    "Redeliver every matching event between since and until",
    takes=WebhookReplay,
    returns=WebhookReplayed,
    status=202,
    errors=(404, 409),
)
async def replay(call: Call[WebhookReplay]) -> WebhookReplayed:
    return await service.replay(call.redis, call.tenant_id, call.path("webhook_id"), call.input)


@routes.add(
    "GET",
    "/v1/deliveries/{delivery_id}",
    "Get a delivery with its attempt log",
    returns=Delivery,
    errors=(404,),
)
async def get_delivery(call: Call[None]) -> Delivery:
    return await service.get_delivery(call.tenant_id, call.path("delivery_id"))


@routes.add(
    "POST",
    "/v1/deliveries/{delivery_id}/retry",
    "Retry one delivery now",
    returns=Delivery,
    status=202,
    errors=(404, 409),
)
async def retry_delivery(call: Call[None]) -> Delivery:
    return await service.retry_delivery(call.redis, call.tenant_id, call.path("delivery_id"))
