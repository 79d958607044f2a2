"""What the API tests share: the problem+json check, making a session, the app's route table.

Waiting for a session's status and linking a sandbox session are in ``tests.sessions``, shared with
the end-to-end tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from starlette.routing import BaseRoute

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; when given, ``field`` is named."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


async def create_session(
    client: httpx.AsyncClient, *, engine: str = "sandbox", start: bool = False, name: str = "test"
) -> dict[str, Any]:
    response = await client.post("/v1/sessions", json={"name": name, "engine": engine, "start": start})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def app_routes() -> list[BaseRoute]:
    """The web process's real route table (the app is built, not started)."""
    from relay.core.config import Settings
    from relay.web.app import create_app

    settings = Settings(data_dir=Path("."), database_url="sqlite://:memory:", redis_url=None)
    return create_app(settings).routes


def served_routes() -> set[tuple[str, str]]:
    """Every (method, path) the web process serves, read from the app's real route table."""
    from starlette.routing import Route, WebSocketRoute

    served: set[tuple[str, str]] = set()
    for route in app_routes():
        if isinstance(route, WebSocketRoute):
            served.add(("GET", route.path))
        elif isinstance(route, Route):
            served |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return served


def webhook_routes() -> set[tuple[str, str]]:
    """Routes owned by the webhooks package; its own tests cover their isolation and input."""

    from relay.web.api import webhooks

    return {(operation.method, operation.path) for operation in webhooks.routes.operations}
