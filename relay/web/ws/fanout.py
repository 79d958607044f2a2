"""One Redis reader per web process, fanning tenant streams out to local sockets.

Why one reader: a blocking XREAD holds a Redis connection for its whole BLOCK
time, so a reader per socket would need a connection per socket. Instead one
task XREADs, on its own dedicated connection, the stream of every tenant that
has at least one local listener, and hands each entry to that tenant's
listeners in memory. A listener (one per socket) filters and queues; it never
blocks the reader, so one stalled socket cannot slow the others.

Why ``attach`` records the stream's last id before it returns: it makes
``since`` replay gap-free. Publishers XADD only after the ledger commit, so
every event is either already in the stream at that recorded position (hence
committed, hence visible to a ledger query made afterwards) or XADDed later
(hence delivered live to listeners attached now).

Tenant isolation is structural: entries from a tenant's stream are only ever
handed to listeners attached under that tenant id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import KeyT, StreamIdT

from relay.core.constants import WS_READER_BLOCK_MS, tenant_stream_key, ws_wake_key
from relay.web.ws.entries import FeedEntry, entry_from_stream

log = logging.getLogger("relay.web.ws.fanout")

READ_COUNT = 500
# Visible in CLIENT LIST, so an operator can count readers: one per web process.
READER_CLIENT_NAME = "relay-ws-reader"
WAKE_KEY_TTL = 24 * 3600
RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class FeedListener(Protocol):
    def deliver(self, entry: FeedEntry) -> None:
        """Called from the reader task; must not block or await."""

    def feed_lost(self) -> None:
        """The reader could not read for a while; live continuity is no longer guaranteed."""


@dataclass(eq=False)
class _TenantFeed:
    key: bytes
    # The last stream id handed out; None until attach has fetched it.
    position: str | None = None
    listeners: set[FeedListener] = field(default_factory=set)
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)


def _stream_id(value: str) -> tuple[int, int]:
    millis, _, sequence = value.partition("-")
    return int(millis), int(sequence or 0)


class EventFanout:
    """The process-wide reader of tenant event streams."""

    def __init__(self, redis_url: str, *, block_ms: int = WS_READER_BLOCK_MS) -> None:
        self._redis_url = redis_url
        self._block_ms = block_ms
        self._feeds: dict[str, _TenantFeed] = {}
        self._by_key: dict[bytes, _TenantFeed] = {}
        self._wake_key = ws_wake_key(uuid.uuid4().hex)
        self._wake_key_bytes = self._wake_key.encode()
        self._wake_position = "0-0"
        self._reader: Redis | None = None
        self._commands: Redis | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def tenant_count(self) -> int:
        return len(self._feeds)

    async def start(self) -> None:
        # The blocking XREAD gets a connection of its own; short commands share a small pool.
        self._reader = Redis.from_url(
            self._redis_url, single_connection_client=True, client_name=READER_CLIENT_NAME
        )
        self._commands = Redis.from_url(self._redis_url, max_connections=8)
        self._task = asyncio.create_task(self._read_forever(), name="relay-ws-fanout")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._commands is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._commands.delete(self._wake_key)
            await self._commands.aclose()
        if self._reader is not None:
            await self._reader.aclose()

    async def attach(self, tenant_id: str, listener: FeedListener) -> None:
        """Start delivering ``tenant_id``'s new events to ``listener``.

        When this returns, every event not yet delivered to the listener is
        either in the ledger already or will be delivered live. Raises
        ``RedisError`` when the stream position cannot be read.
        """
        feed = self._feeds.get(tenant_id)
        if feed is None:
            feed = _TenantFeed(key=tenant_stream_key(tenant_id).encode())
            self._feeds[tenant_id] = feed
            self._by_key[feed.key] = feed
        feed.listeners.add(listener)
        if feed.position is None:
            await self._open(tenant_id, feed, listener)

    async def _open(self, tenant_id: str, feed: _TenantFeed, listener: FeedListener) -> None:
        """Fetch the stream's position once, however many sockets attach at the same moment."""
        async with feed.opening:
            if feed.position is not None:
                return  # another attach fetched it while this one waited for the lock
            try:
                feed.position = await self._last_id(feed.key)
            except BaseException:
                self.detach(tenant_id, listener)
                raise
        await self._wake()

    def detach(self, tenant_id: str, listener: FeedListener) -> None:
        """Stop delivering to ``listener``; a tenant with no listeners left is no longer read."""
        feed = self._feeds.get(tenant_id)
        if feed is None:
            return
        feed.listeners.discard(listener)
        if not feed.listeners:
            del self._feeds[tenant_id]
            self._by_key.pop(feed.key, None)

    async def _last_id(self, key: bytes) -> str:
        assert self._commands is not None
        newest = await self._commands.xrevrange(key, "+", "-", count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _wake(self) -> None:
        """Make the blocked XREAD return so the next one includes the new stream."""
        assert self._commands is not None
        try:
            async with self._commands.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
                pipe.expire(self._wake_key, WAKE_KEY_TTL)
                await pipe.execute()
        except RedisError:
            # Not fatal: the reader's BLOCK is short and picks the stream up on its next round.
            log.warning("could not wake the feed reader")

    async def _read_forever(self) -> None:
        assert self._reader is not None
        failures = 0
        while True:
            streams: dict[KeyT, StreamIdT] = {self._wake_key: self._wake_position}
            for feed in self._feeds.values():
                if feed.position is not None:
                    streams[feed.key] = feed.position
            try:
                response = await self._reader.xread(streams, count=READ_COUNT, block=self._block_ms)
            except (RedisError, OSError) as exc:
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                log.warning("feed reader failed (%s); retrying in %.1fs", exc, delay)
                self._lose_everything()
                await asyncio.sleep(delay)
                continue
            failures = 0
            for key, entries in response or []:
                self._dispatch(key, entries)

    def _dispatch(self, key: bytes, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        if key == self._wake_key_bytes:
            if entries:
                self._wake_position = entries[-1][0].decode()
            return
        feed = self._by_key.get(key)
        if feed is None or feed.position is None:
            return  # trimmed while the read was in flight
        for raw_id, fields in entries:
            entry_id = raw_id.decode()
            # A read issued before the tenant was trimmed and re-attached may return
            # entries at or below the new position: those are in the ledger already.
            if _stream_id(entry_id) <= _stream_id(feed.position):
                continue
            feed.position = entry_id
            entry = entry_from_stream(fields)
            if entry is None:
                continue
            for listener in list(feed.listeners):
                listener.deliver(entry)

    def _lose_everything(self) -> None:
        """Redis failed under the reader: events may have been missed, so every listener must resume.

        A publisher whose XADD failed meanwhile wrote only to the ledger, so
        carrying on from the old positions could hide a gap; clients resume
        losslessly with ``since`` instead.
        """
        feeds = list(self._feeds.values())
        self._feeds.clear()
        self._by_key.clear()
        for feed in feeds:
            for listener in list(feed.listeners):
                listener.feed_lost()
