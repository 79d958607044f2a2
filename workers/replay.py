"""Journals of workers that are gone, published by a worker that is alive.

A worker that died (SIGKILL, out of memory, a crash, a reboot) leaves its journal
directory behind with nobody holding its lock. At start-up, and every
``ADOPT_EVERY_SECONDS`` after, each worker looks for such directories under its
data dir, locks each one it finds, and publishes its records session by session,
in the order they were written, each group fenced with the token its records
were written under: they commit only if nobody has owned the session since.
Otherwise the database refuses them (``LeaseLost``) and they are discarded with
a log line, because a newer owner speaks for the session and an older one must not.

While a session's records wait to be replayed, this worker does not claim the
session (``pending_sessions``): its own new lease would make them stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from relay.core.events import LeaseLost
from workers.database_watch import DatabaseWatch
from workers.handoff import GROUP_LIMIT
from workers.journal import LOCK_FILE, SEGMENT_SUFFIX
from workers.pending_event import PendingEvent
from workers.publish_retry import publish_until_settled

log = logging.getLogger("relay.worker.replay")

# How often a worker looks for journals that a dead worker left behind.
ADOPT_EVERY_SECONDS = 5.0


@dataclass
class _Orphan:
    """A dead worker's journal directory, locked by this worker while it replays it."""

    directory: Path
    lock_fd: int
    # Each session's segment files, in the order they were opened.
    segments: dict[str, list[Path]] = field(default_factory=dict)


class JournalReplayer:
    def __init__(self, root: Path, own: Path, redis: Redis | None, watch: DatabaseWatch) -> None:
        self._root = root
        self._own = own
        self._redis = redis
        self._watch = watch
        self._orphans: list[_Orphan] = []
        self.pending_sessions: set[str] = set()

    def adopt(self) -> int:
        """Lock the journals nobody holds; returns how many were found. Quick: no database."""
        if not self._root.is_dir():
            return 0
        found = 0
        for directory in sorted(self._root.iterdir()):
            if directory == self._own or not directory.is_dir():
                continue
            if any(orphan.directory == directory for orphan in self._orphans):
                continue
            lock_fd = _take_lock(directory)
            if lock_fd is None:
                continue
            orphan = _Orphan(directory, lock_fd, _segments_by_session(directory))
            self._orphans.append(orphan)
            self.pending_sessions.update(orphan.segments)
            found += 1
            if orphan.segments:
                log.info(
                    "adopted the journal of a worker that is gone, %s: %d session(s) to replay",
                    directory.name,
                    len(orphan.segments),
                )
        return found

    async def run(self) -> None:
        while True:
            self.adopt()
            await self.replay_adopted()
            await asyncio.sleep(ADOPT_EVERY_SECONDS)

    async def replay_adopted(self) -> None:
        """Publish (or discard) everything adopted so far, one journal at a time."""
        while self._orphans:
            await self._replay(self._orphans[0])
            self._orphans.pop(0)

    async def _replay(self, orphan: _Orphan) -> None:
        try:
            for session_id, paths in orphan.segments.items():
                try:
                    await self._replay_session(session_id, paths)
                finally:
                    self.pending_sessions.discard(session_id)
            with contextlib.suppress(OSError):
                (orphan.directory / LOCK_FILE).unlink()
                orphan.directory.rmdir()
        except Exception:
            # Files stay and the lock is let go: the next adoption pass tries again.
            log.exception("replaying the journal %s failed", orphan.directory)
        finally:
            os.close(orphan.lock_fd)

    async def _replay_session(self, session_id: str, paths: list[Path]) -> None:
        published = discarded = 0
        stale_fences: set[int] = set()
        for path in paths:
            events = await asyncio.to_thread(_read_segment, path)
            group: list[PendingEvent] = []
            for event in [*events, None]:
                if group and (event is None or event.fence != group[0].fence or len(group) >= GROUP_LIMIT):
                    if group[0].fence in stale_fences:
                        discarded += len(group)
                    else:
                        try:
                            outcomes = await publish_until_settled(
                                self._redis, group, self._watch, maybe_committed=True
                            )
                            published += sum(outcomes)
                        except LeaseLost:
                            stale_fences.add(group[0].fence)
                            discarded += len(group)
                    group = []
                if event is not None:
                    group.append(event)
            path.unlink(missing_ok=True)
        if published:
            log.info("session %s: %d journaled event(s) replayed into the ledger", session_id, published)
        if discarded:
            log.warning(
                "session %s: %d journaled event(s) discarded: written under token(s) %s, "
                "but the session has had another owner since",
                session_id,
                discarded,
                ", ".join(str(fence) for fence in sorted(stale_fences)),
            )


def _take_lock(directory: Path) -> int | None:
    """The directory's lock if its worker is gone; ``None`` while a live process holds it."""
    try:
        lock_fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None  # a worker still creating it, or one adopted and removed meanwhile
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock_fd)
        return None
    if os.fstat(lock_fd).st_nlink == 0:
        # Another worker replayed it and removed the lock file after we opened it.
        os.close(lock_fd)
        return None
    return lock_fd


def _segments_by_session(directory: Path) -> dict[str, list[Path]]:
    by_session: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for path in directory.glob(f"*{SEGMENT_SUFFIX}"):
        session_id, _, number = path.name.removesuffix(SEGMENT_SUFFIX).rpartition(".")
        if session_id and number.isdigit():
            by_session[session_id].append((int(number), path))
    return {session_id: [path for _, path in sorted(numbered)] for session_id, numbered in by_session.items()}


def _read_segment(path: Path) -> list[PendingEvent]:
    events = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            events.append(PendingEvent.decode(line))
        except ValueError:
            # A record cut short by a crash of the machine (the worker itself never tears one).
            log.warning("%s: line %d is not a whole record; skipped", path, number)
    return events
