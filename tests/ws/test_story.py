"""The integrator's story on the real worker: QR on the socket, scan, inbound, send, receipts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from tests.conftest import TenantHandle
from tests.helpers import is_event, ws_receive, ws_receive_until
from tests.sessions import connected_sandbox_session
from tests.stack import RelayStack
from tests.ws.conftest import create_session
from tests.ws.feed import open_feed, send, subscribe

Frame = dict[str, Any]


async def collect(
    ws: ClientConnection, wanted: dict[str, Callable[[Frame], bool]], timeout: float = 30.0
) -> dict[str, Frame]:
    """Read until every named predicate matched one frame, in whatever order they come."""
    deadline = time.monotonic() + timeout
    found: dict[str, Frame] = {}
    while len(found) < len(wanted):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"still waiting for {set(wanted) - set(found)}"
        frame = await ws_receive(ws, remaining)
        for name, accept in wanted.items():
            if name not in found and accept(frame):
                found[name] = frame
    return found


def is_result(request_id: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("type") == "result" and frame.get("request_id") == request_id


async def test_qr_scan_inbound_and_send_over_the_socket(stack: RelayStack, tenant: TenantHandle) -> None:
    session = await create_session(tenant, start=True, name="phone")
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, session)
        qr = await ws_receive_until(ws, is_event("session.qr"), timeout=30)
        assert qr["event"]["session_id"] == session and qr["event"]["data"]["qr"]

        (await tenant.client.post(f"/v1/sessions/{session}/sandbox/scan", json={})).raise_for_status()
        await ws_receive_until(ws, is_event("session.status", status="connected"), timeout=30)

        inbound = {"from": "15551234567", "text": "hi"}
        (await tenant.client.post(f"/v1/sessions/{session}/sandbox/inbound", json=inbound)).raise_for_status()
        received = await ws_receive_until(ws, is_event("message.received", text="hi"))
        assert received["event"]["tenant_id"] == tenant.id

        await send(
            ws,
            {
                "type": "send",
                "request_id": "r-1",
                "session_id": session,
                "to": "15551234567",
                "text": "hello",
            },
        )
        found = await collect(
            ws,
            {
                "result": is_result("r-1"),
                "sent": is_event("message.sent"),
                "ack": is_event("message.ack", status="delivered"),
            },
        )
        result = found["result"]
        assert result["ok"] is True
        assert result["data"]["status"] == "sent" and result["data"]["session_id"] == session
        assert found["sent"]["event"]["data"]["id"] == result["data"]["id"]
        assert result["data"]["whatsapp_id"] in found["ack"]["event"]["data"]["whatsapp_ids"]


async def test_send_errors_come_back_as_results(stack: RelayStack, tenant: TenantHandle) -> None:
    stopped = await create_session(tenant)
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await send(
            ws, {"type": "send", "request_id": "a", "session_id": stopped, "to": "15551234567", "text": "x"}
        )
        result = await ws_receive_until(ws, is_result("a"))
        assert result["ok"] is False and "stopped" in result["error"]

        await send(ws, {"type": "send", "request_id": 2, "session_id": "ses_nope", "to": "1555", "text": "x"})
        result = await ws_receive_until(ws, is_result(2))  # type: ignore[arg-type]
        assert {k: result[k] for k in ("type", "request_id", "ok", "error")} == {
            "type": "result",
            "request_id": 2,
            "ok": False,
            "error": "session not found",
        }
        # The same problem+json body REST answers.
        assert result["problem"]["status"] == 404 and result["problem"]["detail"] == "session not found"

        # The socket is still usable after failed sends.
        await send(ws, {"type": "ping"})
        assert await ws_receive(ws) == {"type": "pong"}


async def test_a_send_past_the_daily_quota_names_the_quota_like_rest_does(
    stack: RelayStack, tenant: TenantHandle, admin: httpx.AsyncClient
) -> None:
    session = (await connected_sandbox_session(tenant.client))["id"]
    quotas = await admin.patch(f"/v1/tenants/{tenant.id}", json={"max_messages_per_day": 1})
    assert quotas.status_code == 200, quotas.text
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        for request_id in ("first", "second"):
            await send(
                ws,
                {
                    "type": "send",
                    "request_id": request_id,
                    "session_id": session,
                    "to": "15551234567",
                    "text": "x",
                },
            )
        # The refusal needs no worker, so it may come back before the first send's result.
        results = await collect(ws, {"first": is_result("first"), "second": is_result("second")})
    assert results["first"]["ok"] is True
    refused = results["second"]
    assert refused["ok"] is False and "max_messages_per_day" in refused["error"]
    problem = refused["problem"]
    assert problem["status"] == 429 and problem["type"].endswith("/quota-exceeded")
    assert problem["quota"] == "max_messages_per_day" and problem["limit"] == 1


async def test_a_burst_of_inbound_messages_arrives_complete_and_in_order(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    session = await create_session(tenant, start=True, name="burst")
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await subscribe(ws, session)
        await ws_receive_until(ws, is_event("session.qr"), timeout=30)
        (await tenant.client.post(f"/v1/sessions/{session}/sandbox/scan", json={})).raise_for_status()
        await ws_receive_until(ws, is_event("session.status", status="connected"), timeout=30)

        inbound = {"from": "15551234567", "text": "burst", "count": 300}
        (await tenant.client.post(f"/v1/sessions/{session}/sandbox/inbound", json=inbound)).raise_for_status()
        got: list[str] = []
        deadline = time.monotonic() + 60
        while len(got) < 300:
            frame = await ws_receive(ws, deadline - time.monotonic())
            if is_event("message.received")(frame):
                got.append(frame["event"]["id"])
        ledger = (
            (
                await tenant.client.get(
                    "/v1/events", params={"session_id": session, "type": "message.received", "limit": 1000}
                )
            )
            .raise_for_status()
            .json()["data"]
        )
        assert got == [e["id"] for e in ledger]
