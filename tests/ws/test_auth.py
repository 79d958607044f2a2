"""Who may open the feed, and how a refused token is told so."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import TenantHandle
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.feed import connect, open_feed, send


async def closed_with(ws, timeout: float = 20.0) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Read until the server closes; returns its close code and reason. No frame may be ``ready``."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            frame = await ws_receive(ws, deadline - time.monotonic())
            assert frame["type"] != "ready", frame
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_token_in_query_string(stack: RelayStack, tenant: TenantHandle) -> None:
    ws = await connect(f"{stack.ws_url}?token={tenant.api_key}")
    async with ws:
        assert await ws_receive(ws) == {"type": "ready", "tenant_id": tenant.id}


async def test_token_in_authorization_header(stack: RelayStack, tenant: TenantHandle) -> None:
    ws = await connect(stack.ws_url, additional_headers={"Authorization": f"Bearer {tenant.api_key}"})
    async with ws:
        assert await ws_receive(ws) == {"type": "ready", "tenant_id": tenant.id}


async def test_browser_token_in_first_frame(stack: RelayStack, tenant: TenantHandle) -> None:
    token = (await tenant.client.post("/v1/auth/token", json={})).raise_for_status().json()["token"]
    ws = await connect(stack.ws_url)
    async with ws:
        assert await ws_receive(ws) == {"type": "auth_required"}
        await send(ws, {"type": "auth", "token": token})
        assert await ws_receive(ws) == {"type": "ready", "tenant_id": tenant.id}
        await send(ws, {"type": "ping"})
        assert await ws_receive(ws) == {"type": "pong"}


async def test_frames_before_auth_are_refused_until_auth_arrives(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    ws = await connect(stack.ws_url)
    async with ws:
        assert await ws_receive(ws) == {"type": "auth_required"}
        await send(ws, {"type": "subscribe", "session_id": "*"})
        assert (await ws_receive(ws))["type"] == "error"
        await ws.send("not json")
        assert await ws_receive(ws) == {"type": "error", "error": "invalid JSON"}
        await send(ws, {"type": "auth", "token": tenant.api_key})
        assert await ws_receive(ws) == {"type": "ready", "tenant_id": tenant.id}


async def test_no_auth_is_closed_after_the_timeout(stack: RelayStack) -> None:
    ws = await connect(stack.ws_url)
    async with ws:
        assert await ws_receive(ws) == {"type": "auth_required"}
        assert await closed_with(ws, timeout=30) == (4401, "authentication timeout")


@pytest.mark.parametrize("token", ["rk_not-a-real-key", "garbage", "a.b.c"])
async def test_bad_token_in_handshake_is_denied_with_401(stack: RelayStack, token: str) -> None:
    with pytest.raises(InvalidStatus) as denied:
        await connect(f"{stack.ws_url}?token={token}")
    assert denied.value.response.status_code == 401


async def test_bad_token_in_header_is_denied_with_401(stack: RelayStack) -> None:
    with pytest.raises(InvalidStatus) as denied:
        await connect(stack.ws_url, additional_headers={"Authorization": "Bearer rk_nope"})
    assert denied.value.response.status_code == 401


async def test_bad_token_in_first_frame_gets_an_error_then_4401(stack: RelayStack) -> None:
    ws = await connect(stack.ws_url)
    async with ws:
        assert await ws_receive(ws) == {"type": "auth_required"}
        await send(ws, {"type": "auth", "token": "rk_wrong"})
        assert await ws_receive(ws) == {"type": "error", "error": "invalid token"}
        assert (await closed_with(ws))[0] == 4401


async def test_admin_token_is_refused_in_handshake(stack: RelayStack) -> None:
    with pytest.raises(InvalidStatus) as denied:
        await connect(f"{stack.ws_url}?token={stack.admin_token}")
    assert denied.value.response.status_code == 403


async def test_admin_token_is_refused_in_first_frame(stack: RelayStack) -> None:
    ws = await connect(stack.ws_url)
    async with ws:
        assert await ws_receive(ws) == {"type": "auth_required"}
        await send(ws, {"type": "auth", "token": stack.admin_token})
        assert (await ws_receive(ws))["type"] == "error"
        assert (await closed_with(ws))[0] == 4403


async def test_jwt_in_query_string(stack: RelayStack, tenant: TenantHandle) -> None:
    token = (await tenant.client.post("/v1/auth/token", json={"ttl_seconds": 60})).json()["token"]
    ws = await open_feed(stack.ws_url, token)
    await ws.close()


async def test_a_socket_opened_with_a_jwt_closes_when_it_expires(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    token = (await tenant.client.post("/v1/auth/token", json={"ttl_seconds": 2})).json()["token"]
    ws = await open_feed(stack.ws_url, token)
    async with ws:
        await send(ws, {"type": "ping"})
        assert await ws_receive(ws) == {"type": "pong"}
        assert await closed_with(ws, timeout=30) == (4401, "token expired")


async def test_query_tokens_stay_out_of_the_access_log(stack: RelayStack, tenant: TenantHandle) -> None:
    ws = await open_feed(stack.ws_url, tenant.api_key)
    await ws.close()
    with pytest.raises(InvalidStatus):
        await connect(f"{stack.ws_url}?token=rk_leaked-if-logged")
    assert stack.web is not None
    log = stack.web.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    assert "/v1/ws?token=redacted" in log
    assert tenant.api_key not in log and "rk_leaked-if-logged" not in log
