"""The write watchdog: one task per web process closes the sockets whose client stopped reading.

The story test runs on a web process whose send buffer is too large to ever
fill, so only the watchdog can notice the stalled client; a second client on
the same process reads everything meanwhile and is left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from websockets.exceptions import ConnectionClosed

from relay.core.constants import WS_WATCHDOG_INTERVAL, WS_WRITE_TIMEOUT
from relay.web.ws.watchdog import WriteWatchdog
from tests.conftest import TenantHandle
from tests.helpers import ws_receive
from tests.stack import RelayStack
from tests.ws.conftest import Publisher
from tests.ws.feed import connect, events_until, open_feed, send, subscribe
from tests.ws.test_slow_consumer import tiny_receive_socket

BURST, PAD = 400, 16_000
HUGE_BUFFER = 1_000_000


@pytest.fixture(scope="module")
def patient_web(relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    web = RelayStack(
        env={**relay_env, "RELAY_WS_SEND_BUFFER": str(HUGE_BUFFER)},
        log_dir=tmp_path_factory.mktemp("watchdog"),
    )
    web.start_web()
    try:
        yield web
    finally:
        web.stop_all()


async def test_a_stalled_client_is_closed_and_its_neighbour_gets_everything(
    stack: RelayStack, patient_web: RelayStack, tenant: TenantHandle, publisher: Publisher
) -> None:
    stalled = await connect(
        f"{patient_web.ws_url}?token={tenant.api_key}",
        sock=tiny_receive_socket(patient_web.port),
        compression=None,
    )
    assert (await ws_receive(stalled))["type"] == "ready"
    await subscribe(stalled, "*")
    async with await open_feed(patient_web.ws_url, tenant.api_key) as reader:
        await subscribe(reader, "*")

        # The stalled client reads nothing from here on; the burst is larger than every buffer on its way.
        burst = await publisher.publish(tenant.id, None, BURST, pad=PAD)
        assert [e["id"] for e in await events_until(reader, burst[-1], timeout=60)] == burst

        # Away for longer than a write may wait plus one watchdog round: it must be closed by now.
        await asyncio.sleep(3 * (WS_WRITE_TIMEOUT + WS_WATCHDOG_INTERVAL))
        received: list[str] = []
        with pytest.raises(ConnectionClosed) as closed:
            while len(received) <= BURST:
                received.append((await ws_receive(stalled, 30))["event"]["id"])
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert closed.value.rcvd.reason == "client too slow; reconnect with since"
        assert received == burst[: len(received)] and len(received) < len(burst)

        # The neighbour is still live: new events and pings go through.
        [after] = await publisher.publish(tenant.id, None)
        assert [e["id"] for e in await events_until(reader, after)] == [after]
        await send(reader, {"type": "ping"})
        assert await ws_receive(reader) == {"type": "pong"}


@dataclass(eq=False)
class Sender:
    """A socket's sender as the watchdog sees it: when its current write began."""

    write_started: float | None
    closed: list[str] = field(default_factory=list)

    def write_timed_out(self) -> None:
        self.closed.append("1013")


def test_only_writes_older_than_the_timeout_are_cut() -> None:
    watchdog = WriteWatchdog(timeout=2.0)
    stuck, recent, between_writes, finished = Sender(10.0), Sender(11.5), Sender(None), Sender(5.0)
    for sender in (stuck, recent, between_writes, finished):
        watchdog.writing(sender)
    watchdog.idle(finished)

    assert watchdog.check(now=12.5) == 1
    assert stuck.closed == ["1013"]
    assert recent.closed == between_writes.closed == finished.closed == []
    # A socket is told once; the one that was recent is cut when it, too, has waited too long.
    assert watchdog.check(now=14.0) == 1
    assert stuck.closed == ["1013"] and recent.closed == ["1013"]
