"""Short-lived JWTs for browsers and WebSocket clients, minted with an API key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relay.core.problems import Problem
from relay.core.times import isoformat
from relay.web.api.common import JSONResponse, principal_of, read_json_object, require_tenant
from relay.web.auth import API_KEY_PREFIX, JWT_DEFAULT_TTL, JWT_MAX_TTL, issue_jwt
from relay.web.services.validation import optional_int


async def create_token(request: Request) -> Response:
    tenant_id = require_tenant(request)
    # A JWT may not mint its successor: a leaked browser token must expire for good.
    token_used = request.headers.get("authorization", "").partition(" ")[2].strip()
    if not token_used.startswith(API_KEY_PREFIX):
        raise Problem(403, "tokens are issued to API keys only")
    body = await read_json_object(request, allow_empty=True)
    ttl = optional_int(body, "ttl_seconds", minimum=1, maximum=JWT_MAX_TTL, default=JWT_DEFAULT_TTL)
    assert ttl is not None
    token, expires_at = issue_jwt(
        request.state.settings,
        tenant_id=tenant_id,
        subject=principal_of(request).subject,
        ttl_seconds=ttl,
    )
    return JSONResponse({"token": token, "expires_at": isoformat(expires_at)}, status_code=201)


routes = [Route("/v1/auth/token", create_token, methods=["POST"])]
