"""The silence watchdog: a connection that says it is up, but is anyone there?

whatsmeow's keep-alives succeed silently, so a quiet account hears nothing for hours,
and a connection can also go deaf without the core noticing. Once a connected session
has heard nothing for ``limit`` seconds, the watchdog pings WhatsApp (the core's own
view, then a query that needs the server's answer); an answer resets the clock, no
answer is reported to the session's events, which start the connection over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# Asks WhatsApp for an answer through the live client: ``None`` when it answered, else why not.
Pinger = Callable[[Any, float], Awaitable[str | None]]


async def ping_whatsapp(client: Any, timeout: float) -> str | None:
    """A round trip to WhatsApp's servers: the core's view of its websocket, then the blocklist."""
    try:
        if not await asyncio.wait_for(client.is_connected, timeout):
            return "the WhatsApp core says its websocket is closed"
        await asyncio.wait_for(client.get_blocklist(), timeout)
    except TimeoutError:
        return f"WhatsApp did not answer a ping within {timeout:g}s"
    except Exception as exc:  # neonize raises its own error per call; any of them means no answer
        return f"a ping to WhatsApp failed: {exc}"
    return None


@dataclass(frozen=True, slots=True)
class SilenceWatch:
    """How long a connected session may hear nothing before it is pinged, and how the ping is made."""

    limit: float
    ping_timeout: float
    ping: Pinger

    @property
    def check_every(self) -> float:
        return max(self.limit / 4, 0.01)

    def reason(self, problem: str) -> str:
        return f"watchdog: nothing heard from WhatsApp for {self.limit:g}s and {problem}; reconnecting"


class SilenceWatchdog:
    """Watches one connection at a time; ``on_answer(problem, serial)`` gets each ping's outcome.

    ``live_client()`` says whether the session is connected now (the client, or ``None``); the
    outcome carries the serial of the connection that was pinged, so a late answer about a
    connection that is gone changes nothing.
    """

    def __init__(
        self,
        watch: SilenceWatch,
        *,
        live_client: Callable[[], Any | None],
        on_answer: Callable[[str | None, int], None],
    ) -> None:
        self.watch = watch
        self._live_client = live_client
        self._on_answer = on_answer
        self._last_heard = time.monotonic()
        self._serial = 0
        self._timer: asyncio.TimerHandle | None = None
        self._ping: asyncio.Task[None] | None = None

    def heard(self) -> None:
        """The core said something: the connection is not silent."""
        self._last_heard = time.monotonic()

    def watch_connection(self, serial: int) -> None:
        """Watch (or keep watching) the connection with this serial."""
        if serial != self._serial:
            self.stop()
            self._serial = serial
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.watch.check_every, self._check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ping is not None:
            self._ping.cancel()
            self._ping = None

    def _check(self) -> None:
        self._timer = None
        client = self._live_client()
        if client is None:
            return  # not connected: the next connection starts the watch again
        if time.monotonic() - self._last_heard < self.watch.limit or self._ping is not None:
            self.watch_connection(self._serial)
            return
        # The ping runs beside the event consumer: a deaf connection must not hold up queued events.
        self._ping = asyncio.get_running_loop().create_task(self._ping_once(client, self._serial))

    async def _ping_once(self, client: Any, serial: int) -> None:
        problem = await self.watch.ping(client, self.watch.ping_timeout)
        self._ping = None
        self._on_answer(problem, serial)
