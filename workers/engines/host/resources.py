"""A process's open file descriptors and resident memory, read from ``/proc`` (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Usage:
    fds: int
    rss_bytes: int


def process_usage(pid: int) -> Usage | None:
    """``None`` when the process is gone (or ``/proc`` is not there)."""
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/status") as status:
            rss_kib = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return Usage(fds=fds, rss_bytes=rss_kib * 1024)
