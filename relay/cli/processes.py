"""Child processes: they cannot outlive the process that started them, and `relay up` restarts them.

`relay up` starts the web and worker processes, and the test suite starts
whole Relay stacks. If the parent is killed alone (kill -9 of one pid rather
than the group), orphaned children would keep a port bound, keep driving
WhatsApp sessions and keep writing to the database. On Linux the kernel can
signal a child when its parent dies; elsewhere this is a no-op.

A child that exits on its own is started again after a pause that grows with
each exit that follows soon after the last start (``RESTART_DELAYS``), and goes
back to the shortest once a child has run for ``STABLE_SECONDS``. `relay up`
never gives up: a child that keeps failing costs one attempt every half minute
and a log line, and comes back by itself once its cause is gone.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger("relay.up")

_PR_SET_PDEATHSIG = 1

# Pauses (seconds) before restarting a child that exited, growing while it keeps exiting soon.
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A child that ran this long before exiting had recovered: its next restart is immediate-ish again.
STABLE_SECONDS = 60.0
# How long stopping waits for children to exit after SIGTERM before killing them.
STOP_WAIT_SECONDS = 20.0


def terminate_with_parent() -> None:
    """``preexec_fn`` for subprocess: SIGTERM this child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Child:
    role: str
    process: subprocess.Popen[bytes]
    started_at: float
    quick_exits: int = 0
    restart_at: float | None = None


class RestartingChildren:
    """The processes `relay up` runs, each started again with backoff whenever it exits."""

    def __init__(self, roles: Iterable[str], spawn: Callable[[str], subprocess.Popen[bytes]]) -> None:
        self._spawn = spawn
        now = time.monotonic()
        self._children = [_Child(role, spawn(role), now) for role in roles]

    def check(self) -> None:
        """Restart the children whose pause is over; schedule a restart for those that just exited."""
        now = time.monotonic()
        for child in self._children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.process, child.started_at, child.restart_at = self._spawn(child.role), now, None
                continue
            code = child.process.poll()
            if code is None:
                continue
            if now - child.started_at >= STABLE_SECONDS:
                child.quick_exits = 0
            delay = RESTART_DELAYS[min(child.quick_exits, len(RESTART_DELAYS) - 1)]
            child.quick_exits += 1
            child.restart_at = now + delay
            # A log line, not a print: with RELAY_LOG_FORMAT=json it is JSON like the children's.
            log.warning("relay %s exited with code %s; restarting it in %gs", child.role, code, delay)

    def stop(self) -> None:
        """SIGTERM every child, wait for them, kill those that do not exit in time."""
        running = [child.process for child in self._children if child.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
