"""The event writer: one per process, it commits every publisher's groups in few transactions.

Publishers from every session hand their groups to the same writer
(``relay.core.events.publish_events``). The writer takes what is waiting,
waits a moment for more when the previous batch had more callers than are
back yet (at most ``WRITER_BATCH_WAIT``, or until ``WRITER_BATCH_EVENTS``
events), and writes the batch in ONE transaction (``relay.core.batch``).
Each caller then gets its own group's envelopes, and ONE Redis pipeline
carries the batch's feed appends and the steps' hand-offs (webhook dispatch)
in the background, in batch order, while the next batch is written: callers
wait for the database, never for Redis.

Failures stay with the group that caused them:
- a group whose fence went stale gets ``LeaseLost``; the batch is written
  again without it;
- an unreachable or locked database fails every group of the batch at once; any other
  error fails a lone group, and a batch of several is retried group by group,
  so one bad group (an integrity error in its ``also_write``) fails only its
  own caller;
- a Redis error after the commit is logged and fails nobody: the ledger is the
  truth, the webhook sweeper finds the deliveries, the feed fills gaps from
  the ledger and clients resume with ``since``.

A caller cancelled before its group is written takes the group with it; once
the batch is being written, the group commits whatever became of its caller.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # tortoise's Postgres driver; it ships no types
import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from tortoise.exceptions import OperationalError

from relay.core.batch import FencesRefused, commit_batch, fences_of
from relay.core.constants import (
    TENANT_STREAM_MAXLEN,
    WRITER_BATCH_EVENTS,
    WRITER_BATCH_WAIT,
    WRITER_REDIS_TIMEOUT,
    tenant_stream_key,
)
from relay.core.metrics import count_published
from relay.core.outage_log import OutageLog
from relay.core.publishing import AfterCommit, LeaseLost, NewEvent, PublishStep

log = logging.getLogger("relay.core.writer")

# Redis down: one warning when the hand-offs start failing, one line when they work again.
_redis_outage = OutageLog(
    log,
    "feed append and webhook hand-off",
    "skipped until Redis answers; the ledger has the events (the feed fills its gaps from it,"
    " the webhook sweeper finds the deliveries)",
)

# Errors about the database, not about a group's rows: writing the groups one by one would
# only fail (or wait) once per group. OSError covers refused and timed-out connections and
# tortoise's DBConnectionError; a lock wait past the writer's lock timeout, a deadlock or a
# busy SQLite file are the same for every group of the batch.
WHOLE_BATCH_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.TransactionRollbackError,
)


def _about_the_whole_batch(error: Exception) -> bool:
    if isinstance(error, WHOLE_BATCH_ERRORS):
        return True
    busy_sqlite = isinstance(error.__context__, sqlite3.OperationalError) and "locked" in str(error)
    return isinstance(error, OperationalError) and busy_sqlite


Envelopes = list[dict[str, Any]]


@dataclass(eq=False, slots=True)
class _Submission:
    redis: Redis | None
    events: Sequence[NewEvent]
    steps: tuple[PublishStep, ...]
    done: asyncio.Future[Envelopes]
    maybe_committed: bool = False

    def fail(self, error: BaseException) -> None:
        if self.done.done():
            return
        if isinstance(error, asyncio.CancelledError):
            self.done.cancel()
        else:
            self.done.set_exception(error)


class EventWriter:
    """Coalesces submitted groups into batches, one transaction at a time, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._queue: deque[_Submission] = deque()
        self._queued_events = 0
        self._arrived = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        # How many groups the previous batch carried: that many callers may be about to come back.
        self._last_batch_groups = 0
        # The latest batch's Redis hand-off; each one waits for the one before it.
        self._handing_off: asyncio.Task[None] | None = None

    async def publish(
        self,
        redis: Redis | None,
        events: Sequence[NewEvent],
        steps: tuple[PublishStep, ...],
        *,
        maybe_committed: bool = False,
    ) -> Envelopes:
        submission = _Submission(redis, events, steps, self.loop.create_future(), maybe_committed)
        self._queue.append(submission)
        self._queued_events += len(events)
        self._arrived.set()
        if self._flusher is None:
            # Started on demand and gone when idle: there is no task to stop at shutdown
            # (``finish`` waits for it and for the last hand-off).
            self._flusher = self.loop.create_task(self._flush_while_queued(), name="relay-event-writer")
        return await submission.done

    async def finish(self) -> None:
        """Wait until everything submitted so far is written and handed to Redis."""
        while self._flusher is not None or (self._handing_off is not None and not self._handing_off.done()):
            waiting = [task for task in (self._flusher, self._handing_off) if task is not None]
            await asyncio.wait(waiting)

    async def _flush_while_queued(self) -> None:
        try:
            while self._queue:
                await self._gather()
                batch = self._take()
                if batch:
                    await self._write(batch)
        except BaseException as exc:
            for submission in self._queue:
                submission.fail(exc)
            self._queue.clear()
            self._queued_events = 0
            raise
        finally:
            self._flusher = None

    async def _gather(self) -> None:
        """Let the callers the previous batch answered submit again before this batch closes."""
        await asyncio.sleep(0)
        deadline = self.loop.time() + WRITER_BATCH_WAIT
        while len(self._queue) < self._last_batch_groups and self._queued_events < WRITER_BATCH_EVENTS:
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _take(self) -> list[_Submission]:
        batch: list[_Submission] = []
        events = 0
        while self._queue:
            head = self._queue[0]
            if not head.done.done():
                if batch and (
                    events + len(head.events) > WRITER_BATCH_EVENTS
                    or head.redis is not batch[0].redis
                    or head.steps != batch[0].steps
                ):
                    break
                batch.append(head)
                events += len(head.events)
            # else: its caller was cancelled before the group was written; drop it.
            self._queue.popleft()
            self._queued_events -= len(head.events)
        self._last_batch_groups = len(batch)
        return batch

    async def _write(self, batch: list[_Submission]) -> None:
        try:
            committed, after_commit = await self._commit(batch)
        except BaseException as exc:
            for submission in batch:
                submission.fail(exc)
            raise
        if not committed:
            return
        envelopes = [envelope for _, group in committed for envelope in group]
        for event_type, count in Counter(envelope["type"] for envelope in envelopes).items():
            count_published(event_type, count)
        for submission, group in committed:
            if not submission.done.done():
                submission.done.set_result(group)
        # The callers have their answer: Redis gets the batch in the background, after the batch
        # before it, while the next batch is being written. Callers never wait for Redis.
        self._handing_off = self.loop.create_task(
            _hand_off_in_turn(self._handing_off, batch[0].redis, envelopes, after_commit),
            name="relay-event-hand-off",
        )

    async def _commit(
        self, batch: list[_Submission]
    ) -> tuple[list[tuple[_Submission, Envelopes]], list[AfterCommit]]:
        steps = batch[0].steps
        remaining = batch
        while remaining:
            try:
                written = await commit_batch(
                    [submission.events for submission in remaining],
                    steps,
                    [submission.maybe_committed for submission in remaining],
                )
            except FencesRefused as refused:
                remaining = _refuse(remaining, refused)
                continue
            except Exception as exc:
                if len(remaining) == 1 or _about_the_whole_batch(exc):
                    for submission in remaining:
                        submission.fail(exc)
                    return [], []
                log.warning("a batch of %d groups failed (%r); writing them one by one", len(remaining), exc)
                return await self._commit_one_by_one(remaining, steps)
            return list(zip(remaining, written.envelopes, strict=True)), written.after_commit
        return [], []

    async def _commit_one_by_one(
        self, submissions: list[_Submission], steps: tuple[PublishStep, ...]
    ) -> tuple[list[tuple[_Submission, Envelopes]], list[AfterCommit]]:
        committed: list[tuple[_Submission, Envelopes]] = []
        after_commit: list[AfterCommit] = []
        for submission in submissions:
            try:
                written = await commit_batch([submission.events], steps, [submission.maybe_committed])
            except FencesRefused as refused:
                _refuse([submission], refused)
                continue
            except Exception as exc:
                submission.fail(exc)
                continue
            committed.append((submission, written.envelopes[0]))
            after_commit += written.after_commit
        return committed, after_commit


