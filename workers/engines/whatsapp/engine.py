"""The real WhatsApp engine: one neonize (whatsmeow) multi-device client per session.

The engine owns the session's lifecycle, its client and its credentials: it
connects, backs off and answers the ``Engine`` protocol. What each connection
shows (QR codes, connected, dropped, messages) is handled by its
``SessionEvents``, which reads from the engine only what ``EngineLink`` names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neonize.aioze.events import ConnectedEv
from neonize.exc import LogoutError, PairPhoneError, SendMessageError, UploadError
from neonize.utils.enum import ClientName, ClientType
from tenacity import AsyncRetrying, retry_if_exception_type

from relay.core.enums import GroupAction, SessionStatus
from workers.engines.base import (
    ContactCheck,
    EngineContext,
    EngineError,
    EngineReporter,
    NotConnected,
    OutgoingMessage,
    SendReceipt,
    UnsupportedCommand,
)
from workers.engines.whatsapp import chat_actions, inbound, media_download, outbound
from workers.engines.whatsapp import groups as group_calls
from workers.engines.whatsapp.backoff import AttemptLimiter, ReconnectPolicy
from workers.engines.whatsapp.connection import ConnectionEnd, EndKind, route_problem
from workers.engines.whatsapp.credentials import CredentialStore, LinkedAccount
from workers.engines.whatsapp.runtime import (
    RelayClient,
    bind_event_loop,
    close_client,
    live_client,
    logout_client,
    open_client,
)
from workers.engines.whatsapp.session_events import SessionEvents
from workers.engines.whatsapp.watchdog import Pinger, SilenceWatch, ping_whatsapp

log = logging.getLogger("relay.whatsapp")

PAIR_WAIT_SECONDS = 20
STOP_WAIT_SECONDS = 30
CORE_EXIT_WAIT_SECONDS = 5
_DIGITS = re.compile(r"^[0-9]{6,20}$")

Connector = Callable[[RelayClient], Awaitable["asyncio.Future[None]"]]


class ConnectionLost(Exception):
    """This connection attempt ended for a reason worth retrying."""


class _Reconnect(Exception):
    """A connection that had been up ended: start again with a fresh backoff."""


class WhatsAppEngine:
    def __init__(
        self,
        context: EngineContext,
        reporter: EngineReporter,
        *,
        policy: ReconnectPolicy | None = None,
        connector: Connector | None = None,
        pinger: Pinger | None = None,
    ) -> None:
        self._context = context
        self._policy = policy or ReconnectPolicy(silence_limit=context.settings.whatsapp_silence)
        # The seams to the Go core: tests that feed events replace only the network connect, and
        # the silence watchdog's round trip to WhatsApp's servers (``pinger``).
        self._connector: Connector = connector or open_client
        self._store = CredentialStore(context)
        self._account = LinkedAccount(phone=context.phone, jid=context.jid)
        self._recent = outbound.RecentMessages()
        self._events = SessionEvents(
            self,
            reporter,
            self._account,
            self._recent,
            session_id=context.session_id,
            reconnect_grace=self._policy.reconnect_grace,
            silence=SilenceWatch(
                self._policy.silence_limit, self._policy.ping_timeout, pinger or ping_whatsapp
            ),
            proxy=context.proxy,
        )
        self._limiter = AttemptLimiter(self._policy.max_attempts_per_minute)
        self._client: RelayClient | None = None
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._running = False
        self._stopping = False
        # Every try (including the cheap reachability checks) and the calls into the Go core.
        self.connect_attempts = 0
        self.core_attempts = 0

    # -- what SessionEvents reads (EngineLink) -----------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def client(self) -> RelayClient | None:
        return self._client

    # -- protocol surface -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._events.connected and self._client is not None and not self._stopping

    async def run(self) -> None:
        if self._running:
            raise EngineError("the engine is already running")
        if self._stopping:
            return  # stopped before it ran: an engine runs at most once after a stop
        self._running = True
        self._finished.clear()
        bind_event_loop()
        self._events.start()
        try:
            await self._events.report(SessionStatus.STARTING, None)
            if not self._account.jid:
                # Not linked (never paired, or logged out): start from a clean store.
                await self._store.erase(None)
            await self._run_with_backoff()
        finally:
            await self._release_client()
            await self._events.finish()
            self._running = False
            self._finished.set()

    async def stop(self) -> None:
        self._stopping = True
        self._stop_event.set()
        self._events.end_connection(ConnectionEnd(EndKind.STOPPED))
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
            await self._events.logged_out_through_api()
            return
        if self._running:
            raise NotConnected(
                "the session is not connected; the device stays listed on the phone until removed there"
            )
        if self._store.shared and not self._account.jid:
            return
        if not self._store.shared and not self._store.has_device():
            return
        await self._logout_offline()

    async def erase_credentials(self) -> None:
        client = self._client or live_client(self._context.session_id)
        if client is not None:
            await close_client(client)
        await self._store.erase(self._account.jid)
        self._account.forget()

    async def pair_phone(self, phone: str) -> str:
        digits = phone.strip().lstrip("+").replace(" ", "")
        if not _DIGITS.match(digits):
            raise EngineError("phone must be the international number, digits only")
        if self._events.status == SessionStatus.CONNECTED:
            raise EngineError("the session is already linked")
        if not self._running or self._stopping:
            raise NotConnected("the session is not running")
        if self._events.status == SessionStatus.RECONNECTING and not self._events.qr_shown:
            why = self._events.reason
            raise NotConnected(f"a pairing code needs a connection to WhatsApp, and there is none: {why}")
        try:
            await self._events.wait_for_qr(PAIR_WAIT_SECONDS)
        except TimeoutError as exc:
            raise NotConnected("no connection to WhatsApp yet; retry once the session shows a QR") from exc
        client = self._client
        if client is None:
            raise NotConnected("the session is not connected to WhatsApp")
        try:
            code = str(await client.PairPhone(digits, True, ClientName.LINUX, ClientType.CHROME))
        except PairPhoneError as exc:
            raise EngineError(f"WhatsApp refused a pairing code: {exc}") from exc
        await self._events.announce_pair_code(digits, code)
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
                built = await outbound.build_message(
                    client,
                    message.type,
                    payload,
                    chat,
                    self._recent,
                    media_allow_private=self._context.settings.media_allow_private,
                )
                response = await client.send_message(chat, built)
        except (SendMessageError, UploadError) as exc:
            if "not connected" in str(exc).lower():
                raise NotConnected(f"the connection dropped while sending: {exc}") from exc
            raise EngineError(str(exc)) from exc
        chat_address = inbound.bare_jid(chat)
        own = (self._account.jid or "").split(":")[0].split("@")[0]
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

    def _connected_client(self) -> RelayClient:
        client = self._client
        if client is None or not self.connected:
            raise NotConnected(f"the session is not connected (it is {self._events.status})")
        return client

    async def check_contacts(self, phones: list[str]) -> list[ContactCheck]:
        return await chat_actions.check_contacts(self._connected_client(), phones)

    async def mark_read(self, chat: str, message_ids: list[str], sender: str | None) -> None:
        await chat_actions.mark_read(self._connected_client(), chat, message_ids, sender)

    async def send_presence(self, chat: str, state: str) -> None:
        await chat_actions.send_presence(self._connected_client(), chat, state)

    async def groups(self, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
        return await group_calls.call(self._connected_client(), action, params)

    async def sandbox(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        raise UnsupportedCommand("sandbox actions only work on sandbox sessions")

    async def download_media(self, reference: dict[str, Any], destination: Path) -> None:
        await media_download.download(self._connected_client(), reference, destination)

    # -- connecting -------------------------------------------------------------------------

    def _done(self) -> bool:
        """No more connections: stop() was called or the session ended for good."""
        return self._stopping or self._events.ended

    async def _run_with_backoff(self) -> None:
        while not self._done():
            retrying = AsyncRetrying(
                wait=self._policy.wait(),
                retry=retry_if_exception_type(ConnectionLost),
                stop=lambda _state: self._done(),
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
        if self._done():
            return
        delay = self._limiter.delay()
        if delay > 0:
            await self._sleep(delay)
            if self._stopping:
                return
        self._limiter.record()
        self.connect_attempts += 1
        problem = await route_problem(
            self._context.proxy,
            allow_private=self._context.settings.proxy_allow_private,
            timeout=self._policy.preflight_timeout,
            probe=not first and self._policy.preflight,
        )
        if problem is not None:
            await self._events.report(SessionStatus.RECONNECTING, f"network: {problem}")
            raise ConnectionLost(problem)
        end = await self._connect_once()
        if end.kind == EndKind.STOPPED:
            return
        if end.kind == EndKind.FINISHED:
            if end.erase:
                await self._store.erase(self._account.jid)
                self._account.forget()
            return
        await self._events.report(SessionStatus.RECONNECTING, end.reason)
        if end.was_connected:
            raise _Reconnect()
        raise ConnectionLost(end.reason)

    async def _connect_once(self) -> ConnectionEnd:
        ending = self._events.begin_connection()
        if self._done():
            return ConnectionEnd(EndKind.STOPPED)  # stop() came while we were waiting or probing
        dsn, jid, new_device = self._store.client_arguments(self._account.jid)
        client = RelayClient(
            self._context.session_id,
            dsn,
            jid=jid,
            new_device=new_device,
            on_login_status=self._events.on_login_status,
            proxy=self._context.proxy,
        )
        self._events.listen_to(client)
        self._client = client
        self.core_attempts += 1
        try:
            task = await self._connector(client)
        except Exception as exc:
            log.exception("session %s: starting the client failed", self._context.session_id)
            self._events.end_connection(ConnectionEnd(EndKind.RESTART, f"connect failed: {exc}"))
        else:
            task.add_done_callback(self._events.on_core_exit)
        end = await ending
        await self._release_client()
        return end

    async def _release_client(self) -> None:
        self._events.release()
        client, self._client = self._client, None
        if client is None:
            return
        await close_client(client)
        task = client.connect_task
        if task is not None:
            await _await_core_exit(task)

    async def _logout_offline(self) -> None:
        """Connect with the stored credentials just long enough to unlink the device."""
        bind_event_loop()
        linked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        dsn, jid, _ = self._store.client_arguments(self._account.jid)
        client = RelayClient(
            self._context.session_id,
            dsn,
            jid=jid,
            new_device=False,
            on_login_status=_ignore,
            proxy=self._context.proxy,
        )

        async def on_connected(_client: object, _event: object) -> None:
            if not linked.done():
                linked.set_result(None)

        client.event(ConnectedEv)(on_connected)
        task = await self._connector(client)
        try:
            await asyncio.wait({task, linked}, timeout=PAIR_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            if not linked.done():
                why = task.exception() if task.done() and not task.cancelled() else "no answer"
                raise NotConnected(f"could not reach WhatsApp to unlink the device: {why}")
            try:
                await logout_client(client)
            except LogoutError as exc:
                raise EngineError(f"logout failed: {exc}") from exc
        finally:
            linked.cancel()
            await close_client(client)
            await _await_core_exit(task)


async def _await_core_exit(task: asyncio.Future[None]) -> None:
    """Let neonize's connect task finish after Stop, without hanging a stop on it.

    After Stop the core returns within milliseconds, unless it is inside a DNS lookup
    (up to 5 s here). Cancelling is no shortcut: neonize's cancel handler calls the Go
    Stop outside our lifecycle lock. A late finish is collected in the background.
    """
    if not task.done():
        await asyncio.wait({task}, timeout=CORE_EXIT_WAIT_SECONDS)
    if task.done():
        _collect(task)
    else:
        task.add_done_callback(_collect)


def _collect(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # the dial error, already reported; read so asyncio does not log it


async def _ignore(_status: str) -> None:
    return None
