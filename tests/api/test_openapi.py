"""The OpenAPI document describes every route the web process really serves, with the models it uses."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from pydantic.json_schema import JsonSchemaMode
from starlette.routing import WebSocketRoute

from relay.core.schemas import json_schema
from relay.web.api.operations import JSON, operation_of
from tests.api.flows import app_routes, served_routes

_PARAM = re.compile(r"{[^}]+}")


def _shape(path: str) -> str:
    # Parameter names are documentation; the shape of the path is the contract.
    return _PARAM.sub("{}", path)


async def test_every_served_route_is_documented(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")

    documented = {
        (method.upper(), _shape(path))
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = {(method, _shape(path)) for method, path in served_routes()}
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


async def test_operations_are_complete(anonymous: httpx.AsyncClient) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation["summary"] and operation["responses"], (method, path)
    for reference in re.findall(r'"\$ref": ?"#/components/schemas/(\w+)"', json.dumps(document)):
        assert reference in schemas, reference


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """``schema`` with every ``$ref`` replaced by what it points to, so two documents compare by content."""
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    inlined = {
        key: _inline(value, definitions) for key, value in schema.items() if key not in ("$ref", "$defs")
    }
    if "$ref" in schema:
        target = definitions[schema["$ref"].rpartition("/")[2]]
        inlined = {**_inline(target, definitions), **inlined}
    return inlined


def _declared(shape: Any, mode: JsonSchemaMode) -> Any:
    schema = json_schema(shape, mode=mode)
    return _inline(schema, schema.get("$defs", {}))


async def test_routes_document_the_very_models_their_handlers_use(anonymous: httpx.AsyncClient) -> None:
    """What a route validates and answers with is what /openapi.json says, for every route of the app."""
    document = (await anonymous.get("/openapi.json")).json()
    components = document["components"]["schemas"]

    def documented(schema: Any) -> Any:
        return _inline(schema, components)

    for route in app_routes():
        if isinstance(route, WebSocketRoute):
            assert route.path in document["paths"], route.path
            continue
        operation = operation_of(route)
        assert operation is not None, f"{route.path} is served without a declaration"
        entry = document["paths"][operation.path][operation.method.lower()]
        where = f"{operation.method} {operation.path}"

        if operation.takes_body:
            body = entry["requestBody"]["content"][JSON]["schema"]
            assert documented(body) == _declared(operation.takes, "validation"), where
            assert entry["requestBody"]["required"] is not operation.optional_body, where
        else:
            assert "requestBody" not in entry, where

        query = {p["name"]: p for p in entry.get("parameters", ()) if p["in"] == "query"}
        if operation.takes_query:
            model = _declared(operation.takes, "validation")
            assert {name: documented(p["schema"]) for name, p in query.items()} == model["properties"], where
        else:
            assert query == {}, where

        for status in (operation.status, *operation.also):
            answer = entry["responses"][str(status)]
            if operation.returns is None:
                assert JSON not in answer.get("content", {}), where
            else:
                schema = answer["content"][JSON]["schema"]
                assert documented(schema) == _declared(operation.returns, "serialization"), (where, status)


async def test_routes_document_the_503_of_what_they_need(anonymous: httpx.AsyncClient) -> None:
    """A route that needs the database or Redis documents its 503 and Retry-After; the probes that need
    nothing (liveness, this document) do not."""
    document = (await anonymous.get("/openapi.json")).json()
    for route in app_routes():
        operation = operation_of(route)
        if operation is None:
            continue
        responses = document["paths"][operation.path][operation.method.lower()]["responses"]
        where = f"{operation.method} {operation.path}"
        if not operation.needs:
            assert "503" not in responses, where
            continue
        unavailable = responses["503"]
        assert "Retry-After" in unavailable["headers"], where
        assert all(dependency in unavailable["description"] for dependency in operation.needs), where
