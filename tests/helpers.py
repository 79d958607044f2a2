"""Small helpers the tests share: polling with a bound, WebSocket clients, a tenant with a key."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
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


@dataclass(frozen=True)
class TenantKey:
    """A tenant made through the admin API, and the one API key made for it."""

    tenant_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def create_tenant_key(
    client: httpx.AsyncClient, name: str, *, admin_token: str | None = None, key_name: str | None = None
) -> TenantKey:
    """Create a tenant and an API key for it, as the admin (``admin_token``, or the client's own header)."""
    admin = {"Authorization": f"Bearer {admin_token}"} if admin_token is not None else {}
    tenant = (await client.post("/v1/tenants", json={"name": name}, headers=admin)).raise_for_status().json()
    body = {} if key_name is None else {"name": key_name}
    created = await client.post(f"/v1/tenants/{tenant['id']}/api-keys", json=body, headers=admin)
    return TenantKey(tenant["id"], created.raise_for_status().json()["key"])
