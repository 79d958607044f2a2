"""Every body /openapi.json documents has an example, and the route's own model accepts it."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import TypeAdapter

from relay.web.api.operations import JSON, operation_of
from tests.api.flows import app_routes


async def test_every_route_has_a_summary_and_an_example_its_model_accepts(
    anonymous: httpx.AsyncClient,
) -> None:
    document = (await anonymous.get("/openapi.json")).json()
    checked = 0
    for route in app_routes():
        operation = operation_of(route)
        if operation is None:
            continue
        entry: dict[str, Any] = document["paths"][operation.path][operation.method.lower()]
        where = f"{operation.method} {operation.path}"
        assert entry["summary"], where
        success = entry["responses"][str(operation.status)]
        for media_type, content in {**success.get("content", {}), **_body(entry)}.items():
            # A PNG's or a media file's bytes make no example; every text answer has one.
            if not media_type.startswith("image/png") and content["schema"].get("format") != "binary":
                assert "example" in content, (where, media_type)
        if operation.takes_body:
            example = entry["requestBody"]["content"][JSON]["example"]
            assert operation.takes is not None
            operation.takes.model_validate(example)
            checked += 1
        if operation.returns is not None:
            TypeAdapter(operation.returns).validate_python(success["content"][JSON]["example"])
            checked += 1
    assert checked > 40


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        f"request {kind}": content
        for kind, content in entry.get("requestBody", {}).get("content", {}).items()
    }
