"""A session's hand-off from its engine to the ledger: in order, on disk, never dropped.

The reporter ``submit``s each event and goes on: the event is appended to the
worker's journal (so a killed worker still has it) and queued in memory. One
drainer task per session takes everything queued as one group and publishes it
(``publish_until_settled``), so a burst becomes a few large groups, and while the
database is unreachable it keeps retrying the same group, in order, until it
commits. Past ``MEMORY_LIMIT`` queued events a session stops keeping payloads in
memory: the journal already holds them, and the drainer reads them back from
there when their turn comes. A segment of the journal is deleted once all its
events are settled.

Callers that need the outcome (a message's ``sent`` with its row, a status the
runner decides on) ``submit_and_wait`` or ``flush``. When the database says the
fence is no longer the session's (``LeaseLost``), everything queued under it is
discarded, with a log line: the session has another owner now.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from relay.core.events import LeaseLost
from workers.database_watch import DatabaseWatch
from workers.journal import Journal, Segment
from workers.pending_event import PendingEvent
from workers.publish_retry import publish_until_settled

log = logging.getLogger("relay.worker.handoff")

# At most this many events go to the ledger in one group.
GROUP_LIMIT = 500
# Events a session keeps in memory; beyond this, the rest wait in the journal only.
MEMORY_LIMIT = 1_000


@dataclass(slots=True)
class _Queued:
    """An event whose payload is in memory."""

    event: PendingEvent
    segment: Segment | None  # None only when the journal could not take it
    committed: asyncio.Future[bool] | None = None  # for submit_and_wait


@dataclass(slots=True)
class _Spilled:
    """Consecutive events whose payloads are only in the journal, between two offsets of a segment."""

    segment: Segment
    start: int
    end: int
    count: int


class SessionHandoff:
    def __init__(
        self,
        *,
        session_id: str,
        redis: Redis | None,
        journal: Journal,
        watch: DatabaseWatch,
        on_lease_lost: Callable[[], None],
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        self._session_id = session_id
        self._redis = redis
        self._journal = journal
        self._watch = watch
        self._on_lease_lost = on_lease_lost
        self._memory_limit = memory_limit
        self._queue: deque[_Queued | _Spilled] = deque()
        self._in_memory = 0
        self._segment: Segment | None = None  # where the next event is appended
        self._segments: set[Segment] = set()
        self._submitted = 0
        self._settled = 0
        self._progress = asyncio.Condition()
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self.lease_lost = False

    @property
    def unsettled(self) -> int:
        """Events submitted that the ledger has neither committed nor refused yet."""
        return self._submitted - self._settled

    @property
    def in_memory(self) -> int:
        """Queued events whose payloads are held in memory (the rest wait in the journal)."""
        return self._in_memory

    def start(self) -> None:
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name=f"handoff-{self._session_id}")

    async def close(self) -> None:
        """Stop publishing; what is still unsettled stays in the journal for the next worker."""
        if self._drainer is not None:
            self._drainer.cancel()
            await asyncio.gather(self._drainer, return_exceptions=True)
            self._drainer = None
        for segment in list(self._segments):
            segment.close()
        if self.unsettled:
            log.warning(
                "session %s: %d event(s) not in the ledger yet stay in the journal",
                self._session_id,
                self.unsettled,
            )

    # -- what the reporter calls ---------------------------------------------------------------

    async def submit(self, event: PendingEvent) -> None:
        """Queue ``event`` behind everything before it; returns once it is in the journal."""
        if self._refused(event):
            return
        segment, offset = self._append_to_journal(event)
        spilling = self._in_memory >= self._memory_limit or (
            bool(self._queue) and isinstance(self._queue[-1], _Spilled)
        )
        if segment is not None and spilling:
            self._spill(segment, offset)
        else:
            self._queue.append(_Queued(event, segment))
            self._in_memory += 1
        self._submitted += 1
        self._wake.set()
        if self._journal.behind:
            # The disk, not the database, is what a fast engine may have to wait for.
            await self._journal.wait_synced()

    async def submit_and_wait(self, event: PendingEvent) -> bool:
        """Queue ``event`` and wait for the ledger: ``True`` once committed, ``False`` if it never will be."""
        if self._refused(event):
            return False
        committed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        segment, _ = self._append_to_journal(event)
        self._queue.append(_Queued(event, segment, committed))
        self._in_memory += 1
        self._submitted += 1
        self._wake.set()
        return await committed

    async def flush(self) -> bool:
        """Wait until everything submitted so far is settled; ``False`` if the lease was lost meanwhile."""
        target = self._submitted
        async with self._progress:
            await self._progress.wait_for(lambda: self._settled >= target)
        return not self.lease_lost

    def _spill(self, segment: Segment, offset: int) -> None:
        """Keep only where the event is in the journal; consecutive ones share one entry."""
        tail = self._queue[-1] if self._queue else None
        if isinstance(tail, _Spilled) and tail.segment is segment and tail.end == offset:
            tail.end, tail.count = segment.size, tail.count + 1
        else:
            self._queue.append(_Spilled(segment, offset, segment.size, 1))

    def _refused(self, event: PendingEvent) -> bool:
        if self.lease_lost:
            log.info("session %s: %s not recorded: the lease was lost", self._session_id, event.type)
        return self.lease_lost

    def _append_to_journal(self, event: PendingEvent) -> tuple[Segment | None, int]:
        line = event.encode()
        try:
            if self._segment is None or self._segment.sealed:
                self._segment = self._journal.new_segment(self._session_id)
                self._segments.add(self._segment)
            offset = self._segment.append(line)
        except OSError:
            # Still never dropped: it waits in memory, but a killed worker would lose it. A write
            # cut short may have left part of a line: that segment takes nothing more.
            log.exception("session %s: the journal could not take a %s event", self._session_id, event.type)
            self._abandon_segment()
            return None, 0
        self._journal.written(self._segment)
        return self._segment, offset

    def _abandon_segment(self) -> None:
        """The open segment takes no more appends; an empty one goes at once."""
        segment, self._segment = self._segment, None
        if segment is None:
            return
        segment.seal()
        if segment.records == 0:
            segment.remove()
            self._segments.discard(segment)

    # -- the drainer ---------------------------------------------------------------------------

    async def _drain(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                group = await self._take()
                if not group:
                    continue
                try:
                    outcomes = await publish_until_settled(
                        self._redis, [item.event for item in group], self._watch
                    )
                except LeaseLost:
                    await self._discard(group)
                    return
                await self._settle(group, outcomes)

    async def _take(self) -> list[_Queued]:
        """Up to ``GROUP_LIMIT`` events from the head of the queue, read back from the journal if spilled."""
        group: list[_Queued] = []
        while self._queue and len(group) < GROUP_LIMIT:
            head = self._queue[0]
            if isinstance(head, _Queued):
                self._queue.popleft()
                self._in_memory -= 1
                group.append(head)
            else:
                group += await self._read_back(head, GROUP_LIMIT - len(group))
        if not self._queue:
            # Everything appended so far is on its way: the next event starts a new segment, so this
            # one is deleted as soon as the group commits.
            self._abandon_segment()
        return group

    async def _read_back(self, spilled: _Spilled, limit: int) -> list[_Queued]:
        try:
            lines, spilled.start = await asyncio.to_thread(
                spilled.segment.read_records, spilled.start, spilled.end, limit
            )
        except FileNotFoundError:
            lines = []
        except OSError:
            # Out of file descriptors, say: the events are still there, try again shortly.
            log.exception("session %s: reading back from %s failed", self._session_id, spilled.segment.path)
            await asyncio.sleep(1)
            return []
        spilled.count -= len(lines)
        if not lines or spilled.count <= 0:
            self._queue.popleft()
        unreadable = spilled.count if not lines else 0
        events: list[_Queued] = []
        for line in lines:
            try:
                events.append(_Queued(PendingEvent.decode(line), spilled.segment))
            except ValueError:
                unreadable += 1
        if unreadable:
            # Only a journal changed behind the worker's back gets here: say so loudly.
            log.error(
                "session %s: %d event(s) could not be read back from %s",
                self._session_id,
                unreadable,
                spilled.segment.path,
            )
            spilled.segment.settled += unreadable
            await self._count_settled(unreadable)
        return events

    async def _settle(self, group: list[_Queued], outcomes: list[bool]) -> None:
        for item, committed in zip(group, outcomes, strict=True):
            if item.segment is not None:
                item.segment.settled += 1
            if item.committed is not None and not item.committed.done():
                item.committed.set_result(committed)
        for segment in {item.segment for item in group if item.segment is not None}:
            if segment.finished:
                segment.remove()
                self._segments.discard(segment)
        await self._count_settled(len(group))

    async def _discard(self, group: list[_Queued]) -> None:
        """The database says another owner holds the session: nothing under this fence will be written."""
        self.lease_lost = True
        queued = list(self._queue)
        discarded = len(group) + sum(item.count if isinstance(item, _Spilled) else 1 for item in queued)
        for item in [*group, *queued]:
            if isinstance(item, _Queued) and item.committed is not None and not item.committed.done():
                item.committed.set_result(False)
        self._queue.clear()
        self._in_memory = 0
        for segment in self._segments:
            segment.remove()
        self._segments.clear()
        self._segment = None
        log.warning(
            "session %s: lease lost (token %d): %d event(s) reported under it discarded; "
            "the session has another owner",
            self._session_id,
            group[0].event.fence,
            discarded,
        )
        await self._count_settled(self.unsettled)
        self._on_lease_lost()

    async def _count_settled(self, count: int) -> None:
        async with self._progress:
            self._settled += count
            self._progress.notify_all()
