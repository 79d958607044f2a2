"""The worker's journal: what engines reported, kept on local disk until the ledger has it.

Layout: ``$RELAY_DATA_DIR/journal/<worker>/``, one directory per worker process,
which holds an exclusive ``flock`` on the directory's ``lock`` file for as long as
it lives. The kernel drops a process's locks when it dies, SIGKILL included, so a
directory whose lock can be taken belongs to a worker that is gone: another worker
adopts and replays it (``workers.replay``). Inside, each session writes append-only
segment files, ``<session_id>.<n>.jsonl``, one ``PendingEvent`` per line; ``n``
grows with every segment the process opens, so it orders a session's segments.

A record is in the kernel once ``Segment.append`` returns, so it survives the
worker being killed; ``fsync`` (for a crash of the machine) runs in the
background, one pass for everything written since the previous one, so a burst
of events pays one fsync, not one each. Writers wait for the disk only when more
than ``UNSYNCED_LIMIT`` records are waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import re
from pathlib import Path

log = logging.getLogger("relay.worker.journal")

LOCK_FILE = "lock"
SEGMENT_SUFFIX = ".jsonl"
# A segment is closed for appends past this size; it is deleted once all its records are settled.
SEGMENT_MAX_BYTES = 8 * 1024 * 1024
# Records written but not yet fsynced beyond which writers wait for the disk (back-pressure).
UNSYNCED_LIMIT = 5_000


def directory_name(owner: str) -> str:
    """Worker ids carry a host name and colons: keep what any file system accepts."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", owner)


class Segment:
    """One append-only file of one session's records, deleted once every record is settled."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.size = 0
        self.records = 0
        # Records the ledger has (or that were discarded): when all are, the file can go.
        self.settled = 0
        # No more appends (too big, or everything in it has been handed to the ledger).
        self.sealed = False

    @property
    def fd(self) -> int | None:
        return self._fd

    def append(self, line: bytes) -> int:
        """Write one record; returns its offset. Raises ``OSError`` (disk full, ...)."""
        if self._fd is None:
            raise OSError(f"segment {self.path.name} is closed")
        offset = self.size
        view = memoryview(line)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.size += len(line)
        self.records += 1
        if self.size >= SEGMENT_MAX_BYTES:
            self.seal()
        return offset

    def seal(self) -> None:
        """No more appends: the descriptor goes (a worker with many idle sessions holds none)."""
        self.sealed = True
        self.close()

    def read_records(self, start: int, end: int, limit: int) -> tuple[list[bytes], int]:
        """Up to ``limit`` records appended between two offsets, and the offset after the last one read."""
        records: list[bytes] = []
        with self.path.open("rb") as handle:
            handle.seek(start)
            while len(records) < limit and handle.tell() < end:
                line = handle.readline()
                if not line:
                    break
                records.append(line)
            return records, handle.tell()

    @property
    def finished(self) -> bool:
        return self.sealed and self.settled >= self.records

    def close(self) -> None:
        """Stop appending; the file and what it holds stay."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class Journal:
    """This worker's journal directory, its lock, and the background fsync."""

    def __init__(self, root: Path, owner: str) -> None:
        self.root = root
        self.directory = root / directory_name(owner)
        self._lock_fd: int | None = None
        self._numbers = itertools.count()
        self._unsynced: set[Segment] = set()
        self._new_files = False
        self._written = 0
        self._synced = 0
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._syncer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create and lock this worker's directory, and start the background fsync."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_directory(self.root)
        self._syncer = asyncio.create_task(self._sync_loop(), name="journal-fsync")

    async def close(self) -> None:
        """Sync what is left, stop, and give the directory up; records still in it are replayed later."""
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
            self._syncer = None
        await self._sync_once()
        leftover = list(self.directory.glob(f"*{SEGMENT_SUFFIX}"))
        if self._lock_fd is not None:
            if not leftover:
                with contextlib.suppress(OSError):
                    (self.directory / LOCK_FILE).unlink()
                    self.directory.rmdir()
            os.close(self._lock_fd)
            self._lock_fd = None
        if leftover:
            log.warning(
                "journal %s keeps %d segment(s) with events the ledger does not have yet; "
                "the next worker started on this data dir publishes them",
                self.directory,
                len(leftover),
            )

    def new_segment(self, session_id: str) -> Segment:
        segment = Segment(self.directory / f"{session_id}.{next(self._numbers):08d}{SEGMENT_SUFFIX}")
        self._new_files = True
        return segment

    def written(self, segment: Segment) -> None:
        """A record was appended to ``segment``: fsync it in the next pass."""
        self._unsynced.add(segment)
        self._written += 1
        self._wake.set()

    @property
    def behind(self) -> bool:
        """So many records wait for fsync that writers should wait too (the disk is the bottleneck)."""
        return self._written - self._synced >= UNSYNCED_LIMIT

    async def wait_synced(self) -> None:
        """Until every record written before this call has been fsynced."""
        target = self._written
        async with self._changed:
            await self._changed.wait_for(lambda: self._synced >= target)

    async def _sync_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._sync_once()
            except OSError:
                log.exception("journal fsync failed; records stay written but may not survive a power loss")
                async with self._changed:
                    self._synced = self._written
                    self._changed.notify_all()

    async def _sync_once(self) -> None:
        target = self._written
        segments, self._unsynced = self._unsynced, set()
        new_files, self._new_files = self._new_files, False
        descriptors = [fd for fd in map(_descriptor_to_sync, segments) if fd is not None]
        try:
            await asyncio.to_thread(_sync, descriptors, self.directory if new_files else None)
        finally:
            for descriptor in descriptors:
                os.close(descriptor)
        async with self._changed:
            self._synced = max(self._synced, target)
            self._changed.notify_all()


def _descriptor_to_sync(segment: Segment) -> int | None:
    """A descriptor of the segment's own: one it closes meanwhile (sealed, removed) is never the
    one being synced. A sealed segment is opened again; a removed one needs no sync."""
    if segment.fd is not None:
        return os.dup(segment.fd)
    try:
        return os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _sync(descriptors: list[int], directory: Path | None) -> None:
    for descriptor in descriptors:
        os.fdatasync(descriptor)
    if directory is not None:
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """A new file's name is durable only once its directory is synced."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
