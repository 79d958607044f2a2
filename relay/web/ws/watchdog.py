"""One task per web process that closes feed sockets whose client stopped reading.

Why not a timeout around each write: ``anyio.fail_after`` per frame costs a
cancel scope and a timer per frame per socket, which profiling showed to be a
fifth of the web process's time during a burst. A stalled client is rare, so
each writer only notes when its current write began (a float), and this
watchdog looks, every ``WS_WATCHDOG_INTERVAL`` seconds, at the sockets that
are writing right now; one whose write has waited longer than
``WS_WRITE_TIMEOUT`` is told to close (1013, reconnect with ``since``). The
bound on noticing is therefore ``WS_WRITE_TIMEOUT + WS_WATCHDOG_INTERVAL``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from relay.core.constants import WS_WATCHDOG_INTERVAL, WS_WRITE_TIMEOUT

log = logging.getLogger("relay.web.ws.watchdog")


class Writer(Protocol):
    """A socket's sender, as the watchdog sees it."""

    @property
    def write_started(self) -> float | None:
        """Loop time at which the write now in progress began; None between writes."""

    def write_timed_out(self) -> None:
        """Close the socket: its client has not read for too long."""


class WriteWatchdog:
    def __init__(self, *, timeout: float = WS_WRITE_TIMEOUT, interval: float = WS_WATCHDOG_INTERVAL) -> None:
        self._timeout = timeout
        self._interval = interval
        # Only sockets with a sender running are here: an idle socket costs the watchdog nothing.
        self._writing: set[Writer] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch_forever(), name="relay-ws-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def writing(self, writer: Writer) -> None:
        self._writing.add(writer)

    def idle(self, writer: Writer) -> None:
        self._writing.discard(writer)

    def check(self, now: float) -> int:
        """Close every writer stuck since before ``now - timeout``; returns how many."""
        overdue = now - self._timeout
        stuck = [
            writer
            for writer in self._writing
            if (started := writer.write_started) is not None and started < overdue
        ]
        for writer in stuck:
            self._writing.discard(writer)
            writer.write_timed_out()
        return len(stuck)

    async def _watch_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.check(loop.time())
            except Exception:
                log.exception("feed watchdog check failed")
