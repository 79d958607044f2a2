"""One task per session that runs its handlers one at a time, in the order they were queued.

neonize calls back on Go threads and schedules each handler as its own task, which
neither keeps order nor surfaces exceptions. So every neonize callback only queues
its handler here, and one consumer task runs them in order and logs whatever fails.
Work the engine does itself (reporting a dial failure, announcing a pairing code) is
queued with ``call`` so it takes its place in the same order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("relay.whatsapp")

Handler = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Queued:
    label: str  # what failed, in the log line
    handler: Handler
    # Set for ``call``: the caller waits on it and gets the handler's exception.
    done: asyncio.Future[None] | None = None


class OrderedConsumer:
    def __init__(self, session_id: str) -> None:
        self._session_id = session_id
        self._queue: asyncio.Queue[_Queued | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._finished = False

    def start(self) -> None:
        """Start consuming (once per engine run); ``None`` on the queue is the end marker."""
        self._queue = asyncio.Queue()
        self._finished = False
        self._task = asyncio.create_task(self._consume(), name=f"whatsapp:{self._session_id}")

    async def finish(self) -> None:
        """Handle what is queued, then end; calls queued after the end marker fail."""
        if self._queue is None or self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task

    def push(self, label: str, handler: Handler) -> None:
        """Queue ``handler``; before ``start`` (no engine run yet) there is nobody to handle it."""
        if self._queue is not None:
            self._queue.put_nowait(_Queued(label, handler))

    async def call(self, handler: Handler) -> None:
        """Run ``handler`` on the consumer, after everything queued before it, and wait for it."""
        if self._queue is None or self._finished:
            await handler()  # no consumer (the run is over): nothing to keep order with
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Queued("call", handler, done))
        await done

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is None:
                self._finished = True
                self._fail_pending_calls()
                return
            try:
                await item.handler()
            except Exception as exc:
                if item.done is None:
                    log.exception("session %s: handling %s failed", self._session_id, item.label)
                elif not item.done.done():
                    item.done.set_exception(exc)
            else:
                if item.done is not None and not item.done.done():
                    item.done.set_result(None)

    def _fail_pending_calls(self) -> None:
        """Calls queued behind the end marker would wait forever: fail them instead."""
        assert self._queue is not None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None and item.done is not None and not item.done.done():
                item.done.set_exception(RuntimeError("the session's event consumer has ended"))
