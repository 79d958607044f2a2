"""The session's event consumer: neonize callbacks in, reporter calls out, in order.

neonize calls back on Go threads and schedules each handler as its own task, which
neither keeps order nor surfaces exceptions. Every callback here
only puts the raw event on the session's queue; one consumer task maps and reports
them in order and logs whatever goes wrong. Status changes the engine decides itself
(a dial failure, the QR window closing) travel through the same queue.

``SessionEvents`` is the half of ``WhatsAppEngine`` that runs on that consumer; the
engine (``engine.py``) owns connecting, backoff and the protocol surface.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from neonize.aioze.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    HistorySyncEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    OfflineSyncCompletedEv,
    OfflineSyncPreviewEv,
    PairStatusEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)

from relay.core.enums import SessionStatus
from workers.engines.base import EngineContext, EngineReporter
from workers.engines.whatsapp import inbound, outbound
from workers.engines.whatsapp.backoff import ReconnectPolicy
from workers.engines.whatsapp.connection import Action, transition_for
from workers.engines.whatsapp.runtime import RelayClient, format_jid

log = logging.getLogger("relay.whatsapp")

# whatsmeow's QR codes: the first lives ~60 s, each refresh ~20 s, about 160 s in all.
QR_FIRST_SECONDS = 60
QR_NEXT_SECONDS = 20
# Our own end of the QR window, in case the core never says "timeout".
QR_WINDOW_SECONDS = 180
QR_TIMEOUT_REASON = "qr_timeout: no scan within the QR window"
# Messages replayed by the offline sync older than this are not forwarded.
OFFLINE_MAX_AGE = timedelta(hours=24)

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
    HistorySyncEv,
    MessageEv,
    ReceiptEv,
    OfflineSyncPreviewEv,
    OfflineSyncCompletedEv,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one connection ended, as far as the connecting loop needs to know."""

    kind: str  # "stopped" | "ended" (terminal or QR window closed) | "restart"
    reason: str = ""
    erase: bool = False
    was_connected: bool = False


