"""The real WhatsApp engine: one neonize (whatsmeow) multi-device client per session.

neonize calls back on Go threads and schedules each handler as its own task, which
neither keeps order nor surfaces exceptions. Every callback therefore only puts the
raw event on this session's queue; one consumer task maps and reports them in order
and logs whatever goes wrong. Status changes the engine decides itself (a dial
failure, the QR window closing) travel through the same queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
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
from neonize.exc import LogoutError, PairPhoneError, SendMessageError, UploadError
from neonize.utils.enum import ClientName, ClientType, MediaType
from tenacity import AsyncRetrying, retry_if_exception_type

from workers.engines.base import (
    CONNECTED,
    FAILED,
    LOGGED_OUT,
    PAIRING,
    QR,
    RECONNECTING,
    STARTING,
    STOPPED,
    EngineContext,
    EngineError,
    EngineReporter,
    NotConnected,
    OutgoingMessage,
    SendReceipt,
    UnsupportedCommand,
)
from workers.engines.whatsapp import inbound, outbound
from workers.engines.whatsapp.backoff import AttemptLimiter, ReconnectPolicy, probe_whatsapp
from workers.engines.whatsapp.connection import RESTART, RESUMED, TERMINAL, WAIT, transition_for
from workers.engines.whatsapp.credentials import CredentialStore
from workers.engines.whatsapp.runtime import (
    RelayClient,
    bind_event_loop,
    close_client,
    format_jid,
    live_client,
    logout_client,
    open_client,
)

log = logging.getLogger("relay.whatsapp")

# whatsmeow's QR codes: the first lives ~60 s, each refresh ~20 s, about 160 s in all.
QR_FIRST_SECONDS = 60
QR_NEXT_SECONDS = 20
# Our own end of the QR window, in case the core never says "timeout".
QR_WINDOW_SECONDS = 180
QR_TIMEOUT_REASON = "qr_timeout: no scan within the QR window"
PAIR_WAIT_SECONDS = 20
STOP_WAIT_SECONDS = 30
CORE_EXIT_WAIT_SECONDS = 5
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

_MEDIA_UPLOAD = {
    "image": MediaType.MediaImage,
    "video": MediaType.MediaVideo,
    "audio": MediaType.MediaAudio,
    "document": MediaType.MediaDocument,
}
_DIGITS = re.compile(r"^[0-9]{6,20}$")

Connector = Callable[[RelayClient], Awaitable["asyncio.Future[None]"]]


class ConnectionLost(Exception):
    """This connection attempt ended for a reason worth retrying."""


class _Reconnect(Exception):
    """A connection that had been up ended: start again with a fresh backoff."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "stopped" | "ended" (terminal or QR window closed) | "restart"
    reason: str = ""
    erase: bool = False
    was_connected: bool = False


