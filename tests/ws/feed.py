"""A tiny feed client for the tests: connect, subscribe, collect events."""

from __future__ import annotations

import json
import time
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.helpers import ws_receive


async def connect(url: str, **kwargs: Any) -> ClientConnection:
    return await websockets.connect(url, proxy=None, open_timeout=15, **kwargs)


async def open_feed(ws_url: str, token: str, **kwargs: Any) -> ClientConnection:
    """A socket authenticated with ``?token=``, past its ``ready`` frame."""
    ws = await connect(f"{ws_url}?token={token}", **kwargs)
    ready = await ws_receive(ws)
    assert ready["type"] == "ready", ready
    return ws


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


async def subscribe(ws: ClientConnection, session_id: str, since: str | None = None) -> None:
    frame: dict[str, Any] = {"type": "subscribe", "session_id": session_id}
    if since is not None:
        frame["since"] = since
    await send(ws, frame)
    answer = await ws_receive(ws)
    assert answer == {"type": "subscribed", "session_id": session_id}, answer


async def events_until(ws: ClientConnection, last_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every event frame's envelope up to and including ``last_id``; fails on anything but events."""
    deadline = time.monotonic() + timeout
    received: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{last_id} not received; got {len(received)} events")
        frame = await ws_receive(ws, remaining)
        assert frame["type"] == "event", frame
        received.append(frame["event"])
        if frame["event"]["id"] == last_id:
            return received
