"""Malformed frames get an error and the socket stays usable."""

from __future__ import annotations

import pytest

from tests.conftest import TenantHandle
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.feed import open_feed, send


async def test_ping_pong(stack: RelayStack, tenant: TenantHandle) -> None:
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        for _ in range(3):
            await send(ws, {"type": "ping"})
            assert await ws_receive(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("{nope", "invalid JSON"),
        ("[1, 2]", "a frame must be a JSON object"),
        ('{"session_id": "*"}', "missing field: type"),
        ('{"type": "dance"}', "unknown frame type: dance"),
        ('{"type": "subscribe"}', "missing field: session_id"),
        ('{"type": "unsubscribe", "session_id": 7}', "missing field: session_id"),
        (
            '{"type": "subscribe", "session_id": "*", "since": "yesterday"}',
            "since must be an event id (evt_...)",
        ),
        ('{"type": "subscribe", "session_id": "*", "since": 12}', "since must be an event id (evt_...)"),
        ('{"type": "send", "session_id": "ses_x", "to": "1", "text": "x"}', "missing field: request_id"),
        ('{"type": "auth", "token": "again"}', "already authenticated"),
    ],
)
async def test_invalid_frames_get_an_error_and_the_socket_stays_open(
    stack: RelayStack, tenant: TenantHandle, raw: str, error: str
) -> None:
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await ws.send(raw)
        assert await ws_receive(ws) == {"type": "error", "error": error}
        await send(ws, {"type": "ping"})
        assert await ws_receive(ws) == {"type": "pong"}


async def test_binary_frames_are_refused(stack: RelayStack, tenant: TenantHandle) -> None:
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await ws.send(b'{"type": "ping"}')
        assert await ws_receive(ws) == {"type": "error", "error": "frames must be JSON text"}
        await send(ws, {"type": "ping"})
        assert await ws_receive(ws) == {"type": "pong"}


async def test_a_subscribe_with_a_bad_since_subscribes_nothing(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    async with await open_feed(stack.ws_url, tenant.api_key) as ws:
        await send(ws, {"type": "subscribe", "session_id": "*", "since": "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV"})
        assert (await ws_receive(ws))["type"] == "error"
        await send(ws, {"type": "unsubscribe", "session_id": "*"})
        assert await ws_receive(ws) == {"type": "unsubscribed", "session_id": "*"}
