"""Small helpers the tests share: polling with a bound, WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import websockets

T = TypeVar("T")


async def wait_until(
    probe: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe!r}; last={last!r}")


async def ws_receive(ws: websockets.ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def ws_receive_until(
    ws: websockets.ClientConnection, accept: Callable[[dict[str, Any]], bool], timeout: float = 15.0
) -> dict[str, Any]:
    """Read frames until one satisfies ``accept``; frames before it are dropped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("no matching WebSocket frame before the deadline")
        frame = await ws_receive(ws, remaining)
        if accept(frame):
            return frame


def is_event(event_type: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    def accept(frame: dict[str, Any]) -> bool:
        if frame.get("type") != "event" or frame["event"]["type"] != event_type:
            return False
        return all(frame["event"]["data"].get(k) == v for k, v in data.items())

    return accept
