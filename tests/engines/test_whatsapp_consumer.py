"""The per-session consumer: neonize's callbacks in, handlers run one at a time, in order."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import pytest

from workers.engines.whatsapp.consumer import OrderedConsumer


async def test_handlers_and_calls_run_in_the_order_they_were_queued() -> None:
    consumer = OrderedConsumer("ses_order")
    consumer.start()
    seen: list[int] = []

    async def handle(number: int) -> None:
        await asyncio.sleep(0.01 if number % 2 else 0)  # slow ones must not be overtaken
        seen.append(number)

    for number in range(10):
        consumer.push("event", partial(handle, number))
    await consumer.call(partial(handle, 10))
    assert seen == list(range(11))
    await consumer.finish()


async def test_a_failing_handler_is_logged_and_a_failing_call_raises_to_its_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = OrderedConsumer("ses_failures")
    consumer.start()

    async def fail(why: str) -> None:
        raise RuntimeError(why)

    with caplog.at_level(logging.ERROR, logger="relay.whatsapp"):
        consumer.push("event", partial(fail, "ledger unavailable"))
        with pytest.raises(RuntimeError, match="engine decided"):
            await consumer.call(partial(fail, "engine decided"))
    assert "session ses_failures: handling event failed" in caplog.text
    assert "ledger unavailable" in caplog.text
    await consumer.finish()


async def test_once_finished_a_call_runs_at_once_and_pushes_are_dropped() -> None:
    consumer = OrderedConsumer("ses_finished")
    seen: list[str] = []

    async def note(what: str) -> None:
        seen.append(what)

    consumer.push("event", partial(note, "before any run"))
    await consumer.call(partial(note, "call before any run"))
    consumer.start()
    consumer.push("event", partial(note, "queued"))
    await consumer.finish()
    await consumer.call(partial(note, "call after the run"))
    assert seen == ["call before any run", "queued", "call after the run"]
