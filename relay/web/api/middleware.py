"""Pure-ASGI middleware: outages answered 503, a request body limit and bearer-token authentication.

The last two run before routing so an oversize or unauthenticated request costs
the server no handler work.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relay.core.config import Settings
from relay.core.logging_setup import bind_log_context
from relay.core.problems import Problem
from relay.web.auth import authenticate_token
from relay.web.responses import outage_problem, problem_response

log = logging.getLogger("relay.web.api")

# WebSocket close code 1013 "Try Again Later" (RFC 6455 registry): the server cannot serve the socket now.
TRY_AGAIN_LATER = 1013


class DependencyOutageMiddleware:
    """503 problem+json with ``Retry-After`` when the database or Redis is unreachable.

    Outermost, so the token lookup is covered too. Handlers need not catch
    anything: a connection-level failure anywhere in the request (a refused
    connection, a timeout) propagates here and is answered instead of a 500.
    A WebSocket handshake is refused the same way before the upgrade (or, once
    accepted, closed with 1013 "try again later").
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        sent: set[str] = set()

        async def tracking_send(message: Message) -> None:
            sent.add(message["type"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            problem = outage_problem(exc)
            if problem is None:
                raise
            log.warning(
                "%s during %s %s: %r", problem.detail, scope.get("method", "WEBSOCKET"), scope["path"], exc
            )
            if scope["type"] == "http":
                if "http.response.start" in sent:
                    raise
                await problem_response(problem, instance=scope["path"])(scope, receive, send)
            else:
                await _refuse_websocket(problem, scope, receive, send, sent)


async def _refuse_websocket(
    problem: Problem, scope: Scope, receive: Receive, send: Send, sent: set[str]
) -> None:
    if sent & {"websocket.close", "websocket.http.response.start"}:
        return  # already closed or refused: nothing left to tell the client
    if "websocket.accept" not in sent and "websocket.http.response" in scope.get("extensions", {}):
        await problem_response(problem, instance=scope["path"])(scope, receive, send)
        return
    await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": problem.detail})


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: declared (Content-Length) or streamed (chunked)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = Problem(413, f"request body is larger than {self.max_bytes} bytes")
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await problem_response(too_large, instance=scope["path"])(scope, receive, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the handler's body read; the Problem handler answers 413.
                    raise too_large
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Problem as exc:
            if exc is not too_large or response_started:
                raise
            await problem_response(too_large, instance=scope["path"])(scope, receive, send)


class BearerAuthMiddleware:
    """Resolve ``Authorization: Bearer`` into ``scope["principal"]`` for ``/v1`` HTTP routes.

    The WebSocket feed authenticates itself (the token may arrive in the first
    frame), so only HTTP scopes are checked here.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        principal = None
        if scheme.lower() == "bearer":
            principal = await authenticate_token(token.strip(), self.settings)
        if principal is None:
            problem = Problem(401, "missing or invalid bearer token")
            await problem_response(problem, instance=path)(scope, receive, send)
            return
        scope["principal"] = principal
        bind_log_context(tenant=principal.tenant_id)
        await self.app(scope, receive, send)


def middleware(settings: Settings) -> list[Middleware]:
    return [
        Middleware(DependencyOutageMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(BearerAuthMiddleware, settings=settings),
    ]
