"""One Redis reader per web process, fanning tenant streams out to local sockets in commit order.

Why one reader: a blocking XREAD holds a Redis connection for its whole BLOCK
time, so a reader per socket would need a connection per socket. Instead one
task XREADs, on its own dedicated connection, the stream of every tenant that
has at least one local listener, and hands each entry to that tenant's
listeners in memory. A listener (one per socket) filters and queues; it never
blocks the reader, so one stalled socket cannot slow the others.

Why entries go through a ``TenantOrder``: listeners get a tenant's events
strictly in seq order (commit order), with no gap. Writers append to the
stream after their commit, so two of them can append in the opposite order
of their commits, and an append can be lost to a Redis blink; an entry that
arrives after a gap is held back, and a gap that lasts ``FEED_GAP_WAIT`` is
filled from the ledger. A tail check every ``FEED_TAIL_CHECK_SECONDS`` does
the same for a lost append that no later event follows. When Redis fails
under the reader, listeners stay attached: the ledger fills what the stream
missed, and reading resumes where it stopped once Redis is back.

Why ``attach`` records the stream's last id, then the ledger's last committed
seq, before it returns: it makes ``since`` replay gap-free. Every event up to
that seq is in the ledger already, and every later one commits after the
stream position was read, so its append lands after that position (or, if
lost, is filled from the ledger): it is delivered live.

Tenant isolation is structural: entries from a tenant's stream (or its ledger
rows) are only ever handed to listeners attached under that tenant id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import KeyT, StreamIdT

from relay.core.constants import (
    FEED_GAP_WAIT,
    FEED_TAIL_CHECK_SECONDS,
    LEDGER_PAGE,
    WS_READER_BLOCK_MS,
    tenant_stream_key,
    ws_wake_key,
)
from relay.web.ws.entries import FeedEntry, entry_from_stream
from relay.web.ws.ledger import LedgerFeed
from relay.web.ws.ordering import TenantOrder

log = logging.getLogger("relay.web.ws.fanout")

READ_COUNT = 500
# Visible in CLIENT LIST, so an operator can count readers: one per web process.
READER_CLIENT_NAME = "relay-ws-reader"
WAKE_KEY_TTL = 24 * 3600
RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class FeedListener(Protocol):
    def deliver(self, entry: FeedEntry) -> None:
        """Called from the fan-out's tasks, in seq order; must not block or await."""


class FeedLedger(Protocol):
    """What the fan-out reads from the ledger: where each tenant's commits stand, and missing entries."""

    async def committed_positions(self, tenant_ids: Iterable[str]) -> dict[str, int]: ...

    async def entries_between(self, tenant_id: str, first: int, last: int) -> list[FeedEntry]: ...


@dataclass(eq=False)
class _TenantFeed:
    tenant_id: str
    key: bytes
    # The last stream id read; None until attach has fetched it.
    position: str | None = None
    order: TenantOrder | None = None
    listeners: set[FeedListener] = field(default_factory=set)
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)


def _stream_id(value: str) -> tuple[int, int]:
    millis, _, sequence = value.partition("-")
    return int(millis), int(sequence or 0)


