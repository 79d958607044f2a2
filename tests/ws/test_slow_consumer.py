"""A client that stops reading is closed with 1013 and loses nothing when it resumes.

Two ways to be too slow, each on its own web process:
- "buffer-full": a tiny send buffer (``RELAY_WS_SEND_BUFFER``) overflows;
- "write-timeout": the buffer is huge, but one frame waits on the socket for
  longer than ``WS_WRITE_TIMEOUT``.
The client uses a tiny receive buffer so the kernel cannot absorb the burst.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from relay.core.constants import WS_WRITE_TIMEOUT
from tests.conftest import TenantHandle
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.conftest import Publisher
from tests.ws.feed import connect, events_until, open_feed, send, subscribe

BURST, PAD = 400, 16_000
SMALL_BUFFER, HUGE_BUFFER = 8, 1_000_000


@pytest.fixture(scope="module", params=[SMALL_BUFFER, HUGE_BUFFER], ids=["buffer-full", "write-timeout"])
def slow_web(
    request: pytest.FixtureRequest, relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RelayStack]:
    web = RelayStack(
        env={**relay_env, "RELAY_WS_SEND_BUFFER": str(request.param)},
        log_dir=tmp_path_factory.mktemp(f"web-buffer-{request.param}"),
    )
    web.send_buffer = request.param  # type: ignore[attr-defined]
    web.start_web()
    try:
        yield web
    finally:
        web.stop_all()


def tiny_receive_socket(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_slow_client_is_closed_with_1013_then_resumes_with_since(
    stack: RelayStack, slow_web: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    ws = await connect(
        f"{slow_web.ws_url}?token={tenant.api_key}",
        sock=tiny_receive_socket(slow_web.port),
        compression=None,
    )
    assert (await ws_receive(ws))["type"] == "ready"
    await subscribe(ws, "*")
    [start] = await publisher.publish(tenant.id, None)
    assert [e["id"] for e in await events_until(ws, start)] == [start]

    # The client stops reading while a burst larger than every buffer on the way is
    # published (the kernel alone may hold 4 MiB for a loopback socket).
    burst = await publisher.publish(tenant.id, None, BURST, pad=PAD)
    if slow_web.send_buffer == HUGE_BUFFER:  # type: ignore[attr-defined]
        # The server's socket is stuck by now; stay away longer than one write may wait.
        await asyncio.sleep(3 * WS_WRITE_TIMEOUT)

    received: list[str] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frame = await ws_receive(ws, 30)
            received.append(frame["event"]["id"])
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert closed.value.rcvd.reason.endswith("reconnect with since")
    assert len(received) < len(burst)
    assert received == burst[: len(received)]

    # Reconnect with the last id seen: the rest arrives, exactly once, in order.
    last_seen = received[-1] if received else start
    async with await open_feed(slow_web.ws_url, tenant.api_key) as resumed:
        await subscribe(resumed, "*", since=last_seen)
        rest = [e["id"] for e in await events_until(resumed, burst[-1], timeout=60)]
        assert received + rest == burst
        # And the resumed socket is live.
        [after] = await publisher.publish(tenant.id, None)
        assert [e["id"] for e in await events_until(resumed, after)] == [after]
        await send(resumed, {"type": "ping"})
        assert await ws_receive(resumed) == {"type": "pong"}
