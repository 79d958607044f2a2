"""The OpenAPI document describes every route the web process really serves."""

from __future__ import annotations

import json
import re

import httpx

from tests.api.flows import served_routes

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
