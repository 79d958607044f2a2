"""A loopback HTTP proxy that refuses every tunnel, so the real Go core can dial "through" it offline.

The WhatsApp core sends ``CONNECT web.whatsapp.com:443 HTTP/1.1`` to a session's
proxy; this one records each request's first line and headers, answers
``403 Forbidden`` (or whatever ``status`` says) and closes; with ``hold=True`` it answers
nothing and keeps the connection open until it stops, as a proxy that hangs mid-dial. Usage::

    async with RefusingProxy() as proxy:
        url = proxy.url(user="alice", password="s3cret")   # http://alice:s3cret@127.0.0.1:PORT
        ...
        await proxy.wait_for_request()                     # -> "CONNECT web.whatsapp.com:443 HTTP/1.1"
        assert proxy.requests[0].authorization             # the Proxy-Authorization header, if sent
        await proxy.wait_for_connection()                  # any client, SOCKS5 too (no request line)
        await proxy.wait_for_connects(3)                   # three dials of WhatsApp so far
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field
from types import TracebackType

# A request head larger than this is not a proxy client's; the connection is dropped.
MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT_SECONDS = 5.0
# The request line of the WhatsApp core's dial.
WHATSAPP_CONNECT = "CONNECT web.whatsapp.com:443 "


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    line: str
    headers: dict[str, str]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("proxy-authorization")

    @property
    def user(self) -> str | None:
        """The user name of Basic proxy credentials: tells apart sessions sharing this proxy."""
        scheme, _, token = (self.authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        with contextlib.suppress(ValueError):
            return base64.b64decode(token, validate=True).decode().partition(":")[0]
        return None


@dataclass
class RefusingProxy:
    """Answers every request with ``status`` and closes; ``requests`` lists what arrived, in order."""

    status: str = "403 Forbidden"
    hold: bool = False
    requests: list[ProxyRequest] = field(default_factory=list)
    # Every TCP connection, HTTP or not (a SOCKS5 greeting is binary and makes no request).
    connections: int = 0
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)
    _counted: asyncio.Event = field(default_factory=asyncio.Event)
    _held: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def connects(self) -> int:
        """How many times the WhatsApp core dialled through this proxy (retries and probes aside)."""
        return sum(request.line.startswith(WHATSAPP_CONNECT) for request in self.requests)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, *, scheme: str = "http", user: str | None = None, password: str | None = None) -> str:
        credentials = f"{user}:{password}@" if user is not None and password is not None else ""
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        self._held.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> RefusingProxy:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_for_request(self, timeout: float = 15.0) -> ProxyRequest:
        """The first request that arrived, waiting up to ``timeout`` seconds for one."""
        await asyncio.wait_for(self._arrived.wait(), timeout)
        return self.requests[0]

    async def wait_for_connection(self, timeout: float = 15.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def wait_for_connects(self, count: int, timeout: float = 60.0) -> None:
        """Until the WhatsApp core has dialled ``count`` times in all."""
        async with asyncio.timeout(timeout):
            while self.connects < count:
                self._counted.clear()
                await self._counted.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._connected.set()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            head = b""
        if head and len(head) <= MAX_HEAD_BYTES:
            line, *rest = head.decode("latin-1").split("\r\n")
            headers = {}
            for header in rest:
                name, sep, value = header.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            self.requests.append(ProxyRequest(line, headers))
            self._arrived.set()
            self._counted.set()
            if self.hold:
                self._held.append(writer)
                return
            with contextlib.suppress(ConnectionError):
                answer = f"HTTP/1.1 {self.status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                writer.write(answer.encode())
                await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
