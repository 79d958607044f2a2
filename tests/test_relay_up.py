"""`relay up` as a newcomer runs it: a clean data dir, embedded Valkey, SQLite, one process group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.sessions import events_of, wait_for_status
from tests.stack import free_port, wait_http_ok

pytestmark = pytest.mark.timeout(180)


class RelayUp:
    """A `relay up` process group with its printed output captured."""

    def __init__(self, data_dir: Path, port: int, **settings: str) -> None:
        self.data_dir = data_dir
        self.port = port
        # RELAY_* variables a test sets beyond the newcomer's defaults.
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.output = data_dir.parent / f"relay-up-{port}.out"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Only what a newcomer has: no REDIS_URL, no DATABASE_URL, no admin token.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("RELAY_") and k not in {"REDIS_URL", "DATABASE_URL"}
        }
        env.update(
            RELAY_DATA_DIR=str(self.data_dir),
            RELAY_PORT=str(self.port),
            RELAY_LEASE_TTL="3",
            RELAY_SEND_WAIT="1",
            RELAY_SANDBOX_QR_INTERVAL="1",
        )
        env.update(self.settings)
        handle = self.output.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "relay", "up"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_http_ok(f"{self.base_url}/readyz", self.process, timeout=60)

    def printed(self) -> str:
        return self.output.read_text(errors="replace")

    def admin_token(self) -> str:
        match = re.findall(r"Admin token\s+(\S+)", self.printed())
        assert match, self.printed()
        return match[-1]

    def group_pids(self) -> list[int]:
        assert self.process is not None
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.process.pid:
                        pids.append(int(entry.name))
                except ProcessLookupError:
                    continue
        return pids

    def role_pid(self, role: str) -> int:
        for pid in self.group_pids():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if cmdline[-2:] == [role.encode(), b""] and b"relay" in cmdline:
                return pid
        raise AssertionError(f"no relay {role} process in the group")

    def kill_group(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while self.group_pids() and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=40)


def wait_exited(pids: list[int], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def relay_up(tmp_path: Path) -> Iterator[RelayUp]:
    up = RelayUp(tmp_path / "data", free_port())
    try:
        yield up
    finally:
        if up.process is not None and up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGKILL)
            up.process.wait()


async def test_relay_up_from_a_clean_data_dir_serves_and_stops_on_ctrl_c(relay_up: RelayUp) -> None:
    relay_up.start()
    printed = relay_up.printed()
    assert "embedded Valkey" in printed and f"{relay_up.base_url}/v1" in printed
    token = relay_up.admin_token()
    async with httpx.AsyncClient(base_url=relay_up.base_url) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        created = await client.post(
            "/v1/tenants", json={"name": "first"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201
    assert (relay_up.data_dir / "relay.db").exists()
    assert any((relay_up.data_dir / "valkey").glob("**/appendonly*"))
    # One Ctrl-C stops web, worker and Valkey, and nothing of the group is left.
    assert relay_up.stop() == 0
    assert relay_up.group_pids() == []
    assert "Relay stopped." in relay_up.printed()


async def test_kill_9_and_restart_resumes_without_scan_and_loses_no_accepted_command(
    relay_up: RelayUp,
) -> None:
    relay_up.start()
    admin = {"Authorization": f"Bearer {relay_up.admin_token()}"}
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30) as client:
        tenant = (await client.post("/v1/tenants", json={"name": "t"}, headers=admin)).json()
        key = (await client.post(f"/v1/tenants/{tenant['id']}/api-keys", json={}, headers=admin)).json()
        client.headers["Authorization"] = f"Bearer {key['key']}"
        session = (await client.post("/v1/sessions", json={"name": "s", "engine": "sandbox"})).json()
        sid = session["id"]
        await wait_for_status(client, sid, "qr")
        await client.post(f"/v1/sessions/{sid}/sandbox/scan", json={"phone": "15550003333"})
        await wait_for_status(client, sid, "connected")

        # Freeze the worker so the next commands are accepted but not yet handled, then kill -9 everything.
        os.kill(relay_up.role_pid("worker"), signal.SIGSTOP)
        message = await client.post(
            f"/v1/sessions/{sid}/messages", json={"to": "15550004444", "type": "text", "text": "survives"}
        )
        assert message.status_code == 202 and message.json()["status"] == "queued"
        inbound = await client.post(
            f"/v1/sessions/{sid}/sandbox/inbound", json={"from": "15550004444", "text": "also survives"}
        )
        assert inbound.status_code == 202
    relay_up.kill_group()

    relay_up.start()
    async with httpx.AsyncClient(
        base_url=relay_up.base_url, timeout=30, headers={"Authorization": f"Bearer {key['key']}"}
    ) as client:
        resumed = await wait_for_status(client, sid, "connected", timeout=30)
        assert resumed["jid"] == "15550003333@s.whatsapp.net"

        async def delivered() -> bool:
            sent = (await client.get(f"/v1/messages/{message.json()['id']}")).json()
            received = await events_of(client, sid, "message.received")
            return sent["status"] == "sent" and any(e["data"]["text"] == "also survives" for e in received)

        await wait_until(delivered, timeout=30, what="the accepted commands to be carried out")
        statuses = [e["data"]["status"] for e in await events_of(client, sid, "session.status")]
        last_connect = len(statuses) - 1 - statuses[::-1].index("starting")
        assert "qr" not in statuses[last_connect:], statuses
    assert relay_up.stop() == 0


async def test_kill_9_of_relay_up_alone_leaves_nothing_that_blocks_the_next_start(relay_up: RelayUp) -> None:
    relay_up.start()
    assert relay_up.process is not None
    children = [relay_up.role_pid("serve"), relay_up.role_pid("worker")]
    os.kill(relay_up.process.pid, signal.SIGKILL)
    relay_up.process.wait(timeout=10)
    # Web and worker follow their parent (PDEATHSIG); the orphaned Valkey is stopped by the next start.
    assert wait_exited(children), "web or worker outlived relay up"
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert relay_up.stop() == 0
    assert relay_up.group_pids() == []


async def test_a_child_that_keeps_dying_is_restarted_with_a_growing_pause(relay_up: RelayUp) -> None:
    relay_up.start()
    seen: list[int] = []
    for _ in range(2):
        current = relay_up.role_pid("worker")
        seen.append(current)
        os.kill(current, signal.SIGKILL)

        async def replaced() -> int | None:
            try:
                pid = relay_up.role_pid("worker")
            except AssertionError:  # none yet: it is waiting out its pause
                return None
            return pid if pid not in seen else None

        await wait_until(replaced, timeout=30, what="relay up to start a new worker")
    printed = relay_up.printed()
    assert "relay worker exited with code -9; restarting it in 1s" in printed
    assert "relay worker exited with code -9; restarting it in 2s" in printed
    async with httpx.AsyncClient(base_url=relay_up.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert relay_up.stop() == 0
