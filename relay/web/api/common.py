"""What every route handler needs: the caller, the JSON body, pagination."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from relay.core.problems import Problem, invalid
from relay.web.auth import Principal

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def principal_of(request: Request) -> Principal:
    principal = request.scope.get("principal")
    if principal is None:
        raise Problem(401, "missing or invalid bearer token")
    return principal  # type: ignore[no-any-return]


def require_tenant(request: Request) -> str:
    """The caller's tenant id; admins are refused because tenant data needs a tenant's key."""
    principal = principal_of(request)
    if principal.tenant_id is None:
        raise Problem(403, "this route needs a tenant API key or tenant token")
    return principal.tenant_id


def require_admin(request: Request) -> Principal:
    principal = principal_of(request)
    if not principal.is_admin:
        raise Problem(403, "this route needs the admin token")
    return principal


async def read_json_object(request: Request, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object: 400 when it is not JSON, 422 when it is not an object."""
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return {}
        raise Problem(400, "request body must be a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def page_params(request: Request) -> tuple[int, str | None]:
    raw_limit = request.query_params.get("limit")
    limit = DEFAULT_PAGE_SIZE
    if raw_limit is not None:
        try:
            limit = int(raw_limit)
        except ValueError as exc:
            raise invalid("limit", "must be an integer") from exc
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise invalid("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
    return limit, request.query_params.get("cursor") or None


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """Lists are ordered by id; the cursor is the last id returned."""
    next_cursor = items[-1]["id"] if len(items) == limit and items else None
    return {"data": items, "next_cursor": next_cursor}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
