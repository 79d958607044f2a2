"""Linking a session: the QR codes, their window, a pairing code, and how the login flow ended.

The flow is its own concept with its own state (how many QR codes were shown, whether
a pairing code is out, the timer that closes the QR window); what it decides about
the session (its status, that it ended) goes through the ``PairingHost`` it serves,
``session_events.SessionEvents``, which also registers the callbacks and queues these
handlers on the session's ``OrderedConsumer``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol

from relay.core.enums import SessionStatus
from workers.engines.base import QR_TIMEOUT_REASON, EngineReporter
from workers.engines.whatsapp.connection import ConnectionEnd, EndKind
from workers.engines.whatsapp.consumer import OrderedConsumer

# whatsmeow's QR codes: the first lives ~60 s, each refresh ~20 s, about 160 s in all.
QR_FIRST_SECONDS = 60
QR_NEXT_SECONDS = 20
# Our own end of the QR window, in case the core never says "timeout".
QR_WINDOW_SECONDS = 180


class PairingHost(Protocol):
    """What the pairing flow reads and changes on the session it links."""

    @property
    def status(self) -> SessionStatus:
        """The status last reported."""

    def unheard(self) -> bool:
        """Linking news changes nothing: the engine is stopping, the session ended, or no client."""

    def over(self) -> bool:
        """Events no longer change anything: the engine is stopping or the session ended."""

    async def enter(self, status: SessionStatus, reason: str | None) -> None:
        """Report a status (once: the same status and reason again is not news)."""

    def end_session(self) -> None:
        """The session ends for good in this run."""

    def end_connection(self, end: ConnectionEnd) -> None:
        """Settle how the current connection ended."""


class PairingFlow:
    """One session's QR codes and pairing codes, connection by connection."""

    def __init__(self, host: PairingHost, reporter: EngineReporter, consumer: OrderedConsumer) -> None:
        self._host = host
        self._reporter = reporter
        self._consumer = consumer
        self._pairing = False
        self._qr_count = 0
        self._qr_ready = asyncio.Event()
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def qr_shown(self) -> bool:
        """The current connection has shown a QR code, so a pairing code may be asked for."""
        return self._qr_ready.is_set()

    async def wait_for_qr(self, timeout: float) -> None:
        """Wait for the current connection's first QR code; raises ``TimeoutError``."""
        await asyncio.wait_for(self._qr_ready.wait(), timeout)

    def begin_connection(self) -> None:
        """A new connection starts with no QR shown and no pairing code out."""
        self._pairing = False
        self._qr_count = 0
        self._qr_ready.clear()

    def pair_code_requested(self) -> None:
        """A pairing code is on its way: QR codes are no longer shown."""
        self._pairing = True

    def linked(self) -> str | None:
        """The connection is up: how it was linked (``None``: it needed no linking); the flow ends."""
        if self._pairing:
            how: str | None = "linked with a pairing code"
        elif self._host.status == SessionStatus.QR:
            how = "linked by scanning the QR code"
        else:
            how = None
        self.cancel_timers()
        self._pairing = False
        self._qr_ready.clear()
        return how

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # -- handlers: on the consumer, in order -------------------------------------------------

    async def handle_qr(self, code: str) -> None:
        if self._host.unheard():
            return
        self._qr_count += 1
        if self._qr_count == 1:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(QR_WINDOW_SECONDS, self._close_qr_window))
        self._qr_ready.set()
        if self._pairing:
            return  # a pairing code is out; a QR would only confuse the user
        if self._host.status != SessionStatus.QR:
            await self._host.enter(SessionStatus.QR, "waiting for a scan")
        lifetime = QR_FIRST_SECONDS if self._qr_count == 1 else QR_NEXT_SECONDS
        await self._reporter.qr(code, datetime.now(UTC) + timedelta(seconds=lifetime))

    def _close_qr_window(self) -> None:
        self._consumer.push("login", partial(self.handle_login_status, "timeout"))

    async def handle_login_status(self, status: str) -> None:
        """The QR flow ended: "success" (a Connected follows), "timeout", or an error."""
        if self._host.over() or status == "success" or self._host.status == SessionStatus.CONNECTED:
            return
        if status == "err-scanned-without-multidevice":
            await self._host.enter(
                self._host.status, "the phone scanned without multi-device support; update WhatsApp"
            )
            return
        self._host.end_session()
        if status == "err-client-outdated":
            await self._host.enter(
                SessionStatus.FAILED, "client_outdated: WhatsApp refused this client version; upgrade Relay"
            )
        elif status == "timeout":
            await self._host.enter(SessionStatus.STOPPED, QR_TIMEOUT_REASON)
        else:
            await self._host.enter(SessionStatus.STOPPED, f"pairing_failed: {status}")
        self._host.end_connection(ConnectionEnd(EndKind.FINISHED, status))

    async def announce_pair_code(self, phone: str, code: str) -> None:
        await self._host.enter(SessionStatus.PAIRING, f"pairing code issued for +{phone}")
        await self._reporter.pair_code(code)
