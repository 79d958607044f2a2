"""A session's queued outbound messages, sent one at a time in the order they were accepted.

The web process stores a message as ``queued`` before any worker sees it. A
``send`` command asks for it to go out now; messages accepted while the session
was disconnected, or left queued by a worker that died, go out once the engine
is connected again.

Typing: a text sent with ``typing: true`` shows "typing…" in the chat for
``min(len(text) * TYPING_SECONDS_PER_CHAR, TYPING_MAX_SECONDS)`` (50 ms a character,
at most 5 s), then goes out, then the chat shows "paused": what a person typing it
would look like, bounded so a long text never holds the session's queue for long.
The presence is a courtesy: if WhatsApp refuses it, the message is sent anyway.

Pacing: a session with ``send_per_minute`` sends at most that many a minute,
one every ``60 / send_per_minute`` seconds. The figure is read from the row
before each send, so a ``PATCH`` applies from the next message. A send that
would have to wait for its turn is answered ``queued`` at once (the caller gets
202 instead of holding a request open) and goes out from ``run``, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from relay.core.commands import CommandResult
from relay.core.enums import MessageStatus, MessageType
from relay.core.models import OutboundMessage, Session
from workers.database_watch import DatabaseWatch
from workers.engines.base import Engine, EngineError, NotConnected, OutgoingMessage
from workers.message_outcomes import record_failed, record_sent
from workers.reporter import SessionReporter

log = logging.getLogger("relay.worker.sends")

# Typing before a text: 50 ms a character (a brisk typist), never more than 5 s.
TYPING_SECONDS_PER_CHAR = 0.05
TYPING_MAX_SECONDS = 5.0

# How often the queue looks for messages nobody asked to send now (accepted while disconnected).
SEND_QUEUE_POLL_SECONDS = 1.0


class SendQueue:
    def __init__(
        self,
        session_id: str,
        reporter: SessionReporter,
        current_engine: Callable[[], Engine | None],
        watch: DatabaseWatch,
    ) -> None:
        self._session_id = session_id
        self._reporter = reporter
        self._watch = watch
        # The engine changes with every restart; the runner that owns it says which one is current.
        self._current_engine = current_engine
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        # Pacing: the loop time before which the next message may not go out.
        self._next_send_at = 0.0

    def _connected_engine(self) -> Engine | None:
        engine = self._current_engine()
        return engine if engine is not None and engine.connected else None

    async def send_now(self, message_id: str) -> CommandResult | None:
        """Send queued messages in order up to this one; answer the waiting caller if it went out."""
        if self._connected_engine() is None:
            # Stays queued and goes out once connected; the caller need not wait to learn that.
            self._wakeup.set()
            return CommandResult(ok=True, data={"status": MessageStatus.QUEUED})
        if await self._must_wait_its_turn():
            # Paced: it goes out in turn from run(); the caller need not hold its request open.
            self._wakeup.set()
            return CommandResult(ok=True, data={"status": MessageStatus.QUEUED})
        await self._send_queued(until=message_id)
        message = await self._watch.call(lambda: OutboundMessage.get_or_none(id=message_id))
        if message is None or message.status == MessageStatus.QUEUED:
            return None
        # Everything the caller shows about the outcome, so it need not read the row back.
        return CommandResult(
            ok=message.status == MessageStatus.SENT,
            data={"status": message.status, "whatsapp_id": message.whatsapp_id},
            error=message.error,
        )

    async def _must_wait_its_turn(self) -> bool:
        """A paced session whose next send is not due yet, or already has sends going out."""
        if await self._send_interval() is None:
            return False
        return self._lock.locked() or asyncio.get_running_loop().time() < self._next_send_at

    async def _send_interval(self) -> float | None:
        """Seconds between two sends (``60 / send_per_minute``); None: unpaced."""
        session = await self._watch.call(lambda: Session.get_or_none(id=self._session_id))
        return 60 / session.send_per_minute if session is not None and session.send_per_minute else None

    async def _wait_for_turn(self, interval: float | None) -> None:
        loop = asyncio.get_running_loop()
        if interval is not None:
            delay = self._next_send_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)

    def _sent(self, interval: float | None) -> None:
        if interval is not None:
            self._next_send_at = asyncio.get_running_loop().time() + interval

    async def run(self) -> None:
        """Queued messages (accepted while disconnected, or before a crash) go out once connected."""
        while True:
            if self._connected_engine() is not None:
                try:
                    await self._send_queued()
                except Exception:
                    # The database refused a read (an outage is waited out inside): try again next round.
                    log.exception("session %s: sending queued messages failed", self._session_id)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), SEND_QUEUE_POLL_SECONDS)

    async def _send_queued(self, until: str | None = None) -> None:
        """Send the queued messages, oldest first (up to ``until``), while the engine stays connected."""
        async with self._lock:
            while self._connected_engine() is not None and not self._reporter.lease_lost:
                message = await self._watch.call(lambda: self._oldest_queued(until))
                if message is None:
                    return
                interval = await self._send_interval()
                await self._wait_for_turn(interval)
                # Checked again after the wait: the connection or the lease may have gone meanwhile.
                engine = self._connected_engine()
                if engine is None or self._reporter.lease_lost:
                    return
                try:
                    await self._send(engine, message)
                except NotConnected:
                    return
                self._sent(interval)
                if message.id == until:
                    return  # nothing queued after it concerns this call: spare the query that says so

    async def _oldest_queued(self, until: str | None) -> OutboundMessage | None:
        query = OutboundMessage.filter(session_id=self._session_id, status=MessageStatus.QUEUED)
        if until is not None:
            query = query.filter(id__lte=until)
        return await query.order_by("id").first()

    async def _send(self, engine: Engine, message: OutboundMessage) -> None:
        """Send one message and record what became of it; ``NotConnected`` leaves it queued."""
        outgoing = OutgoingMessage(id=message.id, to=message.to, type=message.type, payload=message.payload)
        typing = typing_seconds(outgoing)
        if typing:
            await self._show_presence(engine, outgoing.to, "typing")
            await asyncio.sleep(typing)
        try:
            receipt = await engine.send(outgoing)
        except NotConnected:
            raise
        except EngineError as exc:
            await record_failed(self._reporter, message, str(exc))
            return
        finally:
            if typing:
                await self._show_presence(engine, outgoing.to, "paused")
        await record_sent(self._reporter, message, receipt)

    async def _show_presence(self, engine: Engine, chat: str, state: str) -> None:
        """A courtesy before and after a text: a refusal is logged, never a reason not to send."""
        try:
            await engine.send_presence(chat, state)
        except EngineError as exc:
            log.info("session %s: presence %s not shown: %s", self._session_id, state, exc)


def typing_seconds(message: OutgoingMessage) -> float:
    """How long to show typing before ``message`` (0: it did not ask to, or is not a text)."""
    if message.type != MessageType.TEXT or not message.payload.get("typing"):
        return 0.0
    text = str(message.payload.get("text") or "")
    return min(len(text) * TYPING_SECONDS_PER_CHAR, TYPING_MAX_SECONDS)
