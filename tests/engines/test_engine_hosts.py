"""WhatsApp sessions driven through real `relay engine-host` processes, the test process as their worker.

The Go core really dials: every session carries its own proxy (``EngineContext.proxy``, as the
API stores it), a loopback server that records ``CONNECT web.whatsapp.com:443`` and refuses it;
the context crosses the pipe, so the host's client dials through it. Hosts are killed with
real signals.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from relay.core.enums import GroupAction
from tests.engines.conftest import RecordingReporter, make_context, make_settings
from tests.engines.processes import command_line, engine_host_pids
from tests.proxies import RefusingProxy
from workers.engines.base import NotConnected, OutgoingMessage
from workers.engines.host.constants import CRASH_DELAYS
from workers.engines.host.pool import EngineHostPool
from workers.engines.host.remote import RemoteEngine

pytestmark = pytest.mark.timeout(180)

KILLED = "engine host exited: signal SIGKILL"
PASSWORD = "hunter2-proxy"


# The proxy answers the core's CONNECT with 403 Forbidden; the reason quotes its status text.
REFUSED = "Forbidden"


@pytest.fixture
async def proxy() -> AsyncIterator[RefusingProxy]:
    async with RefusingProxy() as running:
        yield running


def refused(status: dict[str, Any]) -> bool:
    return status["status"] == "reconnecting" and REFUSED in (status["reason"] or "")


def dialled(reporter: RecordingReporter) -> bool:
    """The Go core dialled through the session's proxy and reported its refusal."""
    return any(refused(s) for s in reporter.of("status"))


def dialled_since(reporter: RecordingReporter, reason: str, times: int = 1) -> bool:
    """The session reported the ``times``-th ``reason`` and, after it, a refused dial."""
    statuses = reporter.of("status")
    seen = [i for i, s in enumerate(statuses) if s["reason"] == reason]
    return len(seen) >= times and any(refused(s) for s in statuses[seen[times - 1] + 1 :])


class Sessions:
    """Remote engines on one pool, each with its own recording reporter and run task.

    Each session's context carries ``proxy`` (loopback, so the engine's pre-check is told to
    allow private addresses, as ``RELAY_PROXY_ALLOW_PRIVATE=true`` does in a worker).
    """

    def __init__(self, pool: EngineHostPool, data_dir: Path, proxy: str | None = None) -> None:
        self.pool = pool
        self.data_dir = data_dir
        self.proxy = proxy
        self.engines: list[RemoteEngine] = []
        self.reporters: list[RecordingReporter] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            reporter = RecordingReporter()
            context = make_context(self.data_dir, proxy=self.proxy, proxy_allow_private=True)
            engine = RemoteEngine(context, reporter, pool=self.pool)
            self.engines.append(engine)
            self.reporters.append(reporter)
            self.tasks.append(asyncio.create_task(engine.run()))

    async def stop(self) -> None:
        for engine in self.engines:
            await engine.stop()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 60)


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[EngineHostPool]:
    hosts = EngineHostPool(make_settings(tmp_path, engine_host_sessions=5))
    try:
        yield hosts
    finally:
        await hosts.close()


@pytest.fixture
async def sessions(pool: EngineHostPool, tmp_path: Path, proxy: RefusingProxy) -> AsyncIterator[Sessions]:
    running = Sessions(pool, tmp_path, proxy.url(user="alice", password=PASSWORD))
    try:
        yield running
    finally:
        await running.stop()


async def wait_until(probe: Any, timeout: float = 30) -> None:
    reporter = RecordingReporter()
    await reporter.wait_for(lambda _: probe(), timeout=timeout)


