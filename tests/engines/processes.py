"""Processes as `ps` shows them: engine hosts under a worker, and what a process tree holds."""

from __future__ import annotations

from pathlib import Path


def parent_of(pid: int) -> int | None:
    try:
        # The parent pid is the second field after the parenthesised command name.
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except (FileNotFoundError, ProcessLookupError):
        return []


def engine_host_pids(parent: int) -> list[int]:
    """The `relay engine-host` children of ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == parent:
            if command_line(int(entry.name))[-1:] == ["engine-host"]:
                found.append(int(entry.name))
    return sorted(found)


def tree_usage(pids: list[int]) -> tuple[int, int]:
    """Open file descriptors and resident KiB summed over ``pids`` (those still alive)."""
    fds = rss = 0
    for pid in pids:
        try:
            fds += len(list(Path(f"/proc/{pid}/fd").iterdir()))
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        rss += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return fds, rss
