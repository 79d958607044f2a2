"""The real engine against the real Go core, on a machine that cannot reach WhatsApp."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from tenacity import RetryCallState

from tests.engines.conftest import RecordingReporter, make_context, running
from workers.engines.base import NotConnected, OutgoingMessage
from workers.engines.whatsapp import WhatsAppEngine
from workers.engines.whatsapp.backoff import AttemptLimiter, ReconnectPolicy


def os_threads() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


def executor_threads() -> int:
    """Threads of asyncio's default executor (named ``asyncio_N``).

    neonize runs its blocking Go calls there; the pool grows lazily up to ``min(32, cpus + 4)``
    threads whenever calls overlap, so its size depends on machine load, not on leaks.
    """
    return sum(thread.name.startswith("asyncio_") for thread in threading.enumerate())


def thread_counts() -> tuple[int, int]:
    """Python and OS threads, the default executor's pool left out of both."""
    pool = executor_threads()
    return threading.active_count() - pool, os_threads() - pool


def reconnecting_with_dial_failure(reporter: RecordingReporter) -> bool:
    return any(
        s["status"] == "reconnecting" and "failed to dial" in (s["reason"] or "")
        for s in reporter.of("status")
    )


async def test_offline_run_reports_the_dial_failure_backs_off_and_stops(tmp_path: Path) -> None:
    policy = ReconnectPolicy(initial=0.05, maximum=0.2, jitter=0.02, preflight=False)
    reporter = RecordingReporter()
    engine = WhatsAppEngine(make_context(tmp_path), reporter, policy=policy)
    task = asyncio.create_task(engine.run())
    await reporter.wait_for(reconnecting_with_dial_failure, timeout=15)  # DNS may take 5 s
    first = reporter.of("status")[1]
    assert first["reason"].startswith("network: failed to dial whatsapp web websocket")
    await reporter.wait_for(lambda _: engine.core_attempts >= 3, timeout=20)
    assert not task.done()  # it keeps trying while wanted
    with pytest.raises(NotConnected):
        await engine.send(OutgoingMessage(id="msg_1", to="15550100002", type="text", payload={"text": "hi"}))
    await engine.stop()
    await asyncio.wait_for(task, 10)
    # The same failure again is not news: one status change, however many attempts.
    assert reporter.statuses() == ["starting", "reconnecting"]
    assert not reporter.of("qr") and not engine.connected


async def test_attempts_per_minute_are_capped(tmp_path: Path) -> None:
    policy = ReconnectPolicy(
        initial=0.001, maximum=0.005, jitter=0, max_attempts_per_minute=4, preflight=False
    )
    engine = WhatsAppEngine(make_context(tmp_path), RecordingReporter(), policy=policy)
    reporter = RecordingReporter()
    async with running(engine):
        await reporter.wait_for(lambda _: engine.core_attempts >= 4, timeout=25)
        await asyncio.sleep(0.5)  # unlimited, this policy would make ~100 more attempts by now
        assert engine.core_attempts == 4


async def test_after_a_failure_only_a_reachable_whatsapp_gets_another_core_attempt(tmp_path: Path) -> None:
    # Each core attempt leaks a store handle in the Go core; offline retries must not reach it.
    policy = ReconnectPolicy(initial=0.01, maximum=0.05, jitter=0)
    reporter = RecordingReporter()
    engine = WhatsAppEngine(make_context(tmp_path), reporter, policy=policy)
    task = asyncio.create_task(engine.run())
    await reporter.wait_for(lambda _: engine.connect_attempts >= 4, timeout=30)
    await engine.stop()
    await asyncio.wait_for(task, 10)
    assert engine.core_attempts == 1
    reasons = [s["reason"] for s in reporter.of("status")]
    assert reasons[-1].startswith("network: failed to dial web.whatsapp.com:443")


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    wait = ReconnectPolicy(initial=1, maximum=60, jitter=1).wait()
    delays = []
    for attempt in range(1, 10):
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        delays.append(wait(state))
    for attempt, delay in enumerate(delays, start=1):
        base = min(2 ** (attempt - 1), 60)
        assert base <= delay <= min(base + 1, 60)
    assert delays[-1] == 60


def test_attempt_limiter_counts_a_sliding_minute() -> None:
    limiter = AttemptLimiter(per_minute=2)
    assert limiter.delay() == 0
    limiter.record()
    limiter.record()
    assert 59 < limiter.delay() <= 60


async def test_start_stop_cycles_leave_no_threads_behind(tmp_path: Path) -> None:
    policy = ReconnectPolicy(initial=0.05, maximum=0.05, jitter=0, preflight=False)

    async def cycle() -> None:
        reporter = RecordingReporter()
        engine = WhatsAppEngine(make_context(tmp_path), reporter, policy=policy)
        task = asyncio.create_task(engine.run())
        await reporter.wait_for(reconnecting_with_dial_failure, timeout=15)  # DNS may take 5 s
        await engine.stop()
        await asyncio.wait_for(task, 10)

    for _ in range(5):  # warm up: executor threads and the Go runtime's own threads
        await cycle()
    baseline = thread_counts()
    counts = []
    for _ in range(2):
        for _ in range(15):
            await cycle()
        counts.append(thread_counts())
    # Pools may grow to their concurrency high-water mark, never with the number of cycles.
    assert counts[1][0] <= counts[0][0] <= baseline[0] + 2, (baseline, counts)
    assert counts[1][1] <= counts[0][1] + 1 and counts[0][1] <= baseline[1] + 3, (baseline, counts)
