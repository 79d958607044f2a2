"""``GET /openapi.json``: the OpenAPI 3.1 description of every route the web process serves.

Written by hand rather than generated: the handlers are plain Starlette
functions, and the contract (SPEC.md) is what this document must match.
``tests/api/test_openapi.py`` walks the app's real route table so a route
cannot be added without being documented here.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import relay
from relay.web.api.common import JSONResponse
from relay.web.api.openapi_schemas import SCHEMAS, list_of, ref

_PATH_PARAM = re.compile(r"{(\w+)}")
PROBLEM = {"application/problem+json": {"schema": ref("Problem")}}
ERRORS = {
    400: "Malformed JSON",
    401: "Missing or invalid bearer token",
    403: "Token of the wrong kind (admin vs tenant)",
    404: "Unknown id, or one that belongs to another tenant",
    409: "Not possible in the session's current state",
    413: "Body larger than the limit",
    422: "Invalid field; `errors` names it",
    503: "A dependency is unavailable",
    504: "The session's worker did not answer in time",
}
PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
]


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema or {"type": "string"}}


def op(
    summary: str,
    tag: str,
    *,
    status: int = 200,
    returns: dict[str, Any] | str | None = None,
    body: str | None = None,
    errors: tuple[int, ...] = (),
    query: list[dict[str, Any]] | None = None,
    public: bool = False,
    extra: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One operation; the auth, body and not-found errors are implied by its shape."""
    response: dict[str, Any] = {"description": summary}
    if isinstance(returns, str):
        response["content"] = {"application/json": {"schema": ref(returns)}}
    elif returns is not None:
        response["content"] = {"application/json": {"schema": returns}}
    responses: dict[str, Any] = {str(status): response, **{str(k): v for k, v in (extra or {}).items()}}
    codes = set(errors)
    if not public:
        codes |= {401, 403}
    if body is not None:
        codes |= {400, 413, 422}
    for code in sorted(codes):
        responses[str(code)] = {"description": ERRORS[code], "content": PROBLEM}
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
    if query:
        operation["parameters"] = query
    if public:
        operation["security"] = []
    return operation


def _qr_operation() -> dict[str, Any]:
    operation = op(
        "The QR code to scan, as JSON or an image",
        "sessions",
        returns="Qr",
        errors=(404, 409, 422),
        query=[_query("format", "json (default), png or svg", {"enum": ["json", "png", "svg"]})],
    )
    content = operation["responses"]["200"]["content"]
    content["image/png"] = {"schema": {"type": "string", "contentMediaType": "image/png"}}
    content["image/svg+xml"] = {"schema": {"type": "string"}}
    return operation


_SESSION_ACTION = {"status": 202, "returns": "Session", "errors": (404, 409)}
_SANDBOX = {"status": 202, "returns": "SandboxAccepted", "errors": (404, 409, 422)}