async def test_a_whatsapp_session_runs_in_an_engine_host_that_dials_whatsapp(
    proxy: RefusingProxy, pool: EngineHostPool, sessions: Sessions, tmp_path: Path
) -> None:
    sessions.start(1)
    reporter = sessions.reporters[0]
    await reporter.wait_for(dialled, timeout=60)
    assert reporter.statuses()[:2] == ["starting", "reconnecting"]
    # The session's own proxy crossed the pipe whole: the host's client dialled it with its password.
    assert proxy.requests[0].line == "CONNECT web.whatsapp.com:443 HTTP/1.1"
    assert proxy.requests[0].authorization is not None
    assert all(PASSWORD not in (s["reason"] or "") for s in reporter.of("status"))

    # The client lives in a child that `ps` shows as `relay engine-host`, not in this process.
    [host_pid] = engine_host_pids(os.getpid())
    assert command_line(host_pid)[-4:] == ["-P", "-m", "relay", "engine-host"]
    assert pool.hosts[0].pid == host_pid
    engine = sessions.engines[0]
    assert engine.host is not None and engine.host.pid == host_pid and not engine.connected

    # The engine's errors cross the pipe with their class and their words.
    with pytest.raises(NotConnected, match="needs a connection to WhatsApp"):
        await engine.pair_phone("15550100001")
    with pytest.raises(NotConnected, match="not connected"):
        await engine.send(OutgoingMessage(id="msg_1", to="15550100002", type="text", payload={"text": "hi"}))
    # Contacts check, read receipts, presence and media downloads (only the file's path crosses
    # the pipe) are carried to the host as their own operations.
    for call in (
        engine.check_contacts(["15550100002"]),
        engine.mark_read("15550100002", ["3EB0AA"], None),
        engine.send_presence("15550100002", "typing"),
        engine.groups(GroupAction.LIST, {}),
        engine.download_media({"whatsapp_message": ""}, tmp_path / "media.bin"),
    ):
        with pytest.raises(NotConnected, match="not connected \\(it is reconnecting\\)"):
            await call

    await sessions.stop()
    assert engine.host is None
    await pool.close()
    assert engine_host_pids(os.getpid()) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGABRT], ids=["SIGKILL", "SIGABRT"])
async def test_a_killed_host_costs_each_of_its_sessions_a_reconnect_on_a_new_host(
    proxy: RefusingProxy, pool: EngineHostPool, sessions: Sessions, sig: signal.Signals
) -> None:
    # SIGABRT is how a Go `fatal error` ends a process that loaded the core through cgo.
    killed = f"engine host exited: signal {sig.name}"
    sessions.start(3)
    for reporter in sessions.reporters:
        await reporter.wait_for(dialled, timeout=60)
    [first] = engine_host_pids(os.getpid())

    os.kill(first, sig)

    for reporter in sessions.reporters:
        await reporter.wait_for(lambda r: any(s["reason"] == killed for s in r.of("status")), timeout=10)
    # Each resumes on a new host at once and dials through its proxy again (no pause the first time).
    for reporter in sessions.reporters:
        await reporter.wait_for(lambda r: dialled_since(r, killed), timeout=30)
    [second] = engine_host_pids(os.getpid())
    assert second != first
    assert all(engine.host is not None and engine.host.pid == second for engine in sessions.engines)
    for reporter in sessions.reporters:
        statuses = reporter.of("status")
        killed_at = next(i for i, s in enumerate(statuses) if s["reason"] == killed)
        # What the dead host reported came first (its refused dials); then the session starts again.
        assert statuses[0]["status"] == "starting"
        assert all(refused(s) for s in statuses[1:killed_at]) and killed_at >= 2
        assert statuses[killed_at + 1]["status"] == "starting"
    assert pool.crashed == 1 and pool.started == 2


async def test_hosts_that_keep_dying_are_replaced_after_growing_pauses(
    proxy: RefusingProxy, pool: EngineHostPool, sessions: Sessions
) -> None:
    sessions.start(1)
    engine, reporter = sessions.engines[0], sessions.reporters[0]
    await reporter.wait_for(dialled, timeout=60)
    for crash in range(1, 4):
        if crash > 1:  # the current host's client dialled
            await reporter.wait_for(lambda r, n=crash - 1: dialled_since(r, KILLED, n), timeout=30)
        host = engine.host
        assert host is not None
        os.kill(host.pid, signal.SIGKILL)
        await reporter.wait_for(lambda r, n=crash: sum(s["reason"] == KILLED for s in r.of("status")) >= n)
        # Every host that died recently lengthens the pause before the next one starts.
        assert pool.crash_pause() == CRASH_DELAYS[crash - 1]
        await wait_until(lambda h=host: engine.host is not None and engine.host is not h, timeout=30)
    assert pool.crashed == 3
    await reporter.wait_for(lambda r: dialled_since(r, KILLED, 3), timeout=30)