class WhatsAppEngine:
    def __init__(
        self,
        context: EngineContext,
        reporter: EngineReporter,
        *,
        policy: ReconnectPolicy | None = None,
        connector: Connector | None = None,
    ) -> None:
        self._context = context
        self._reporter = reporter
        self._policy = policy or ReconnectPolicy()
        # The seam to the Go core: tests that feed events replace only the network connect.
        self._connector: Connector = connector or open_client
        self._store = CredentialStore(context)
        self._jid = context.jid
        self._phone = context.phone
        self._recent = outbound.RecentMessages()
        self._limiter = AttemptLimiter(self._policy.max_attempts_per_minute)
        self._state = STARTING
        self._reported: tuple[str, str | None] | None = None
        self._client: RelayClient | None = None
        self._queue: asyncio.Queue[tuple[Any, ...]] | None = None
        self._outcome: asyncio.Future[Outcome] | None = None
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._qr_ready = asyncio.Event()
        self._timers: list[asyncio.TimerHandle] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self._running = False
        self._stopping = False
        self._ended = False
        self._connected = False
        self._episode_connected = False
        self._ever_connected = False
        self._pairing = False
        self._qr_count = 0
        self._offline_sync = False
        # Every try (including the cheap reachability checks) and the calls into the Go core.
        self.connect_attempts = 0
        self.core_attempts = 0

    # -- protocol surface -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected and self._client is not None and not self._stopping

    async def run(self) -> None:
        if self._running:
            raise EngineError("the engine is already running")
        if self._stopping:
            return  # stopped before it ran: an engine runs at most once after a stop
        self._running, self._ended = True, False
        self._finished.clear()
        bind_event_loop()
        self._queue = asyncio.Queue()
        consumer = asyncio.create_task(self._consume(), name=f"whatsapp:{self._context.session_id}")
        try:
            await self._call(self._enter, STARTING, None)
            if not self._jid:
                # Not linked (never paired, or logged out): start from a clean store.
                await self._store.erase(None)
            await self._run_with_backoff()
        finally:
            await self._release_client()
            self._queue.put_nowait(("end",))
            await consumer
            self._running = False
            self._finished.set()

    async def stop(self) -> None:
        self._stopping = True
        self._stop_event.set()
        self._resolve(Outcome("stopped"))
        if self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), STOP_WAIT_SECONDS)

    async def logout(self) -> None:
        client = self._client
        if client is not None and self.connected:
            try:
                await logout_client(client)
            except LogoutError as exc:
                raise EngineError(f"logout failed: {exc}") from exc
            # whatsmeow sends no LoggedOut event for a logout we asked for.
            self._ended = True
            await self._call(self._enter, LOGGED_OUT, "logged out through the API")
            self._resolve(Outcome("ended", erase=True))
            return
        if self._running:
            raise NotConnected(
                "the session is not connected; the device stays listed on the phone until removed there"
            )
        if self._store.shared and not self._jid:
            return
        if not self._store.shared and not self._store.has_device():
            return
        await self._logout_offline()

    async def erase_credentials(self) -> None:
        client = self._client or live_client(self._context.session_id)
        if client is not None:
            await close_client(client)
        await self._store.erase(self._jid)
        self._jid = self._phone = None

    async def pair_phone(self, phone: str) -> str:
        digits = phone.strip().lstrip("+").replace(" ", "")
        if not _DIGITS.match(digits):
            raise EngineError("phone must be the international number, digits only")
        if self._state == CONNECTED:
            raise EngineError("the session is already linked")
        if not self._running or self._stopping:
            raise NotConnected("the session is not running")
        try:
            await asyncio.wait_for(self._qr_ready.wait(), PAIR_WAIT_SECONDS)
        except TimeoutError as exc:
            raise NotConnected("no connection to WhatsApp yet; retry once the session shows a QR") from exc
        client = self._client
        if client is None:
            raise NotConnected("the session is not connected to WhatsApp")
        try:
            code = await client.PairPhone(digits, True, ClientName.LINUX, ClientType.CHROME)
        except PairPhoneError as exc:
            raise EngineError(f"WhatsApp refused a pairing code: {exc}") from exc
        self._pairing = True
        await self._call(self._announce_pair_code, digits, code)
        return code

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        client = self._client
        if client is None or not self.connected:
            raise NotConnected("the session is not connected")
        chat = outbound.parse_recipient(message.to)
        payload = message.payload or {}
        try:
            if message.type == "text" and payload.get("link_preview") and not payload.get("reply_to"):
                text = str(payload.get("text") or "")
                response = await client.send_message(chat, text, link_preview=True)
            else:
                built = await self._build(client, message.type, payload, chat)
                response = await client.send_message(chat, built)
        except (SendMessageError, UploadError) as exc:
            if "not connected" in str(exc).lower():
                raise NotConnected(f"the connection dropped while sending: {exc}") from exc
            raise EngineError(str(exc)) from exc
        chat_address = inbound.bare_jid(chat)
        own = (self._jid or "").split(":")[0].split("@")[0]
        sender = f"{own}@s.whatsapp.net" if own else ""
        self._recent.remember(
            response.ID, outbound.KnownMessage(chat_address, sender, True, str(payload.get("text") or ""))
        )
        sent_at = (
            inbound.from_unix(response.Timestamp, milliseconds=False)
            if response.Timestamp
            else datetime.now(UTC)
        )
        return SendReceipt(whatsapp_id=response.ID, timestamp=sent_at)

    async def sandbox(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        raise UnsupportedCommand("sandbox actions only work on sandbox sessions")

    # -- connecting -------------------------------------------------------------------------

    async def _run_with_backoff(self) -> None:
        while not self._stopping and not self._ended:
            retrying = AsyncRetrying(
                wait=self._policy.wait(),
                retry=retry_if_exception_type(ConnectionLost),
                stop=lambda _state: self._stopping or self._ended,
                sleep=self._sleep,
                reraise=True,
            )
            try:
                async for attempt in retrying:
                    with attempt:
                        await self._attempt(first=attempt.retry_state.attempt_number == 1)
                return
            except _Reconnect:
                continue
            except ConnectionLost:
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    async def _attempt(self, *, first: bool) -> None:
        if self._stopping or self._ended:
            return
        delay = self._limiter.delay()
        if delay > 0:
            await self._sleep(delay)
            if self._stopping:
                return
        self._limiter.record()
        self.connect_attempts += 1
        if not first and self._policy.preflight:
            problem = await probe_whatsapp(self._policy.preflight_timeout)
            if problem is not None:
                await self._call(self._enter, RECONNECTING, f"network: {problem}")
                raise ConnectionLost(problem)
        outcome = await self._connect_once()
        if outcome.kind == "stopped":
            return
        if outcome.kind == "ended":
            if outcome.erase:
                await self._store.erase(self._jid)
                self._jid = self._phone = None
            return
        await self._call(self._enter, RECONNECTING, outcome.reason)
        if outcome.was_connected:
            raise _Reconnect()
        raise ConnectionLost(outcome.reason)

    async def _connect_once(self) -> Outcome:
        loop = asyncio.get_running_loop()
        self._outcome = loop.create_future()
        self._episode_connected = self._pairing = False
        self._qr_count = 0
        self._qr_ready.clear()
        dsn, jid, new_device = self._store.client_arguments(self._jid)
        client = RelayClient(
            self._context.session_id,
            dsn,
            jid=jid,
            new_device=new_device,
            on_login_status=self._on_login_status,
        )
        for event_type in HANDLED_EVENTS:
            client.event(event_type)(self._on_event)
        client.qr(self._on_qr)
        self._client = client
        self.core_attempts += 1
        try:
            task = await self._connector(client)
        except Exception as exc:
            log.exception("session %s: starting the client failed", self._context.session_id)
            self._resolve(Outcome("restart", f"connect failed: {exc}"))
        else:
            task.add_done_callback(self._on_core_exit)
        outcome = await self._outcome
        await self._release_client()
        return outcome

    def _on_core_exit(self, task: asyncio.Future[None]) -> None:
        """neonize's connect task ended: a failed dial, or the client was stopped."""
        if task.cancelled():
            self._resolve(Outcome("restart", "network: the connection attempt was cancelled"))
            return
        error = task.exception()
        if error is not None:
            self._resolve(Outcome("restart", f"network: {error}", was_connected=self._episode_connected))
        else:
            self._resolve(
                Outcome(
                    "restart",
                    "network: the WhatsApp core closed the connection",
                    was_connected=self._episode_connected,
                )
            )

    def _resolve(self, outcome: Outcome) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    async def _release_client(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._cancel_watchdog()
        self._connected = False
        client, self._client = self._client, None
        if client is None:
            return
        await close_client(client)
        task = client.connect_task
        if task is not None and not task.done():
            # After Stop the core returns within milliseconds; never hang a stop on it.
            await asyncio.wait({task}, timeout=CORE_EXIT_WAIT_SECONDS)
            if not task.done():
                task.cancel()

    async def _logout_offline(self) -> None:
        """Connect with the stored credentials just long enough to unlink the device."""
        bind_event_loop()
        linked = asyncio.Event()
        dsn, jid, _ = self._store.client_arguments(self._jid)
        client = RelayClient(
            self._context.session_id, dsn, jid=jid, new_device=False, on_login_status=_ignore
        )

        async def on_connected(_client: object, _event: object) -> None:
            linked.set()

        client.event(ConnectedEv)(on_connected)
        task = await self._connector(client)
        waiter = asyncio.create_task(linked.wait())
        try:
            await asyncio.wait({task, waiter}, timeout=PAIR_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            if not linked.is_set():
                why = task.exception() if task.done() and not task.cancelled() else "no answer"
                raise NotConnected(f"could not reach WhatsApp to unlink the device: {why}")
            try:
                await logout_client(client)
            except LogoutError as exc:
                raise EngineError(f"logout failed: {exc}") from exc
        finally:
            waiter.cancel()
            await close_client(client)
            if not task.done():
                await asyncio.wait({task}, timeout=CORE_EXIT_WAIT_SECONDS)

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

    async def _enter(
        self, status: str, reason: str | None, *, phone: str | None = None, jid: str | None = None
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
        if transition.action == RESUMED:
            if self._episode_connected and self._state == RECONNECTING:
                self._connected = True
                self._cancel_watchdog()
                await self._enter(CONNECTED, transition.reason)
            return
        self._connected = False
        await self._enter(transition.status, transition.reason)
        if transition.action == WAIT:
            self._arm_watchdog()
        elif transition.action == RESTART:
            self._resolve(Outcome("restart", transition.reason, was_connected=self._episode_connected))
        elif transition.action == TERMINAL:
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
        elif self._state == QR:
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
        await self._enter(CONNECTED, reason, phone=self._phone, jid=self._jid)

    async def _handle_pair_status(self, event: Any) -> None:
        if event.Status == PairStatusEv.SUCCESS:
            self._phone, self._jid = event.ID.User, format_jid(event.ID)
            log.info("session %s: paired as %s", self._context.session_id, self._phone)
        elif self._state in (QR, PAIRING):
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
        if self._state != QR:
            await self._enter(QR, "waiting for a scan")
        lifetime = QR_FIRST_SECONDS if self._qr_count == 1 else QR_NEXT_SECONDS
        await self._reporter.qr(code, datetime.now(UTC) + timedelta(seconds=lifetime))

    async def _handle_login_status(self, status: str) -> None:
        """The QR flow ended: "success" (a Connected follows), "timeout", or an error."""
        if self._stopping or self._ended or status == "success" or self._state == CONNECTED:
            return
        if status == "err-scanned-without-multidevice":
            await self._enter(self._state, "the phone scanned without multi-device support; update WhatsApp")
            return
        self._ended = True
        if status == "err-client-outdated":
            await self._enter(FAILED, "client_outdated: WhatsApp refused this client version; upgrade Relay")
        elif status == "timeout":
            await self._enter(STOPPED, QR_TIMEOUT_REASON)
        else:
            await self._enter(STOPPED, f"pairing_failed: {status}")
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
        await self._enter(PAIRING, f"pairing code issued for +{phone}")
        await self._reporter.pair_code(code)

    # -- outbound ---------------------------------------------------------------------------

    async def _build(self, client: RelayClient, kind: str, payload: dict[str, Any], chat: Any) -> Any:
        if kind == "text":
            return outbound.build_text(payload, chat, self._recent)
        if kind == "reaction":
            return outbound.build_reaction(payload, chat, self._recent)
        if kind == "location":
            return outbound.build_location(payload)
        if kind in _MEDIA_UPLOAD:
            data = await outbound.load_media(payload.get("media"))
            mimetype = str(payload.get("mimetype") or outbound.sniff_mimetype(data))
            upload = await client.upload(data, _MEDIA_UPLOAD[kind])
            return outbound.media_message(kind, upload, len(data), payload, mimetype)
        raise EngineError(f"unsupported message type {kind!r}")


async def _ignore(_status: str) -> None:
    return None
