"""A worker's engine hosts: where each session runs, replacing hosts that die, retiring hosts that leak.

Sessions fill the least-loaded host with room (``RELAY_ENGINE_HOST_SESSIONS`` each);
a host is started when none has room. A host that died is replaced when the next
session needs one, after a pause that grows while hosts keep dying (``CRASH_DELAYS``).

A host is retired once its descriptors, memory or calls into the Go core pass the
limits (``RELAY_ENGINE_HOST_MAX_*``): it takes no new session, its sessions move
one at a time to another host, and it exits once empty. neonize leaks a store
handle per connect (docs/whatsapp-engine.md), and only a process exit gives it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

from relay.core.config import Settings
from workers.engines.host.channel import HostChannel, HostExited, SessionLink
from workers.engines.host.constants import (
    CRASH_DELAYS,
    CRASH_WINDOW_SECONDS,
    MOVE_SPACING_SECONDS,
    RECYCLE_CHECK_SECONDS,
)
from workers.engines.host.resources import process_usage

log = logging.getLogger("relay.engine_host")


class PoolClosed(HostExited):
    """The worker is stopping: no host will carry the session any more."""


class EngineHostPool:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.sessions_per_host = max(1, settings.engine_host_sessions)
        self.max_connects = settings.engine_host_max_connects
        self.max_fds = settings.engine_host_max_fds
        self.max_rss_bytes = settings.engine_host_max_rss_mb * 1024 * 1024
        self.hosts: list[HostChannel] = []
        self._lock = asyncio.Lock()
        self._crashes: deque[float] = deque()
        self._monitor: asyncio.Task[None] | None = None
        self._retirements: set[asyncio.Task[None]] = set()
        self._closed = False
        # Counted for tests and the bench: hosts started, died and retired in this worker.
        self.started = self.crashed = self.retired = 0

    # -- placing sessions -------------------------------------------------------------------

    async def attach(self, session_id: str, link: SessionLink) -> HostChannel:
        """A host for the session (started if none has room); raises ``HostExited`` if none starts."""
        async with self._lock:
            if self._closed:
                raise PoolClosed("the worker is stopping")
            host = self._with_room()
            if host is None:
                await asyncio.sleep(self.crash_pause())
                try:
                    host = await HostChannel.start(self._settings, self._host_exited)
                except HostExited:
                    self.crashed += 1  # a host that cannot start backs off like one that died
                    self._crashes.append(time.monotonic())
                    raise
                self.started += 1
                self.hosts.append(host)
                self._ensure_monitor()
            host.sessions[session_id] = link
            return host

    def detach(self, host: HostChannel, session_id: str) -> None:
        host.sessions.pop(session_id, None)

    def _with_room(self) -> HostChannel | None:
        for host in self.hosts:
            # Every report and reply carries the host's connect count: past the limit, no new session.
            if not host.retiring and host.alive and host.connects >= self.max_connects:
                self.retire(host, self._too_many_connects(host))
        usable = [
            h
            for h in self.hosts
            if h.alive and not h.retiring and not h.closing and len(h.sessions) < self.sessions_per_host
        ]
        return min(usable, key=lambda h: len(h.sessions), default=None)

    # -- hosts that die ---------------------------------------------------------------------

    def crash_pause(self) -> float:
        """How long to wait before starting a host, by how many died recently."""
        now = time.monotonic()
        while self._crashes and now - self._crashes[0] > CRASH_WINDOW_SECONDS:
            self._crashes.popleft()
        # The host that just died is one of them: the first replacement starts at once.
        recent = max(0, len(self._crashes) - 1)
        return CRASH_DELAYS[min(recent, len(CRASH_DELAYS) - 1)]

    def _host_exited(self, host: HostChannel, reason: str) -> None:
        if host in self.hosts:
            self.hosts.remove(host)
        if not host.closing:
            self.crashed += 1
            self._crashes.append(time.monotonic())

    # -- recycling --------------------------------------------------------------------------

    def _ensure_monitor(self) -> None:
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.create_task(self._watch_hosts(), name="engine-host-monitor")

    async def _watch_hosts(self) -> None:
        while True:
            await asyncio.sleep(RECYCLE_CHECK_SECONDS)
            for host in list(self.hosts):
                if host.retiring or host.closing or not host.alive:
                    continue
                why = await self.over_limit(host)
                if why is not None:
                    self.retire(host, why)

    async def over_limit(self, host: HostChannel) -> str | None:
        """Why ``host`` should be retired now, or ``None``."""
        with contextlib.suppress(HostExited):
            await host.refresh_stats()
        usage = process_usage(host.pid)
        if host.connects >= self.max_connects:
            return self._too_many_connects(host)
        if usage is None:
            return None
        if usage.fds >= self.max_fds:
            return f"{usage.fds} open file descriptors (limit {self.max_fds})"
        if usage.rss_bytes >= self.max_rss_bytes:
            return f"{usage.rss_bytes // 2**20} MB resident (limit {self.max_rss_bytes // 2**20} MB)"
        return None

    def _too_many_connects(self, host: HostChannel) -> str:
        return f"{host.connects} connects into the Go core (limit {self.max_connects})"

    def retire(self, host: HostChannel, why: str) -> None:
        """Take no new session on ``host``, move its sessions away one by one, then let it exit."""
        if host.retiring:
            return
        host.retiring = why
        self.retired += 1
        log.info("retiring engine host %d: %s; moving %d session(s)", host.pid, why, len(host.sessions))
        task = asyncio.create_task(self._retire(host, why), name=f"engine-host-retire-{host.pid}")
        self._retirements.add(task)
        task.add_done_callback(self._retirements.discard)

    async def _retire(self, host: HostChannel, why: str) -> None:
        for session_id, link in list(host.sessions.items()):
            if not host.alive:
                break
            if host.sessions.get(session_id) is link:
                await link.move(host, f"engine host recycled: {why}")
                await asyncio.sleep(MOVE_SPACING_SECONDS)
        await host.close()

    async def close(self) -> None:
        """Worker shutdown: the runners have stopped their sessions; let every host exit."""
        self._closed = True
        if self._monitor is not None:
            self._monitor.cancel()
        for task in list(self._retirements):
            task.cancel()
        await asyncio.gather(
            *(t for t in [self._monitor, *self._retirements] if t is not None), return_exceptions=True
        )
        await asyncio.gather(*(host.close() for host in list(self.hosts)), return_exceptions=True)


_pool: EngineHostPool | None = None


def current_engine_hosts() -> EngineHostPool | None:
    """The worker's pool if it has one (none until its first WhatsApp session), without creating it."""
    return _pool


def engine_hosts(settings: Settings) -> EngineHostPool:
    """The worker's one pool, created with the first WhatsApp session it runs."""
    global _pool
    if _pool is None or _pool._closed:
        _pool = EngineHostPool(settings)
    return _pool


async def close_engine_hosts() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()