class EventFanout:
    """The process-wide reader of tenant event streams."""

    def __init__(
        self,
        redis_url: str,
        *,
        block_ms: int = WS_READER_BLOCK_MS,
        ledger: FeedLedger | None = None,
    ) -> None:
        self._redis_url = redis_url
        self._block_ms = block_ms
        self._ledger: FeedLedger = ledger or LedgerFeed()
        self._feeds: dict[str, _TenantFeed] = {}
        self._by_key: dict[bytes, _TenantFeed] = {}
        self._wake_key = ws_wake_key(uuid.uuid4().hex)
        self._wake_key_bytes = self._wake_key.encode()
        self._wake_position = "0-0"
        self._reader: Redis | None = None
        self._commands: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._gap_noticed = asyncio.Event()

    @property
    def tenant_count(self) -> int:
        return len(self._feeds)

    async def start(self) -> None:
        # The blocking XREAD gets a connection of its own; short commands share a small pool.
        self._reader = Redis.from_url(
            self._redis_url, single_connection_client=True, client_name=READER_CLIENT_NAME
        )
        self._commands = Redis.from_url(self._redis_url, max_connections=8)
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="relay-ws-fanout"),
            asyncio.create_task(self._fill_gaps_forever(), name="relay-ws-gaps"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._commands is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._commands.delete(self._wake_key)
            await self._commands.aclose()
        if self._reader is not None:
            await self._reader.aclose()

    async def attach(self, tenant_id: str, listener: FeedListener) -> None:
        """Start delivering ``tenant_id``'s new events to ``listener``, in seq order.

        When this returns, every event not yet delivered to the listener is
        either in the ledger already or will be delivered live. Raises
        ``RedisError`` when the stream position cannot be read, or the
        database's error when the ledger's cannot.
        """
        feed = self._feeds.get(tenant_id)
        if feed is None:
            feed = _TenantFeed(tenant_id=tenant_id, key=tenant_stream_key(tenant_id).encode())
            self._feeds[tenant_id] = feed
            self._by_key[feed.key] = feed
        feed.listeners.add(listener)
        if feed.position is None:
            await self._open(feed, listener)

    async def _open(self, feed: _TenantFeed, listener: FeedListener) -> None:
        """Fetch the positions once, however many sockets attach at the same moment."""
        async with feed.opening:
            if feed.position is not None:
                return  # another attach fetched them while this one waited for the lock
            try:
                # The stream first, then the ledger: see the module docstring.
                position = await self._last_id(feed.key)
                committed = await self._ledger.committed_positions([feed.tenant_id])
            except BaseException:
                self.detach(feed.tenant_id, listener)
                raise
            feed.order = TenantOrder(committed[feed.tenant_id] + 1)
            feed.position = position
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
                # Listeners stay: what the stream misses meanwhile comes from the ledger (tail checks).
                delay = RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)]
                failures += 1
                log.warning("feed reader failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("feed reader reading again after %d failures", failures)
            failures = 0
            for key, entries in response or []:
                self._dispatch(key, entries)

    def _dispatch(self, key: bytes, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        if key == self._wake_key_bytes:
            if entries:
                self._wake_position = entries[-1][0].decode()
            return
        feed = self._by_key.get(key)
        if feed is None or feed.position is None or feed.order is None:
            return  # trimmed while the read was in flight
        now = asyncio.get_running_loop().time()
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
            if entry.seq is None:
                self._deliver(feed, [entry])  # written by a version without seqs: nothing to order by
                continue
            self._deliver(feed, feed.order.offer(entry, now))
        if feed.order.deadline() is not None:
            self._gap_noticed.set()

    def _deliver(self, feed: _TenantFeed, entries: list[FeedEntry]) -> None:
        for entry in entries:
            for listener in list(feed.listeners):
                listener.deliver(entry)

    async def _fill_gaps_forever(self) -> None:
        """Fill overdue gaps from the ledger, and check every tenant's tail now and then."""
        loop = asyncio.get_running_loop()
        next_tail_check = loop.time() + FEED_TAIL_CHECK_SECONDS
        while True:
            deadlines = [
                deadline
                for feed in self._feeds.values()
                if feed.order is not None and (deadline := feed.order.deadline()) is not None
            ]
            wake_at = min([next_tail_check, *deadlines])
            if wake_at > loop.time():
                self._gap_noticed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wake_at - loop.time()):
                        await self._gap_noticed.wait()
                continue
            try:
                if loop.time() >= next_tail_check:
                    next_tail_check = loop.time() + FEED_TAIL_CHECK_SECONDS
                    await self._check_tails()
                await self._fill_overdue()
            except Exception:
                # The database is unavailable: keep holding, try again shortly.
                log.warning("could not read the ledger for the feed", exc_info=True)
                await asyncio.sleep(FEED_GAP_WAIT)

    async def _check_tails(self) -> None:
        feeds = [feed for feed in self._feeds.values() if feed.order is not None]
        for start in range(0, len(feeds), LEDGER_PAGE):
            chunk = feeds[start : start + LEDGER_PAGE]
            committed = await self._ledger.committed_positions(feed.tenant_id for feed in chunk)
            now = asyncio.get_running_loop().time()
            for feed in chunk:
                assert feed.order is not None
                feed.order.expect_through(committed[feed.tenant_id], now)

    async def _fill_overdue(self) -> None:
        loop = asyncio.get_running_loop()
        for feed in list(self._feeds.values()):
            order = feed.order
            if order is None or (deadline := order.deadline()) is None or deadline > loop.time():
                continue
            missing = order.missing()
            if missing is None:
                continue
            first, last = missing
            entries = await self._ledger.entries_between(feed.tenant_id, first, last)
            if self._feeds.get(feed.tenant_id) is not feed:
                continue  # nobody listens any more
            log.info("feed of %s: seqs %d-%d read from the ledger", feed.tenant_id, first, last)
            self._deliver(feed, order.fill(entries, last, loop.time()))
