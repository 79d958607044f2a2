"""A real HTTP receiver on loopback that records what Relay sends and answers as scripted."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

from aiohttp import web

from tests.stack import free_port


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str | bytes = "ok"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """Each path answers with its script in order, then with its default reply forever."""

    def __init__(self, default: Reply | None = None) -> None:
        self.port = free_port()
        self.default = default or Reply()
        self.received: list[Received] = []
        self._scripts: dict[str, list[Reply]] = defaultdict(list)
        self._defaults: dict[str, Reply] = {}
        self._runner: web.AppRunner | None = None
        # Requests being answered right now, and the most there ever were, per path.
        self._in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def script(self, path: str, *replies: Reply, then: Reply | None = None) -> None:
        self._scripts["/" + path.lstrip("/")].extend(replies)
        if then is not None:
            self._defaults["/" + path.lstrip("/")] = then

    def at(self, path: str) -> list[Received]:
        path = "/" + path.lstrip("/")
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body, time.time())
        )
        script = self._scripts[request.path]
        reply = script.pop(0) if script else self._defaults.get(request.path, self.default)
        self._in_flight[request.path] += 1
        self.max_in_flight[request.path] = max(
            self.max_in_flight[request.path], self._in_flight[request.path]
        )
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self._in_flight[request.path] -= 1
        if isinstance(reply.body, bytes):
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, path: str, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if len(got) >= count:
                return got
            await asyncio.sleep(0.02)
        raise AssertionError(f"{path}: {len(self.at(path))} requests after {timeout}s, wanted {count}")
