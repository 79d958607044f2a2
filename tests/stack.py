"""Real Relay processes for tests: `relay serve` and `relay worker` as subprocesses.

Tests talk to them over loopback HTTP and WebSocket exactly as integrators do.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from relay.cli.launch import relay_command
from relay.cli.processes import terminate_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RelayStack:
    """One web process and any number of worker processes sharing one Redis and one database."""

    env: dict[str, str]
    log_dir: Path
    port: int = 0
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _log_seq: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    @property
    def admin_token(self) -> str:
        return self.env["RELAY_ADMIN_TOKEN"]

    def _spawn(self, role: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        self._log_seq += 1
        log_path = self.log_dir / f"{self._log_seq:02d}-{role}.log"
        handle = log_path.open("wb")
        process = subprocess.Popen(
            relay_command(role),
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A killed test run must not leave workers behind that fight over the same database.
            preexec_fn=terminate_with_parent,
        )
        process.log_path = log_path  # type: ignore[attr-defined]
        return process

    def start_web(self) -> None:
        self.port = free_port()
        env = {**self.env, "RELAY_PORT": str(self.port)}
        self.web = self._spawn("serve", env)
        wait_http_ok(f"{self.base_url}/readyz", self.web)

    def start_worker(self, **overrides: str) -> subprocess.Popen[bytes]:
        worker = self._spawn("worker", {**self.env, **overrides})
        self.workers.append(worker)
        return worker

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=30)
        # A killed worker is no longer one of the stack's: later tests check the ones left are alive.
        if process in self.workers:
            self.workers.remove(process)

    def stop_all(self) -> None:
        for process in [*self.workers, self.web]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, self.web]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_http_ok(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    last_error: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            log_path = getattr(process, "log_path", None)
            detail = log_path.read_text(errors="replace")[-4000:] if log_path else ""
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered\n{detail}")
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last_error = response.status_code
        except httpx.HTTPError as exc:
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s (last: {last_error})")
