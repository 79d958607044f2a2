"""``GET /v1/ws``: authenticate the socket, then hand it to a ``FeedConnection``.

Where the token comes from, in order: ``?token=`` (browsers cannot set
headers on a WebSocket), ``Authorization: Bearer``, or, when the handshake
carries neither, the first frame ``{"type":"auth","token":...}`` within
``WS_AUTH_TIMEOUT`` seconds (the server says ``auth_required`` first).

How a token is refused:
- in the handshake, the upgrade is denied with a real HTTP answer (a
  problem+json 401 for a bad token, 403 for the admin token), so clients see
  an HTTP status rather than a socket that opens and closes with code 1000;
- in the first frame, the server answers an ``error`` frame and closes with
  4401 (bad token) or 4403 (admin token);
- with no auth frame in time: close 4401 "authentication timeout".
A refused token never gets ``ready``. The admin token is refused because the
feed is per tenant: the admin has no tenant to follow.

A socket opened with a JWT is closed with 4401 "token expired" when the JWT
expires (as Centrifugo does), so a short-lived browser token cannot outlive its
purpose; the client reconnects with a fresh token and ``since``. A socket
opened with an API key, or with a JWT minted from it, is closed with 4410
("API key revoked" or "tenant deleted") when the key is revoked or its tenant
deleted, in whichever web process holds it (``relay.web.revocation``).

Why ``FeedDispatch`` answers ``/v1/ws`` ahead of the HTTP middleware stack: a
middleware that wraps ``send`` adds a coroutine call to every frame of every
socket, and every layer keeps a coroutine frame alive for the socket's whole
life; none of them does anything for the feed (it authenticates itself, has no
body, and answers a dependency outage itself, below). The ``WebSocketRoute``
stays in the route list so the OpenAPI document still lists the path.

Liveness: uvicorn pings every socket (``ws_ping_interval``, 20 s by default)
and drops peers that do not answer, so the app adds no keepalive of its own;
an application-level ``ping`` frame is answered with ``pong`` for clients
(browsers) that cannot see protocol pings.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import parse_qsl, urlencode

import anyio
import jwt
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from relay.core.constants import WS_AUTH_TIMEOUT, WS_CLOSE_TIMEOUT
from relay.core.logging_setup import bind_log_context
from relay.core.metrics import WEBSOCKET_CONNECTIONS
from relay.core.problems import Problem
from relay.web.auth import Principal, authenticate_token
from relay.web.responses import outage_problem, problem_response
from relay.web.revocation import live_keys
from relay.web.ws import protocol
from relay.web.ws.connection import TRY_AGAIN_LATER, FeedConnection
from relay.web.ws.protocol import Auth, ProtocolError

log = logging.getLogger("relay.web.ws")

FEED_PATH = "/v1/ws"
UNAUTHORIZED = 4401
FORBIDDEN = 4403
ADMIN_REFUSED = "the admin token cannot open the feed; use a tenant API key or token"


def token_expiry(token: str) -> float | None:
    """When an already verified JWT expires (epoch seconds); API keys do not expire."""
    if token.count(".") != 2:
        return None
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return float(exp) if isinstance(exp, int | float) else None


def handshake_token(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        _redact_query_token(websocket)
        return token
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _redact_query_token(websocket: WebSocket) -> None:
    """Keep credentials out of access logs.

    uvicorn logs the handshake line ("WebSocket /v1/ws?token=... [accepted]")
    from this very scope when the app answers, so the token is masked in it
    first; the app has already read it.
    """
    query = websocket.scope.get("query_string", b"").decode("latin-1")
    pairs = [
        (name, "redacted" if name == "token" else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    websocket.scope["query_string"] = urlencode(pairs).encode("latin-1")


async def feed(websocket: WebSocket) -> None:
    settings = websocket.state.settings
    # Read before authenticating: a revocation that lands between the check and ``watch`` is caught there.
    revocations_seen = live_keys.generation
    token = handshake_token(websocket)
    principal: Principal | None = None
    if token is not None:
        principal = await authenticate_token(token, settings)
        if principal is None or principal.tenant_id is None:
            problem = Problem(401, "invalid token") if principal is None else Problem(403, ADMIN_REFUSED)
            await websocket.send_denial_response(problem_response(problem, instance=websocket.url.path))
            return
    await websocket.accept()
    WEBSOCKET_CONNECTIONS.inc()
    try:
        if principal is None:
            authenticated = await _authenticate_first_frame(websocket)
            if authenticated is None:
                return
            principal, token = authenticated
        assert principal.tenant_id is not None and principal.key_id is not None and token is not None
        bind_log_context(tenant=principal.tenant_id)
        await websocket.send_text(protocol.ready(principal.tenant_id))
        connection = FeedConnection(
            websocket,
            tenant_id=principal.tenant_id,
            settings=settings,
            redis=websocket.state.redis,
            fanout=websocket.state.fanout,
            watchdog=websocket.state.feed_watchdog,
            expires_at=token_expiry(token),
        )
        try:
            await live_keys.watch(
                connection,
                key_id=principal.key_id,
                tenant_id=principal.tenant_id,
                since_generation=revocations_seen,
            )
            await connection.run()
        finally:
            live_keys.unwatch(connection)
    except WebSocketDisconnect:
        pass  # the client left mid-handshake or mid-reply; nothing to clean up beyond the gauge
    finally:
        WEBSOCKET_CONNECTIONS.dec()


async def _authenticate_first_frame(websocket: WebSocket) -> tuple[Principal, str] | None:
    """Wait for a valid ``auth`` frame; anything else before it is answered with an error."""
    await websocket.send_text(protocol.auth_required())
    with anyio.move_on_after(WS_AUTH_TIMEOUT):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            try:
                frame = protocol.parse_frame(message.get("text", message.get("bytes")))
            except ProtocolError as exc:
                await websocket.send_text(protocol.error(str(exc)))
                continue
            if not isinstance(frame, Auth):
                await websocket.send_text(protocol.error("authenticate first with an auth frame"))
                continue
            principal = await authenticate_token(frame.token, websocket.state.settings)
            if principal is None:
                await _refuse(websocket, UNAUTHORIZED, "invalid token")
                return None
            if principal.tenant_id is None:
                await _refuse(websocket, FORBIDDEN, ADMIN_REFUSED)
                return None
            return principal, frame.token
    await _refuse(websocket, UNAUTHORIZED, "authentication timeout", say=False)
    return None


async def _refuse(websocket: WebSocket, code: int, reason: str, *, say: bool = True) -> None:
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    if say:
        await websocket.send_text(protocol.error(reason))
    await websocket.close(code=code, reason=reason)


async def serve_feed(websocket: WebSocket) -> None:
    """``feed``, with a dependency outage answered as the REST API answers it.

    Before the upgrade: a 503 problem+json with Retry-After (the database or Redis
    could not check the token); after it: close 1013 "try again later".
    """
    try:
        await feed(websocket)
    except Exception as exc:
        problem = outage_problem(exc)
        if problem is None:
            raise
        log.warning("%s during the feed handshake or run: %r", problem.detail, exc)
        # The client may be gone already: then there is nobody left to tell.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            if websocket.application_state == WebSocketState.CONNECTING:
                await websocket.send_denial_response(problem_response(problem, instance=websocket.url.path))
            elif websocket.application_state == WebSocketState.CONNECTED:
                with anyio.move_on_after(WS_CLOSE_TIMEOUT):
                    await websocket.close(code=TRY_AGAIN_LATER, reason=problem.detail)


class FeedDispatch:
    """Pure-ASGI: ``/v1/ws`` goes straight to the feed; everything else to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == FEED_PATH:
            await serve_feed(WebSocket(scope, receive, send))
            return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


routes = [WebSocketRoute(FEED_PATH, serve_feed)]