def _refuse(submissions: list[_Submission], refused: FencesRefused) -> list[_Submission]:
    """Fail the groups that depend on a stale fence with ``LeaseLost``; return the others."""
    kept = []
    for submission in submissions:
        stale = [pair for pair in fences_of(submission.events) if pair in refused.refused]
        if stale:
            submission.fail(LeaseLost(stale[0][0]))
        else:
            kept.append(submission)
    return kept


def append_to_feed(pipe: Pipeline, envelope: dict[str, Any]) -> None:
    """Queue the envelope's XADD to its tenant's capped stream, the live feed."""
    pipe.xadd(
        tenant_stream_key(envelope["tenant_id"]),
        {"e": orjson.dumps(envelope)},
        maxlen=TENANT_STREAM_MAXLEN,
        approximate=True,
    )


async def _hand_off_in_turn(
    previous: asyncio.Task[None] | None,
    redis: Redis | None,
    envelopes: Envelopes,
    after_commit: list[AfterCommit],
) -> None:
    if previous is not None:
        await asyncio.wait([previous])  # unlike awaiting it, a cancellation here leaves it running
    try:
        await hand_off(redis, envelopes, after_commit)
    except Exception:
        log.exception("hand-off of %d events failed", len(envelopes))


async def hand_off(redis: Redis | None, envelopes: Envelopes, after_commit: list[AfterCommit]) -> None:
    """One pipeline for the batch's feed appends and its steps' hand-offs; failures are only logged."""
    if redis is None:
        return
    try:
        async with asyncio.timeout(WRITER_REDIS_TIMEOUT), redis.pipeline(transaction=False) as pipe:
            for envelope in envelopes:
                append_to_feed(pipe, envelope)
            for step_hand_off in after_commit:
                step_hand_off(pipe)
            results = await pipe.execute(raise_on_error=False)
    except (RedisError, OSError, TimeoutError) as exc:
        _redis_outage.failed(exc, len(envelopes))
        return
    _redis_outage.succeeded()
    errors = [result for result in results if isinstance(result, Exception)]
    if errors:
        log.warning("%d of %d feed/hand-off commands failed: %r", len(errors), len(results), errors[0])


_writer: EventWriter | None = None


async def finish_writing() -> None:
    """Let this process's writer finish what it was given (before closing Redis at shutdown)."""
    if _writer is not None and _writer.loop is asyncio.get_running_loop():
        await _writer.finish()


def process_writer() -> EventWriter:
    """This process's writer, bound to the running event loop (a new loop gets a new writer)."""
    global _writer
    loop = asyncio.get_running_loop()
    if _writer is None or _writer.loop is not loop:
        _writer = EventWriter(loop)
    return _writer
