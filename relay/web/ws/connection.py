"""One authenticated feed socket: its subscriptions, its send buffer, its two loops.

Everything the server says goes through one bounded send buffer drained by
one pump task, so frames never interleave and a client that stops reading is
noticed: when the send buffer is full, or one frame waits longer than
``WS_WRITE_TIMEOUT`` for the socket, the connection closes with 1013 and the
client resumes with ``since`` (Centrifugo's slow-consumer rule; an unbounded
queue would let one stalled browser grow the process without limit).

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

The pump, the receive loop and any ``send`` requests run in one task group, so
whichever ends first (client gone, slow consumer, server shutdown) ends all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

import anyio
from anyio.abc import TaskGroup
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from relay.core.config import Settings
from relay.core.constants import WS_CLOSE_TIMEOUT, WS_REPLAY_LIMIT, WS_WRITE_TIMEOUT
from relay.core.problems import Problem
from relay.web.services.messages import send_message
from relay.web.ws import protocol
from relay.web.ws.entries import FeedEntry
from relay.web.ws.fanout import EventFanout
from relay.web.ws.ledger import can_follow, cursor_position, events_after
from relay.web.ws.protocol import ALL_SESSIONS, Ping, ProtocolError, Send, Subscribe, Unsubscribe

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

    def __init__(
        self,
        websocket: WebSocket,
        *,
        tenant_id: str,
        settings: Settings,
        redis: Redis,
        fanout: EventFanout,
        expires_at: float | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self._expires_at = expires_at
        self._websocket = websocket
        self._settings = settings
        self._redis = redis
        self._fanout = fanout
        self._limit = settings.ws_send_buffer
        self._send_buffer: deque[str] = deque()
        self._send_buffer_changed = asyncio.Event()
        self._topics: set[str] = set()
        self._attached = False
        # Live entries held back while a replay runs; None when live delivery flows.
        self._held: list[FeedEntry] | None = None
        # Per topic replayed with ``since``: the last seq the replay covered. A live entry of
        # that topic at or below it was sent by the replay (its append came late).
        self._replayed_through: dict[str, int] = {}
        self._sends_in_flight = 0
        self._closing: tuple[int, str] | None = None
        self._scope: anyio.CancelScope | None = None

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as group:
                self._scope = group.cancel_scope
                if self._closing is not None:
                    group.cancel_scope.cancel()
                group.start_soon(self._pump)
                if self._expires_at is not None:
                    group.start_soon(self._expire, self._expires_at)
                await self._receive_loop(group)
                group.cancel_scope.cancel()
        finally:
            if self._attached:
                self._fanout.detach(self.tenant_id, self)
                self._attached = False
        if self._closing is not None:
            await self._close(*self._closing)

    # Called by the fan-out reader: synchronous, never blocks.

    def deliver(self, entry: FeedEntry) -> None:
        if self._closing is not None:
            return
        if ALL_SESSIONS not in self._topics and entry.session_id not in self._topics:
            return
        if self._held is not None:
            if len(self._held) >= self._limit:
                self._shut(TRY_AGAIN_LATER, "send buffer full; reconnect with since")
                return
            self._held.append(entry)
            return
        if not self._replayed_already(entry):
            self._enqueue(entry.frame)

    def revoke(self, reason: str) -> None:
        """The key behind this socket is gone (called by ``relay.web.revocation`` from its task)."""
        self._shut(CREDENTIALS_REVOKED, reason)

    def _replayed_already(self, entry: FeedEntry) -> bool:
        if entry.seq is None:
            return False
        return any(
            entry.seq <= through and (topic == ALL_SESSIONS or topic == entry.session_id)
            for topic, through in self._replayed_through.items()
        )

    # Outgoing frames.

    def _enqueue(self, frame: str) -> None:
        if len(self._send_buffer) >= self._limit:
            self._shut(TRY_AGAIN_LATER, "send buffer full; reconnect with since")
            return
        self._send_buffer.append(frame)
        self._send_buffer_changed.set()

    async def _enqueue_when_room(self, frame: str) -> None:
        """Replay waits for the pump instead of overflowing: the server, not the client, is the producer."""
        while len(self._send_buffer) >= self._limit:
            self._send_buffer_changed.clear()
            await self._send_buffer_changed.wait()
        self._enqueue(frame)

    async def _drain(self) -> None:
        while self._send_buffer:
            self._send_buffer_changed.clear()
            await self._send_buffer_changed.wait()

    async def _pump(self) -> None:
        while True:
            while not self._send_buffer:
                self._send_buffer_changed.clear()
                await self._send_buffer_changed.wait()
            frame = self._send_buffer.popleft()
            self._send_buffer_changed.set()
            try:
                with anyio.fail_after(WS_WRITE_TIMEOUT):
                    await self._websocket.send_text(frame)
            except TimeoutError:
                self._shut(TRY_AGAIN_LATER, "client too slow; reconnect with since")
                return
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._shut_quietly()
                return

    async def _expire(self, expires_at: float) -> None:
        await anyio.sleep(max(0.0, expires_at - time.time()))
        self._shut(TOKEN_EXPIRED, "token expired")

    def _shut(self, code: int, reason: str) -> None:
        """End the connection from any task; ``run`` sends the close frame once the loops are down."""
        if self._closing is None:
            self._closing = (code, reason)
            log.info("closing feed socket of %s: %d %s", self.tenant_id, code, reason)
        if self._scope is not None:
            self._scope.cancel()

    def _shut_quietly(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

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

    async def _receive_loop(self, group: TaskGroup) -> None:
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
                self._start_send(group, frame)
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

    def _start_send(self, group: TaskGroup, frame: Send) -> None:
        if self._sends_in_flight >= MAX_SENDS_IN_FLIGHT:
            self._enqueue(protocol.result_error(frame.request_id, "too many sends in flight"))
            return
        self._sends_in_flight += 1
        group.start_soon(self._send, frame)

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
            self._enqueue(protocol.result_error(frame.request_id, problem.detail))
        except RedisError:
            self._enqueue(protocol.result_error(frame.request_id, "command bus unavailable; retry"))
        except Exception:
            log.exception("send over the feed failed")
            self._enqueue(protocol.result_error(frame.request_id, "internal error"))
        else:
            self._enqueue(protocol.result_ok(frame.request_id, message.model_dump(mode="json")))
        finally:
            self._sends_in_flight -= 1