class SessionEvents:
    """State shared with the engine, and everything that runs on the session's consumer task."""

    _context: EngineContext
    _reporter: EngineReporter
    _policy: ReconnectPolicy
    _recent: outbound.RecentMessages
    _client: RelayClient | None
    _queue: asyncio.Queue[tuple[Any, ...]] | None
    _outcome: asyncio.Future[Outcome] | None
    _qr_ready: asyncio.Event
    _timers: list[asyncio.TimerHandle]
    _watchdog: asyncio.TimerHandle | None
    _state: SessionStatus
    _reported: tuple[SessionStatus, str | None] | None
    _jid: str | None
    _phone: str | None
    _stopping: bool
    _ended: bool
    _connected: bool
    _episode_connected: bool
    _ever_connected: bool
    _pairing: bool
    _qr_count: int
    _offline_sync: bool
    _consumer_done: bool = False

    def _resolve(self, outcome: Outcome) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    # -- callbacks (Go threads → loop): enqueue only ------------------------------------------

    async def _on_event(self, _client: object, event: object) -> None:
        self._push(("event", event))

    async def _on_qr(self, _client: object, code: bytes) -> None:
        self._push(("qr", code.decode(errors="replace")))

    async def _on_login_status(self, status: str) -> None:
        self._push(("login", status))

    def _push(self, item: tuple[Any, ...]) -> None:
        if self._queue is not None:
            self._queue.put_nowait(item)

    async def _call(self, function: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run ``function`` on the consumer, after everything queued before it."""
        if self._queue is None or self._consumer_done:
            await function(*args)  # no consumer (run() is over): nothing to keep order with
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push(("call", function, args, done))
        await done

    # -- the consumer: one task per session, in order ------------------------------------------

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            kind = item[0]
            if kind == "end":
                self._consumer_done = True
                self._fail_pending_calls()
                return
            try:
                if kind == "call":
                    _, function, args, done = item
                    try:
                        await function(*args)
                    except Exception as exc:
                        if not done.done():
                            done.set_exception(exc)
                    else:
                        if not done.done():
                            done.set_result(None)
                elif kind == "event":
                    await self._handle_event(item[1])
                elif kind == "qr":
                    await self._handle_qr(item[1])
                elif kind == "login":
                    await self._handle_login_status(item[1])
                elif kind == "watchdog":
                    await self._handle_watchdog()
            except Exception:
                log.exception("session %s: handling %s failed", self._context.session_id, kind)

    def _fail_pending_calls(self) -> None:
        """Calls queued behind the end marker would wait forever: fail them instead."""
        assert self._queue is not None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item[0] == "call" and not item[3].done():
                item[3].set_exception(RuntimeError("the session's event consumer has ended"))

    async def _enter(
        self, status: SessionStatus, reason: str | None, *, phone: str | None = None, jid: str | None = None
    ) -> None:
        """Report a status once: the same status and reason again is not news."""
        if (status, reason) == self._reported and phone is None and jid is None:
            return
        self._state = status
        self._reported = (status, reason)
        await self._reporter.status(status, reason, phone=phone, jid=jid)

    async def _handle_event(self, event: object) -> None:
        if isinstance(event, MessageEv):
            await self._handle_message(event)
        elif isinstance(event, ReceiptEv):
            data = inbound.message_ack(event)
            if data is not None:
                await self._reporter.message_ack(data)
        elif isinstance(event, ConnectedEv):
            await self._handle_connected()
        elif isinstance(event, PairStatusEv):
            await self._handle_pair_status(event)
        elif isinstance(event, HistorySyncEv):
            log.info(
                "session %s: history sync with %d conversations not forwarded",
                self._context.session_id,
                len(event.Data.conversations),
            )
        elif isinstance(event, OfflineSyncPreviewEv):
            self._offline_sync = True
            log.info("session %s: offline sync of %d messages", self._context.session_id, event.Message)
        elif isinstance(event, OfflineSyncCompletedEv):
            self._offline_sync = False
        else:
            await self._handle_transition(event)

    async def _handle_transition(self, event: object) -> None:
        transition = transition_for(event)
        if transition is None or self._stopping or self._ended:
            return
        if transition.action == Action.RESUMED:
            if self._episode_connected and self._state == SessionStatus.RECONNECTING:
                self._connected = True
                self._cancel_watchdog()
                await self._enter(SessionStatus.CONNECTED, transition.reason)
            return
        self._connected = False
        await self._enter(transition.status, transition.reason)
        if transition.action == Action.WAIT:
            self._arm_watchdog()
        elif transition.action == Action.RESTART:
            self._resolve(Outcome("restart", transition.reason, was_connected=self._episode_connected))
        elif transition.action == Action.TERMINAL:
            self._ended = True
            self._resolve(Outcome("ended", transition.reason, erase=transition.erase_credentials))

    async def _handle_connected(self) -> None:
        if self._stopping or self._ended or self._client is None:
            return
        phone, jid = inbound.own_address(self._client.me)
        if jid:
            self._phone, self._jid = phone, jid
        if self._pairing:
            reason = "linked with a pairing code"
        elif self._state == SessionStatus.QR:
            reason = "linked by scanning the QR code"
        elif self._ever_connected:
            reason = "reconnected"
        else:
            reason = "resumed with stored credentials"
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._cancel_watchdog()
        self._connected = self._episode_connected = self._ever_connected = True
        self._pairing = False
        self._qr_ready.clear()
        await self._enter(SessionStatus.CONNECTED, reason, phone=self._phone, jid=self._jid)

    async def _handle_pair_status(self, event: Any) -> None:
        if event.Status == PairStatusEv.SUCCESS:
            self._phone, self._jid = event.ID.User, format_jid(event.ID)
            log.info("session %s: paired as %s", self._context.session_id, self._phone)
        elif self._state in (SessionStatus.QR, SessionStatus.PAIRING):
            await self._enter(self._state, f"pairing failed: {event.Error or 'unknown error'}")

    async def _handle_message(self, event: Any) -> None:
        data = inbound.message_received(event, backfilled=self._offline_sync)
        if data is None:
            return
        if self._offline_sync:
            sent_at = inbound.from_unix(event.Info.Timestamp, milliseconds=True)
            if datetime.now(UTC) - sent_at > OFFLINE_MAX_AGE:
                return
        source = event.Info.MessageSource
        self._recent.remember(
            data["whatsapp_id"],
            outbound.KnownMessage(
                data["chat"], inbound.bare_jid(source.Sender), data["from_me"], data["text"]
            ),
        )
        await self._reporter.message_received(data)

    async def _handle_qr(self, code: str) -> None:
        if self._stopping or self._ended or self._client is None:
            return
        self._qr_count += 1
        if self._qr_count == 1:
            loop = asyncio.get_running_loop()
            self._timers.append(loop.call_later(QR_WINDOW_SECONDS, self._push, ("login", "timeout")))
        self._qr_ready.set()
        if self._pairing:
            return  # a pairing code is out; a QR would only confuse the user
        if self._state != SessionStatus.QR:
            await self._enter(SessionStatus.QR, "waiting for a scan")
        lifetime = QR_FIRST_SECONDS if self._qr_count == 1 else QR_NEXT_SECONDS
        await self._reporter.qr(code, datetime.now(UTC) + timedelta(seconds=lifetime))

    async def _handle_login_status(self, status: str) -> None:
        """The QR flow ended: "success" (a Connected follows), "timeout", or an error."""
        if self._stopping or self._ended or status == "success" or self._state == SessionStatus.CONNECTED:
            return
        if status == "err-scanned-without-multidevice":
            await self._enter(self._state, "the phone scanned without multi-device support; update WhatsApp")
            return
        self._ended = True
        if status == "err-client-outdated":
            await self._enter(
                SessionStatus.FAILED, "client_outdated: WhatsApp refused this client version; upgrade Relay"
            )
        elif status == "timeout":
            await self._enter(SessionStatus.STOPPED, QR_TIMEOUT_REASON)
        else:
            await self._enter(SessionStatus.STOPPED, f"pairing_failed: {status}")
        self._resolve(Outcome("ended", status))

    def _arm_watchdog(self) -> None:
        if self._watchdog is None:
            loop = asyncio.get_running_loop()
            self._watchdog = loop.call_later(self._policy.reconnect_grace, self._push, ("watchdog",))

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def _handle_watchdog(self) -> None:
        self._watchdog = None
        if self._connected or self._stopping or self._ended or self._client is None:
            return
        reason = f"connection lost: no reconnect within {self._policy.reconnect_grace:g}s; starting over"
        self._resolve(Outcome("restart", reason, was_connected=True))

    async def _announce_pair_code(self, phone: str, code: str) -> None:
        await self._enter(SessionStatus.PAIRING, f"pairing code issued for +{phone}")
        await self._reporter.pair_code(code)
