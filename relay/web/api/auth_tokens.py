"""Short-lived JWTs for browsers and WebSocket clients, minted with an API key."""

from __future__ import annotations

from relay.web.api.operations import Access, Call, Routes
from relay.web.auth import issue_jwt
from relay.web.schemas.auth import Token, TokenCreate

routes = Routes(tag="auth", access=Access.TENANT_API_KEY)


@routes.add(
    "POST",
    "/v1/auth/token",
    "Issue a short-lived JWT for a browser or WebSocket client",
    takes=TokenCreate,
    optional_body=True,
    returns=Token,
    status=201,
)
async def create_token(call: Call[TokenCreate]) -> Token:
    key_id = call.caller.key_id
    assert key_id is not None, "Access.TENANT_API_KEY admits API keys only"
    token, expires_at = issue_jwt(
        call.settings, tenant_id=call.tenant_id, key_id=key_id, ttl_seconds=call.input.ttl_seconds
    )
    return Token(token=token, expires_at=expires_at)