PATHS: dict[str, dict[str, dict[str, Any]]] = {
    "/v1/tenants": {
        "post": op("Create a tenant", "admin", status=201, returns="Tenant", body="TenantCreate"),
        "get": op("List tenants", "admin", returns=list_of("Tenant"), query=PAGING, errors=(422,)),
    },
    "/v1/tenants/{tenant_id}": {
        "get": op("Get a tenant", "admin", returns="Tenant", errors=(404,)),
        "delete": op("Delete a tenant, its keys, webhooks and sessions", "admin", status=204, errors=(404,)),
    },
    "/v1/tenants/{tenant_id}/api-keys": {
        "post": op(
            "Create an API key (the key is shown once)",
            "admin",
            status=201,
            returns="ApiKeyCreated",
            body="ApiKeyCreate",
            errors=(404,),
        ),
        "get": op(
            "List a tenant's API keys", "admin", returns=list_of("ApiKey"), query=PAGING, errors=(404, 422)
        ),
    },
    "/v1/tenants/{tenant_id}/api-keys/{key_id}": {
        "delete": op("Revoke an API key at once", "admin", status=204, errors=(404,)),
    },
    "/v1/auth/token": {
        "post": op(
            "Issue a short-lived JWT for a browser or WebSocket client",
            "auth",
            status=201,
            returns="Token",
            body="TokenCreate",
        ),
    },
    "/v1/sessions": {
        "post": op("Create a session", "sessions", status=201, returns="Session", body="SessionCreate"),
        "get": op("List sessions", "sessions", returns=list_of("Session"), query=PAGING, errors=(422,)),
    },
    "/v1/sessions/{session_id}": {
        "get": op("Get a session", "sessions", returns="Session", errors=(404,)),
        "delete": op(
            "Delete a session: stop it and erase its WhatsApp credentials",
            "sessions",
            status=204,
            errors=(404,),
        ),
    },
    "/v1/sessions/{session_id}/start": {
        "post": op("Start a session (idempotent)", "sessions", **_SESSION_ACTION)
    },
    "/v1/sessions/{session_id}/stop": {
        "post": op("Stop a session (idempotent)", "sessions", **_SESSION_ACTION)
    },
    "/v1/sessions/{session_id}/logout": {
        "post": op("Unlink the device and erase its credentials", "sessions", **_SESSION_ACTION)
    },
    "/v1/sessions/{session_id}/qr": {"get": _qr_operation()},
    "/v1/sessions/{session_id}/pair-code": {
        "post": op(
            "Link by phone number: get the code to type on the phone",
            "sessions",
            returns="PairCode",
            body="PairCodeRequest",
            errors=(404, 409, 504),
        ),
    },
    "/v1/sessions/{session_id}/messages": {
        "post": op(
            "Send a message",
            "messages",
            status=201,
            returns="Message",
            body="MessageCreate",
            errors=(404, 409),
            extra={
                200: {
                    "description": "Idempotency-Key seen before: the earlier message",
                    "content": {"application/json": {"schema": ref("Message")}},
                },
                202: {
                    "description": "Queued; the outcome arrives as message.sent or message.failed",
                    "content": {"application/json": {"schema": ref("Message")}},
                },
            },
        )
        | {
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "maxLength": 200},
                    "description": "Retries with the same key return the first message and send nothing",
                }
            ]
        },
        "get": op(
            "List a session's outbound messages",
            "messages",
            returns=list_of("Message"),
            query=PAGING,
            errors=(404, 422),
        ),
    },
    "/v1/messages/{message_id}": {
        "get": op("Get an outbound message", "messages", returns="Message", errors=(404,))
    },
    "/v1/events": {
        "get": op(
            "Event history, oldest first",
            "events",
            returns=list_of("Event"),
            errors=(422,),
            query=[
                _query("session_id", "Only this session's events"),
                _query("type", "Only events of this type"),
                _query("after", "Only events after this event id"),
                *PAGING,
            ],
        )
    },
    "/v1/sessions/{session_id}/sandbox/scan": {
        "post": op("Sandbox: the phone scans the QR", "sandbox", body="SandboxScan", **_SANDBOX)
    },
    "/v1/sessions/{session_id}/sandbox/inbound": {
        "post": op("Sandbox: a contact writes to the session", "sandbox", body="SandboxInbound", **_SANDBOX)
    },
    "/v1/sessions/{session_id}/sandbox/drop": {
        "post": op("Sandbox: the connection breaks", "sandbox", **_SANDBOX)
    },
    "/v1/sessions/{session_id}/sandbox/logout": {
        "post": op("Sandbox: the phone unlinks the device", "sandbox", **_SANDBOX)
    },
    "/v1/webhooks": {
        "post": op(
            "Create a webhook endpoint (returns its secret)",
            "webhooks",
            status=201,
            returns="WebhookEndpoint",
            body="WebhookEndpointCreate",
        ),
        "get": op(
            "List webhook endpoints",
            "webhooks",
            returns=list_of("WebhookEndpoint"),
            query=PAGING,
            errors=(422,),
        ),
    },
    "/v1/webhooks/{webhook_id}": {
        "get": op("Get a webhook endpoint", "webhooks", returns="WebhookEndpoint", errors=(404,)),
        "patch": op(
            "Update a webhook endpoint",
            "webhooks",
            returns="WebhookEndpoint",
            body="WebhookEndpointUpdate",
            errors=(404,),
        ),
        "delete": op("Delete a webhook endpoint", "webhooks", status=204, errors=(404,)),
    },
    "/v1/webhooks/{webhook_id}/rotate-secret": {
        "post": op(
            "Rotate the signing secret; the old one keeps signing during the grace period",
            "webhooks",
            returns="WebhookEndpoint",
            body="WebhookRotate",
            errors=(404,),
        )
        | {
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": ref("WebhookRotate")}},
            }
        }
    },
    "/v1/webhooks/{webhook_id}/test": {
        "post": op(
            "Send a webhook.test event to this endpoint",
            "webhooks",
            status=202,
            returns="WebhookTestSent",
            errors=(404, 409),
        )
    },
    "/v1/webhooks/{webhook_id}/deliveries": {
        "get": op(
            "An endpoint's deliveries with their attempt logs",
            "webhooks",
            returns=list_of("Delivery"),
            errors=(404, 422),
            query=[_query("status", "pending, succeeded or failed"), *PAGING],
        )
    },
    "/v1/webhooks/{webhook_id}/replay": {
        "post": op(
            "Redeliver every matching event between since and until",
            "webhooks",
            status=202,
            returns="WebhookReplayed",
            body="WebhookReplay",
            errors=(404, 409),
        )
    },
    "/v1/deliveries/{delivery_id}": {
        "get": op("Get a delivery with its attempt log", "webhooks", returns="Delivery", errors=(404,))
    },
    "/v1/deliveries/{delivery_id}/retry": {
        "post": op("Retry one delivery now", "webhooks", status=202, returns="Delivery", errors=(404, 409))
    },
    "/v1/ws": {
        "get": op(
            "The live event feed (WebSocket)",
            "websocket",
            status=101,
            public=True,
            extra={401: {"description": "Handshake refused: invalid token", "content": PROBLEM}},
        )
        | {
            "description": "Upgrade to a WebSocket. The token comes as `?token=`, an Authorization "
            'header, or a first `{"type":"auth"}` frame. Frames are documented in the README '
            "and SPEC (subscribe with `since` to replay what was missed, send, ping).",
            "parameters": [_query("token", "Bearer token (API key or JWT)")],
        }
    },
    "/healthz": {"get": op("Liveness", "ops", returns="Health", public=True)},
    "/readyz": {
        "get": op(
            "Readiness: database and Redis reachable", "ops", returns="Ready", public=True, errors=(503,)
        )
    },
    "/metrics": {
        "get": op("Prometheus metrics", "ops", public=True)
        | {
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            }
        }
    },
    "/openapi.json": {"get": op("This document", "ops", returns={"type": "object"}, public=True)},
}


def _with_path_parameters(paths: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    documented: dict[str, Any] = {}
    for path, operations in paths.items():
        names = _PATH_PARAM.findall(path)
        entry: dict[str, Any] = dict(operations)
        if names:
            entry["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names
            ]
        documented[path] = entry
    return documented


def build_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Relay",
            "version": relay.__version__,
            "description": "Self-hosted, multi-tenant WhatsApp gateway. Errors are RFC 9457 "
            "application/problem+json; lists are {data, next_cursor} with ?limit= and ?cursor=.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _with_path_parameters(PATHS),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Admin token, tenant API key (rk_...) or JWT from /v1/auth/token",
                }
            },
        },
    }


_DOCUMENT = build_document()


async def openapi_json(request: Request) -> Response:
    return JSONResponse(_DOCUMENT)


routes = [Route("/openapi.json", openapi_json, methods=["GET"])]