async def test_a_host_past_its_connect_limit_is_retired_and_its_sessions_move(
    proxy: RefusingProxy, tmp_path: Path
) -> None:
    pool = EngineHostPool(make_settings(tmp_path, engine_host_sessions=5, engine_host_max_connects=4))
    sessions = Sessions(pool, tmp_path, proxy.url())
    try:
        # Five first dials into the core: past its limit of 4. (Retries never reach the core while the
        # proxy refuses the tunnel: the pre-check asks the proxy for it first.)
        sessions.start(5)
        for reporter in sessions.reporters:
            await reporter.wait_for(dialled, timeout=60)
        [first] = engine_host_pids(os.getpid())
        recycled: list[str] = []
        for reporter in sessions.reporters:
            reason = await reporter.wait_for(
                lambda r: next(
                    (s["reason"] for s in r.of("status") if "recycled" in (s["reason"] or "")), None
                ),
                timeout=60,
            )
            recycled.append(reason)
            # Each moved session resumes on a new host and dials through its proxy again.
            await reporter.wait_for(lambda r, why=reason: dialled_since(r, why), timeout=60)
        assert all(re.search(r"\d+ connects into the Go core \(limit 4\)", why) for why in recycled), recycled
        await wait_until(lambda: first not in engine_host_pids(os.getpid()), timeout=60)
        # Hosts are retired, never crashed; the limit keeps retiring them while the sessions retry.
        assert pool.retired >= 1 and pool.crashed == 0
    finally:
        await sessions.stop()
        await pool.close()


async def test_erasing_a_session_nobody_runs_goes_through_a_host(
    pool: EngineHostPool, tmp_path: Path
) -> None:
    context = make_context(tmp_path)
    store = tmp_path / "whatsapp" / f"{context.session_id}.db"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"credentials")
    engine = RemoteEngine(context, RecordingReporter(), pool=pool)
    await engine.erase_credentials()
    assert not store.exists()
    assert len(pool.hosts) == 1 and not pool.hosts[0].sessions


async def test_a_host_that_cannot_start_is_retried_with_growing_pauses_and_the_session_resumes(
    proxy: RefusingProxy,
    pool: EngineHostPool,
    sessions: Sessions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every new host dies before it is ready (as a broken install would): its interpreter exits at startup.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text("import os\nos._exit(3)\n")
    monkeypatch.setenv("PYTHONPATH", str(broken))
    sessions.start(1)
    reporter = sessions.reporters[0]
    failed = "engine host exited: exit code 3 before it was ready"
    await reporter.wait_for(lambda r: any(s["reason"] == failed for s in r.of("status")), timeout=30)
    await wait_until(lambda: pool.crashed >= 3, timeout=30)
    assert pool.crash_pause() >= CRASH_DELAYS[2]  # paced, not a tight loop
    # Reported once, however many hosts failed.
    assert [s["reason"] for s in reporter.of("status")].count(failed) == 1

    monkeypatch.delenv("PYTHONPATH")
    await reporter.wait_for(dialled, timeout=60)
    assert pool.started == 1 and engine_host_pids(os.getpid()) == [pool.hosts[0].pid]


async def test_forty_sessions_starting_and_stopping_at_once_cannot_take_the_worker_down(
    proxy: RefusingProxy, tmp_path: Path
) -> None:
    # The crowd that once aborted a whole process in the Go core: now a host would die instead.
    pool = EngineHostPool(make_settings(tmp_path, engine_host_sessions=20))
    sessions = Sessions(pool, tmp_path, proxy.url())
    try:
        sessions.start(40)
        for reporter in sessions.reporters:
            await reporter.wait_for(dialled, timeout=90)
        assert len(engine_host_pids(os.getpid())) == 2
        await asyncio.gather(*(engine.stop() for engine in sessions.engines))
        await asyncio.wait_for(asyncio.gather(*sessions.tasks), 60)
        # Whatever a host went through, every session ended stopped, and this process lives on.
        assert all(not engine.connected and engine.host is None for engine in sessions.engines)
    finally:
        await sessions.stop()
        await pool.close()
