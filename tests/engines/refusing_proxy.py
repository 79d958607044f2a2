"""A loopback HTTP CONNECT proxy that records each request line and refuses it.

Pointing neonize at it makes the real Go core dial offline: whatsmeow sends
``CONNECT web.whatsapp.com:443``, gets a 502 and fails the connect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class RefusingProxy:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connects(self) -> int:
        return sum(line.startswith("CONNECT web.whatsapp.com:443") for line in self.requests)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            line = await asyncio.wait_for(reader.readline(), 5)
            self.requests.append(line.decode(errors="replace").strip())
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def refusing_proxy() -> AsyncIterator[RefusingProxy]:
    proxy = RefusingProxy()
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
