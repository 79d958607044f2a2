"""One session's neonize events → reporter calls, in order, and what they say about the connection.

This is where every neonize callback is registered (``listen_to``) and dispatched.
``SessionEvents`` owns what the current connection has shown: the status last
reported, whether the connection is up, and the watchdogs on it. The rest is handed
on: linking (QR codes, pairing codes, the login flow) to ``pairing_events``, and what
the session receives (messages, receipts, syncs, groups) to ``message_events``.
The engine owns the client and the session's lifecycle; it reads this state through
the properties below and tells the events when a connection begins and ends. Every
neonize callback only queues its event on the session's ``OrderedConsumer``; the
handlers run there, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Protocol

from neonize.aioze.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    PairStatusEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import KeepAliveTimeout

from relay.core.enums import SessionStatus
from relay.core.proxies import redact
from workers.engines.base import EngineReporter
from workers.engines.whatsapp import inbound, outbound
from workers.engines.whatsapp.connection import Action, ConnectionEnd, EndKind, transition_for
from workers.engines.whatsapp.consumer import OrderedConsumer
from workers.engines.whatsapp.credentials import LinkedAccount
from workers.engines.whatsapp.message_events import HANDLED_MESSAGE_EVENTS, MessageEvents
from workers.engines.whatsapp.pairing_events import PairingFlow
from workers.engines.whatsapp.runtime import RelayClient, format_jid
from workers.engines.whatsapp.watchdog import SilenceWatch, SilenceWatchdog

log = logging.getLogger("relay.whatsapp")

HANDLED_EVENTS = (
    ConnectedEv,
    PairStatusEv,
    DisconnectedEv,
    KeepAliveTimeoutEv,
    KeepAliveRestoredEv,
    LoggedOutEv,
    StreamReplacedEv,
    TemporaryBanEv,
    ConnectFailureEv,
    ClientOutdatedEv,
    StreamErrorEv,
    *HANDLED_MESSAGE_EVENTS,
)


class EngineLink(Protocol):
    """What the event handling reads from the engine it serves."""

    @property
    def stopping(self) -> bool:
        """``stop()`` was called: no event changes anything any more."""

    @property
    def client(self) -> RelayClient | None:
        """The live client, or ``None`` between connections."""


class SessionEvents:
    """What one session's connections show, learned from neonize's events in the order they came."""

    def __init__(
        self,
        engine: EngineLink,
        reporter: EngineReporter,
        account: LinkedAccount,
        recent: outbound.RecentMessages,
        *,
        session_id: str,
        reconnect_grace: float,
        silence: SilenceWatch | None = None,
        proxy: str | None = None,
    ) -> None:
        self._engine = engine
        self._reporter = reporter
        self._account = account
        self._session_id = session_id
        self._reconnect_grace = reconnect_grace
        # Only to keep its password out of the reasons: the core's errors may quote the proxy.
        self._proxy = proxy
        self._consumer = OrderedConsumer(session_id)
        self._messages = MessageEvents(reporter, recent, session_id=session_id)
        self._pairing = PairingFlow(self, reporter, self._consumer)
        self._status = SessionStatus.STARTING
        self._reported: tuple[SessionStatus, str | None] | None = None
        self._ending: asyncio.Future[ConnectionEnd] | None = None
        self._ended = False
        self._connected = False
        self._episode_connected = False
        self._ever_connected = False
        self._watchdog: asyncio.TimerHandle | None = None
        # Connected but silent: pinged, and started over if deaf (None: not watched).
        self._silence = (
            SilenceWatchdog(silence, live_client=self._connected_client, on_answer=self._on_ping_answer)
            if silence is not None
            else None
        )
        self._connection_serial = 0

    # -- what the engine reads ---------------------------------------------------------------

    @property
    def status(self) -> SessionStatus:
        return self._status

    @property
    def reason(self) -> str | None:
        """The reason reported with the current status."""
        return self._reported[1] if self._reported else None

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ended(self) -> bool:
        """The session ended for good in this run (terminal state, logout, QR window closed)."""
        return self._ended

    @property
    def qr_shown(self) -> bool:
        """The current connection has shown a QR code, so a pairing code may be asked for."""
        return self._pairing.qr_shown

    async def wait_for_qr(self, timeout: float) -> None:
        """Wait for the current connection's first QR code; raises ``TimeoutError``."""
        await self._pairing.wait_for_qr(timeout)

    # -- what the engine tells --------------------------------------------------------------

    def start(self) -> None:
        """An engine run begins."""
        self._ended = False
        self._consumer.start()

    async def finish(self) -> None:
        """The engine run is over: handle what is queued, then stop consuming."""
        await self._consumer.finish()

    def begin_connection(self) -> asyncio.Future[ConnectionEnd]:
        """A new connection is about to start; the future says how it ended."""
        self._ending = asyncio.get_running_loop().create_future()
        self._connection_serial += 1
        self._episode_connected = False
        self._pairing.begin_connection()
        return self._ending

    def listen_to(self, client: RelayClient) -> None:
        for event_type in HANDLED_EVENTS:
            client.event(event_type)(self._on_event)
        client.qr(self._on_qr)

    def end_connection(self, end: ConnectionEnd) -> None:
        """Settle how the current connection ended (the first word on it wins)."""
        if self._ending is not None and not self._ending.done():
            self._ending.set_result(end)

    def release(self) -> None:
        """The client is going away: nothing watches it any more and it is not connected."""
        self._cancel_timers()
        self._connected = False

    def on_core_exit(self, task: asyncio.Future[None]) -> None:
        """neonize's connect task ended: a failed dial, or the client was stopped."""
        if task.cancelled():
            self.end_connection(
                ConnectionEnd(EndKind.RESTART, "network: the connection attempt was cancelled")
            )
            return
        error = task.exception()
        why = f"network: {error}" if error is not None else "network: the WhatsApp core closed the connection"
        self.end_connection(ConnectionEnd(EndKind.RESTART, why, was_connected=self._episode_connected))

    async def report(self, status: SessionStatus, reason: str | None) -> None:
        """Report a status the engine decided itself, in order with the events before it."""
        await self._consumer.call(partial(self.enter, status, reason))

    async def announce_pair_code(self, phone: str, code: str) -> None:
        """Report the code in order with the events before it; returns once it is in the ledger."""
        self._pairing.pair_code_requested()
        await self._consumer.call(partial(self._pairing.announce_pair_code, phone, code))
        await self._reporter.flush()

    async def logged_out_through_api(self) -> None:
        """whatsmeow sends no ``LoggedOut`` for a logout we asked for: end as if it had."""
        self._ended = True
        await self.report(SessionStatus.LOGGED_OUT, "logged out through the API")
        self.end_connection(ConnectionEnd(EndKind.FINISHED, erase=True))

    # -- callbacks (Go threads → loop): queue only -------------------------------------------

    async def on_login_status(self, status: str) -> None:
        """The end of the QR flow; the engine hands this to each ``RelayClient`` it creates."""
        self._consumer.push("login", partial(self._pairing.handle_login_status, status))

    async def _on_event(self, _client: object, event: object) -> None:
        if self._silence is not None and not isinstance(event, KeepAliveTimeout):
            self._silence.heard()  # (a keep-alive timeout is the core saying WhatsApp is silent)
        self._consumer.push("event", partial(self._handle_event, event))

    async def _on_qr(self, _client: object, code: bytes) -> None:
        self._consumer.push("qr", partial(self._pairing.handle_qr, code.decode(errors="replace")))

    # -- what the pairing flow reads and changes (PairingHost) --------------------------------

    def over(self) -> bool:
        """Events no longer change anything: the engine is stopping or the session ended."""
        return self._engine.stopping or self._ended

    def unheard(self) -> bool:
        """Linking news changes nothing: the engine is stopping, the session ended, or no client."""
        return self.over() or self._engine.client is None

    def end_session(self) -> None:
        """The session ends for good in this run."""
        self._ended = True

    # -- handlers: on the consumer, in order -------------------------------------------------

    async def enter(
        self,
        status: SessionStatus,
        reason: str | None,
        *,
        phone: str | None = None,
        jid: str | None = None,
    ) -> None:
        """Report a status once: the same status and reason again is not news."""
        if reason is not None:
            reason = redact(reason, self._proxy)
        if (status, reason) == self._reported and phone is None and jid is None:
            return
        self._status = status
        self._reported = (status, reason)
        await self._reporter.status(status, reason, phone=phone, jid=jid)

    async def _handle_event(self, event: object) -> None:
        if await self._messages.handle(event):
            return
        if isinstance(event, ConnectedEv):
            await self._handle_connected()
        elif isinstance(event, PairStatusEv):
            await self._handle_pair_status(event)
        else:
            await self._handle_transition(event)

    async def _handle_transition(self, event: object) -> None:
        transition = transition_for(event)
        if transition is None or self.over():
            return
        if transition.action == Action.RESUMED:
            if self._episode_connected and self._status == SessionStatus.RECONNECTING:
                self._connected = True
                self._cancel_watchdog()
                self._watch_silence()
                await self.enter(SessionStatus.CONNECTED, transition.reason)
            return
        self._connected = False
        await self.enter(transition.status, transition.reason)
        if transition.action == Action.WAIT:
            self._arm_watchdog()
        elif transition.action == Action.RESTART:
            self.end_connection(
                ConnectionEnd(EndKind.RESTART, transition.reason, was_connected=self._episode_connected)
            )
        elif transition.action == Action.TERMINAL:
            self._ended = True
            self.end_connection(
                ConnectionEnd(EndKind.FINISHED, transition.reason, erase=transition.erase_credentials)
            )

    async def _handle_connected(self) -> None:
        client = self._engine.client
        if self.over() or client is None:
            return
        phone, jid = inbound.own_address(client.me)
        if jid:
            self._account.phone, self._account.jid = phone, jid
        linked = self._pairing.linked()
        if linked is not None:
            reason = linked
        elif self._ever_connected:
            reason = "reconnected"
        else:
            reason = "resumed with stored credentials"
        self._cancel_timers()
        self._connected = self._episode_connected = self._ever_connected = True
        self._watch_silence()
        await self.enter(SessionStatus.CONNECTED, reason, phone=self._account.phone, jid=self._account.jid)

    async def _handle_pair_status(self, event: Any) -> None:
        if event.Status == PairStatusEv.SUCCESS:
            self._account.phone, self._account.jid = event.ID.User, format_jid(event.ID)
            log.info("session %s: paired as %s", self._session_id, self._account.phone)
        elif self._status in (SessionStatus.QR, SessionStatus.PAIRING):
            await self.enter(self._status, f"pairing failed: {event.Error or 'unknown error'}")

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            loop = asyncio.get_running_loop()
            self._watchdog = loop.call_later(self._reconnect_grace, self._watchdog_fired)

    def _watchdog_fired(self) -> None:
        self._consumer.push("watchdog", self._handle_watchdog)

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _cancel_timers(self) -> None:
        self._pairing.cancel_timers()
        self._cancel_watchdog()
        if self._silence is not None:
            self._silence.stop()

    # -- the silence watchdog: connected, but is anyone there? ---------------------------------

    def _watch_silence(self) -> None:
        if self._silence is not None:
            self._silence.watch_connection(self._connection_serial)

    def _connected_client(self) -> RelayClient | None:
        return self._engine.client if self._connected and not self.over() else None

    def _on_ping_answer(self, problem: str | None, serial: int) -> None:
        self._consumer.push("watchdog", partial(self._handle_ping_answer, problem, serial))

    async def _handle_ping_answer(self, problem: str | None, serial: int) -> None:
        if self._silence is None or serial != self._connection_serial or not self._connected or self.over():
            return  # that connection is gone already
        if problem is None:
            self._silence.heard()  # WhatsApp answered: quiet, not deaf
            self._watch_silence()
            return
        reason = self._silence.watch.reason(problem)
        log.warning("session %s: %s", self._session_id, reason)
        self._connected = False
        await self.enter(SessionStatus.RECONNECTING, reason)
        self.end_connection(ConnectionEnd(EndKind.RESTART, reason, was_connected=True))

    async def _handle_watchdog(self) -> None:
        self._watchdog = None
        if self._connected or self.over() or self._engine.client is None:
            return
        reason = f"connection lost: no reconnect within {self._reconnect_grace:g}s; starting over"
        self.end_connection(ConnectionEnd(EndKind.RESTART, reason, was_connected=True))
