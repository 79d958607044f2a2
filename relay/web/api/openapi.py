"""``GET /openapi.json``: the OpenAPI 3.1 description of every route the web process serves.

Generated from the app's route table: each REST route's declaration
(``relay.web.api.operations``) gives its summary, access, errors and the very
models its handler validates and answers with. Only the WebSocket feed, which
is not a REST operation, is described by hand here.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode
from starlette.responses import Response
from starlette.routing import BaseRoute, WebSocketRoute

import relay
from relay.core.problems import PROBLEM_CONTENT_TYPE, ProblemDetails
from relay.web.api.examples import example_of
from relay.web.api.operations import JSON, NOTHING, Access, Call, Operation, Routes, operation_of
from relay.web.api.path_ids import path_parameter_schema

COMPONENTS = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"{(\w+)}")

ERRORS = {
    400: "Malformed JSON",
    401: "Missing or invalid bearer token",
    403: "Token of the wrong kind (admin vs tenant)",
    404: "Unknown id, or one that belongs to another tenant",
    409: "Not possible in the session's current state",
    410: "Gone: removed after its retention period",
    413: "Body larger than the limit",
    416: "The Range asks for bytes past the end of the file",
    422: "Invalid field; `errors` names it",
    429: "A tenant quota is reached (type .../quota-exceeded, naming `quota` and `limit`)",
    502: "WhatsApp refused the request; `detail` quotes its reason",
    503: "A dependency is unavailable",
    504: "The session's worker did not answer in time",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}

WEBSOCKET_PATH = "/v1/ws"
WEBSOCKET_OPERATION: dict[str, Any] = {
    "summary": "The live event feed (WebSocket)",
    "description": "Upgrade to a WebSocket. The token comes as `?token=`, an Authorization "
    'header, or a first `{"type":"auth"}` frame. The protocol (frames, resume with `since`, '
    "send, ping, close codes) is at [/docs/websocket-feed](/docs/websocket-feed).",
    "tags": ["websocket"],
    "security": [],
    "parameters": [
        {
            "name": "token",
            "in": "query",
            "description": "Bearer token (API key or JWT)",
            "schema": {"type": "string"},
        }
    ],
    "responses": {
        "101": {"description": "The live event feed (WebSocket)"},
        "401": {
            "description": "Handshake refused: invalid token",
            "content": {
                PROBLEM_CONTENT_TYPE: {"schema": {"$ref": COMPONENTS.format(model="ProblemDetails")}}
            },
        },
    },
}

# (operation id, or "problem"; the JSON schema mode): requests validate, answers serialize.
SchemaKey = tuple[str, JsonSchemaMode]
QUERY = ".query"


def declared_shapes(operations: list[Operation]) -> dict[SchemaKey, Any]:
    """Every shape the operations declare: request bodies and queries, answers, and the problem."""
    shapes: dict[SchemaKey, Any] = {("problem", "serialization"): ProblemDetails}
    for operation in operations:
        name = _operation_id(operation)
        if operation.takes_body:
            shapes[(name, "validation")] = operation.takes
        if operation.takes_query:
            shapes[(name + QUERY, "validation")] = operation.takes
        if operation.returns is not None:
            shapes[(name, "serialization")] = operation.returns
    return shapes


def build_document(routes: list[BaseRoute]) -> dict[str, Any]:
    operations = [operation for route in routes if (operation := operation_of(route)) is not None]
    names = [_operation_id(operation) for operation in operations]
    if len(set(names)) != len(names):
        raise ValueError(f"handler names double as operation ids and must be unique: {sorted(names)}")
    schemas, definitions = TypeAdapter.json_schemas(
        [(name, mode, TypeAdapter(shape)) for (name, mode), shape in declared_shapes(operations).items()],
        ref_template=COMPONENTS,
    )
    components: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        entry = paths.setdefault(operation.path, _path_entry(operation.path))
        entry[operation.method.lower()] = _operation(operation, schemas, components)
    if any(isinstance(route, WebSocketRoute) and route.path == WEBSOCKET_PATH for route in routes):
        paths[WEBSOCKET_PATH] = {"get": WEBSOCKET_OPERATION}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Relay",
            "version": relay.__version__,
            "description": "Self-hosted, multi-tenant WhatsApp gateway. Errors are RFC 9457 "
            "application/problem+json; lists are {data, next_cursor} with ?limit= and ?cursor=. "
            "Live events: the WebSocket feed `GET /v1/ws`, its protocol at "
            "[/docs/websocket-feed](/docs/websocket-feed).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Admin token, tenant API key (rk_...) or JWT from /v1/auth/token",
                }
            },
        },
    }


def _operation_id(operation: Operation) -> str:
    return operation.handler.__name__


def _path_entry(path: str) -> dict[str, Any]:
    names = _PATH_PARAMETER.findall(path)
    if not names:
        return {}
    return {
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": path_parameter_schema(name)}
            for name in names
        ]
    }


def _operation(
    operation: Operation, schemas: dict[SchemaKey, Any], components: dict[str, Any]
) -> dict[str, Any]:
    key = _operation_id(operation)
    problem = {PROBLEM_CONTENT_TYPE: {"schema": schemas[("problem", "serialization")]}}
    success: dict[str, Any] = {"description": operation.summary}
    content: dict[str, Any] = {}
    if operation.returns is not None:
        answer = schemas[(key, "serialization")]
        content[JSON] = {"schema": answer, "example": example_of(answer, components)}
    content.update(operation.content)
    if content:
        success["content"] = content
    responses: dict[str, Any] = {str(operation.status): success}
    for status, description in operation.also.items():
        # A redirect or a 304 carries no body (RFC 9110), so it documents none.
        bodiless = 300 <= status < 400
        responses[str(status)] = (
            {"description": description} if bodiless else {**success, "description": description}
        )
    for code in sorted(_error_codes(operation)):
        responses[str(code)] = {"description": ERRORS[code], "content": problem}
    if "429" in responses:
        # Only the daily message quota resets by itself; the header says when.
        responses["429"]["headers"] = RETRY_AFTER
    if operation.needs:
        responses["503"].update(
            description=f"The {' or '.join(sorted(operation.needs))} is unavailable; retry after Retry-After",
            headers=RETRY_AFTER,
        )
    documented: dict[str, Any] = {
        "operationId": key,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": dict(sorted(responses.items())),
    }
    if operation.takes_body:
        body = schemas[(key, "validation")]
        documented["requestBody"] = {
            "required": not operation.optional_body,
            "content": {JSON: {"schema": body, "example": example_of(body, components)}},
        }
    parameters = [*operation.parameters]
    if operation.takes_query:
        parameters[:0] = _query_parameters(_component(schemas[(key + QUERY, "validation")], components))
    if parameters:
        documented["parameters"] = parameters
    if operation.access is Access.PUBLIC:
        documented["security"] = []
    return documented


def _error_codes(operation: Operation) -> set[int]:
    """The refusals a route declares, plus those its shape implies (auth, body, query)."""
    codes = set(operation.errors)
    if operation.access is not Access.PUBLIC:
        codes |= {401, 403}
    if operation.takes_body:
        codes |= {400, 413, 422}
    if operation.takes_query:
        codes.add(422)
    if operation.needs:
        codes.add(503)
    return codes


def _component(reference: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = components[reference["$ref"].rpartition("/")[2]]
    return schema


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """One query parameter per field of the route's query model."""
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "schema": field_schema}
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        if name in required:
            parameter["required"] = True
        parameters.append(parameter)
    return parameters


routes = Routes(tag="ops", access=Access.PUBLIC, needs=NOTHING)


@routes.add("GET", "/openapi.json", "This document", returns=dict[str, Any])
async def openapi_json(call: Call[None]) -> Response:
    app = call.request.app
    document = getattr(app.state, "openapi_document", None)
    if document is None:
        # Built once per app, from the routes it really serves.
        document = app.state.openapi_document = orjson.dumps(build_document(app.routes))
    return Response(document, media_type=JSON)
