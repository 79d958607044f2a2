"""One authenticated feed socket: its subscriptions, its send buffer, its receive loop and writer.

Everything the server says goes through one bounded send buffer drained by
one writer task, so frames never interleave and a client that stops reading is
noticed: when the send buffer is full, or one frame waits longer than
``WS_WRITE_TIMEOUT`` for the socket (``relay.web.ws.watchdog``), the connection
closes with 1013 and the client resumes with ``since`` (Centrifugo's
slow-consumer rule; an unbounded queue would let one stalled browser grow the
process without limit).

What a socket costs, measured with ``bench/ws_fanout.py`` (see
docs/websocket-feed.md): an idle socket owns no task of its own besides the
one uvicorn runs it in. The writer task exists only while there is something
to send, and writes everything buffered before it ends; a JWT's expiry is a
loop timer, not a sleeping task; send requests get a task only while they run.

``subscribe`` with ``since`` is gap-free and duplicate-free:
1. the subscription is registered first, with live delivery held back;
2. ``since`` (an event id) becomes its seq, and the ledger is replayed after
   it in commit order (bounded by ``WS_REPLAY_LIMIT``);
3. the held live events are released, skipping those the replay covered:
   for that subscription, every seq up to the last one replayed.
The fan-out delivers a tenant's events in seq order and guarantees every
event is in the ledger before step 2 or arrives live after step 1 (see
``relay.web.ws.fanout``); a seq is handed out under a row lock held until the
commit, so when the replay has read seq n it has read every earlier one. A
replay that hits the limit is sent without the held live events, then the
socket closes with 1013, so the client asks again from the last id it got
instead of skipping the rest.

``since`` is meant for the resume right after connecting. Given to a socket
that already follows an overlapping subscription, the replay may repeat events
that socket received live a moment ago; ids are unique, so clients can drop them.

Whatever ends the socket first (client gone, slow consumer, revocation,
expiry, server shutdown) cancels the receive loop; the writer and any
``send`` requests are cancelled with it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import anyio
import anyio.lowlevel
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from relay.core.config import Settings
from relay.core.constants import WS_CLOSE_TIMEOUT, WS_REPLAY_LIMIT
from relay.core.metrics import WS_SLOW_CONSUMER_CLOSES
from relay.core.problems import Problem
from relay.web.services.messages import send_message
from relay.web.ws import protocol
from relay.web.ws.entries import FeedEntry
from relay.web.ws.fanout import EventFanout
from relay.web.ws.ledger import can_follow, cursor_position, events_after
from relay.web.ws.protocol import ALL_SESSIONS, Ping, ProtocolError, Send, Subscribe, Unsubscribe
from relay.web.ws.watchdog import WriteWatchdog

log = logging.getLogger("relay.web.ws")

TRY_AGAIN_LATER = 1013
TOKEN_EXPIRED = 4401
# The API key behind the socket was revoked or its tenant deleted: these credentials will not work again.
CREDENTIALS_REVOKED = 4410
MAX_SENDS_IN_FLIGHT = 16


@dataclass(frozen=True, slots=True)
class _Replay:
    """How far the ledger replay went: whether it was cut short, and the last seq it covered."""

    complete: bool
    through: int


class FeedConnection:
    """The feed for one socket of one tenant; ``run`` returns when the socket is done."""

    # Thousands of these live in one process: no per-instance dict.
    __slots__ = (
        "_attached",
        "_closing",
        "_expires_at",
        "_fanout",
        "_held",
        "_limit",
        "_progress",
        "_redis",
        "_replayed_through",
        "_scope",
        "_send_buffer",
        "_sends",
        "_settings",
        "_topics",
        "_watchdog",
        "_websocket",
        "_writer",
        "tenant_id",
        "write_started",
    )

    def __init__(
        self,
        websocket: WebSocket,
        *,
        tenant_id: str,
        settings: Settings,
        redis: Redis,
        fanout: EventFanout,
        watchdog: WriteWatchdog,
        expires_at: float | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        # Loop time at which the frame being written began; None between writes (read by the watchdog).
        self.write_started: float | None = None
        self._expires_at = expires_at
        self._websocket = websocket
        self._settings = settings
        self._redis = redis
        self._fanout = fanout
        self._watchdog = watchdog
        self._limit = settings.ws_send_buffer
        self._send_buffer: deque[str] = deque()
        # The writer task while one runs; it ends when the buffer is empty.
        self._writer: asyncio.Task[None] | None = None
        # Set by the writer after each frame, for a replay or a drain waiting on it; made on first use.
        self._progress: asyncio.Event | None = None
        self._topics: set[str] = set()
        self._attached = False
        # Live entries held back while a replay runs; None when live delivery flows.
        self._held: list[FeedEntry] | None = None
        # Per topic replayed with ``since``: the last seq the replay covered. A live entry of
        # that topic at or below it was sent by the replay (its append came late).
        self._replayed_through: dict[str, int] | None = None
        # Running ``send`` requests; made on the first one.
        self._sends: set[asyncio.Task[None]] | None = None
        self._closing: tuple[int, str] | None = None
        self._scope: anyio.CancelScope | None = None

    async def run(self) -> None:
        expiry = None
        if self._expires_at is not None:
            delay = max(0.0, self._expires_at - time.time())
            expiry = asyncio.get_running_loop().call_later(delay, self._shut, TOKEN_EXPIRED, "token expired")
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._closing is not None:
                    scope.cancel()
                await self._receive_loop()
        finally:
            if expiry is not None:
                expiry.cancel()
            if self._attached:
                self._fanout.detach(self.tenant_id, self)
                self._attached = False
            await self._stop_tasks()
        if self._closing is not None:
            await self._close(*self._closing)

    async def _stop_tasks(self) -> None:
        tasks = [*(self._sends or ()), *([self._writer] if self._writer is not None else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # Called by the fan-out reader: synchronous, never blocks.

    def deliver(self, entry: FeedEntry) -> None:
        if self._closing is not None:
            return
        if ALL_SESSIONS not in self._topics and entry.session_id not in self._topics:
            return
        if self._held is not None:
            if len(self._held) >= self._limit:
                WS_SLOW_CONSUMER_CLOSES.inc()
                self._shut(TRY_AGAIN_LATER, "send buffer full; reconnect with since")
                return
            self._held.append(entry)
            return
        if self._replayed_through is None or not self._replayed_already(entry):
            self._enqueue(entry.frame)

    def revoke(self, reason: str) -> None:
        """The key behind this socket is gone (called by ``relay.web.revocation`` from its task)."""
        self._shut(CREDENTIALS_REVOKED, reason)

    def write_timed_out(self) -> None:
        """One frame waited ``WS_WRITE_TIMEOUT`` for the client (called by the watchdog)."""
        WS_SLOW_CONSUMER_CLOSES.inc()
        self._shut(TRY_AGAIN_LATER, "client too slow; reconnect with since")

    def _replayed_already(self, entry: FeedEntry) -> bool:
        if entry.seq is None or not self._replayed_through:
            return False
        return any(
            entry.seq <= through and (topic == ALL_SESSIONS or topic == entry.session_id)
            for topic, through in self._replayed_through.items()
        )

    # Outgoing frames.

    def _enqueue(self, frame: str) -> None:
        if len(self._send_buffer) >= self._limit:
            WS_SLOW_CONSUMER_CLOSES.inc()
            self._shut(TRY_AGAIN_LATER, "send buffer full; reconnect with since")
            return
        self._send_buffer.append(frame)
        if self._writer is None and self._closing is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_buffered())

    async def _write_buffered(self) -> None:
        """Write every buffered frame, including those queued meanwhile, then end.

        One task per burst, not per frame or per socket lifetime: a frame queued while
        this runs is picked up by the same loop.
        """
        loop = asyncio.get_running_loop()
        buffer = self._send_buffer
        send_text = self._websocket.send_text
        self._watchdog.writing(self)
        try:
            while buffer:
                frame = buffer.popleft()
                self.write_started = loop.time()
                await send_text(frame)
                if self._progress is not None:
                    self._progress.set()
        except (WebSocketDisconnect, RuntimeError, OSError):
            self._shut_quietly()
        finally:
            self.write_started = None
            self._watchdog.idle(self)
            self._writer = None
            if self._progress is not None:
                self._progress.set()

    async def _wait_for_writer(self) -> None:
        """Until the writer has taken at least one more frame (or ended)."""
        if self._writer is None:
            return
        if self._progress is None:
            self._progress = asyncio.Event()
        self._progress.clear()
        await self._progress.wait()

    async def _enqueue_when_room(self, frame: str) -> None:
        """Replay waits for the writer instead of overflowing: the server, not the client, is the producer."""
        while len(self._send_buffer) >= self._limit:
            if self._writer is None:
                # Only when the socket is closing: the cancellation is delivered here.
                await anyio.lowlevel.checkpoint()
            await self._wait_for_writer()
        self._enqueue(frame)

    async def _drain(self) -> None:
        while self._send_buffer and self._writer is not None:
            await self._wait_for_writer()

    def _shut(self, code: int, reason: str) -> None:
        """End the connection from any task; ``run`` sends the close frame once the loops are down."""
        if self._closing is None:
            self._closing = (code, reason)
            log.info("closing feed socket of %s: %d %s", self.tenant_id, code, reason)
        self._shut_quietly()

    def _shut_quietly(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()

    async def _close(self, code: int, reason: str) -> None:
        if self._websocket.application_state != WebSocketState.CONNECTED:
            return
        # A stalled client may never read the close frame; do not wait for it forever.
        with anyio.move_on_after(WS_CLOSE_TIMEOUT):
            try:
                await self._websocket.close(code=code, reason=reason)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass

    # Incoming frames.

    async def _receive_loop(self) -> None:
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = protocol.parse_frame(message.get("text", message.get("bytes")))
            except ProtocolError as exc:
                self._enqueue(protocol.error(str(exc)))
                continue
            if isinstance(frame, Ping):
                self._enqueue(protocol.pong())
            elif isinstance(frame, Subscribe):
                try:
                    await self._subscribe(frame)
                except Exception:
                    # A database hiccup fails this request, not the socket and its other subscriptions.
                    log.exception("subscribe failed for %s", self.tenant_id)
                    self._topics.discard(frame.session_id)
                    self._enqueue(protocol.error("subscribe failed; retry shortly"))
            elif isinstance(frame, Unsubscribe):
                self._unsubscribe(frame.session_id)
            elif isinstance(frame, Send):
                self._start_send(frame)
            else:
                self._enqueue(protocol.error("already authenticated"))

    async def _subscribe(self, frame: Subscribe) -> None:
        topic = frame.session_id
        if not await can_follow(self.tenant_id, topic):
            self._enqueue(protocol.error("session not found"))
            return
        if not self._attached:
            try:
                await self._fanout.attach(self.tenant_id, self)
            except RedisError:
                log.warning("live feed unavailable for %s", self.tenant_id, exc_info=True)
                self._enqueue(protocol.error("live feed unavailable; retry shortly"))
                return
            self._attached = True
        if frame.since is None:
            self._topics.add(topic)
            self._enqueue(protocol.subscribed(topic))
            return
        self._held = []
        self._topics.add(topic)
        self._enqueue(protocol.subscribed(topic))
        try:
            replay = await self._replay(topic, frame.since)
        except Exception:
            # Held live events cannot be released past a hole in the replay: start over.
            log.exception("replay failed for %s", self.tenant_id)
            self._held = None
            self._shut(TRY_AGAIN_LATER, "replay failed; reconnect with since")
            return
        if not replay.complete:
            # The held live events are newer than what the limit left out: releasing
            # them would move the client's cursor past a hole. Send the replay, then
            # let the client come back for the rest.
            await self._drain()
            self._shut(TRY_AGAIN_LATER, "replay limit reached; reconnect with since")
            return
        if self._replayed_through is None:
            self._replayed_through = {}
        self._replayed_through[topic] = max(self._replayed_through.get(topic, 0), replay.through)
        held, self._held = self._held, None
        assert held is not None
        for entry in held:
            if not self._replayed_already(entry):
                self._enqueue(entry.frame)

    async def _replay(self, topic: str, since: str) -> _Replay:
        """Send the ledger after ``since``, in commit order, up to ``WS_REPLAY_LIMIT`` events."""
        through = await cursor_position(self.tenant_id, since)
        sent = 0
        async for entry in events_after(self.tenant_id, topic, through):
            if sent >= WS_REPLAY_LIMIT:
                return _Replay(complete=False, through=through)
            sent += 1
            through = entry.seq or through
            await self._enqueue_when_room(entry.frame)
        return _Replay(complete=True, through=through)

    def _unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
        if not self._topics and self._attached:
            self._fanout.detach(self.tenant_id, self)
            self._attached = False
        self._enqueue(protocol.unsubscribed(topic))

    def _start_send(self, frame: Send) -> None:
        if self._sends is None:
            self._sends = set()
        if len(self._sends) >= MAX_SENDS_IN_FLIGHT:
            self._enqueue(protocol.result_error(frame.request_id, "too many sends in flight"))
            return
        task = asyncio.get_running_loop().create_task(self._send(frame))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, frame: Send) -> None:
        """Runs beside the receive loop: the worker may take ``send_wait`` seconds to answer."""
        try:
            message, _status = await send_message(
                redis=self._redis,
                settings=self._settings,
                tenant_id=self.tenant_id,
                session_id=frame.session_id,
                body=frame.body,
                idempotency_key=frame.idempotency_key,
            )
        except Problem as problem:
            self._enqueue(protocol.result_error(frame.request_id, problem.detail, problem.to_dict()))
        except RedisError:
            self._enqueue(protocol.result_error(frame.request_id, "command bus unavailable; retry"))
        except Exception:
            log.exception("send over the feed failed")
            self._enqueue(protocol.result_error(frame.request_id, "internal error"))
        else:
            self._enqueue(protocol.result_ok(frame.request_id, message.model_dump(mode="json")))
