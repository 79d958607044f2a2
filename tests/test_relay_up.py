"""`relay up` as a newcomer runs it: the installed command, a clean data dir, embedded Valkey, SQLite."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_sync

from relay.cli.embedded import start_embedded_valkey
from relay.core.constants import session_lease_key
from tests.helpers import create_tenant_key, wait_until
from tests.operator.scrape import sample, scrape
from tests.sessions import connected_sandbox_session, events_of, wait_for_status
from tests.stack import free_port, wait_http_ok

pytestmark = pytest.mark.timeout(180)

# What a newcomer types: the `relay` command pip installed next to this interpreter.
RELAY_COMMAND = shutil.which("relay", path=str(Path(sys.executable).parent))


class RelayUp:
    """A `relay up` started as a terminal starts it (its own process group), its output captured."""

    def __init__(self, data_dir: Path, port: int, *arguments: str, **settings: str) -> None:
        self.data_dir = data_dir
        self.port = port
        # Arguments after `relay up` (e.g. --workers 2).
        self.arguments = arguments
        # RELAY_* variables a test sets beyond the newcomer's defaults.
        self.settings = settings
        # The folder `relay up` is started in; None is the test run's own.
        self.cwd: Path | None = None
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
        assert RELAY_COMMAND is not None, "the relay command is not installed next to this Python"
        self.process = subprocess.Popen(
            [RELAY_COMMAND, "up", *self.arguments],
            env=env,
            cwd=self.cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.process.log_path = self.output  # type: ignore[attr-defined]  # read by wait_http_ok
        wait_http_ok(f"{self.base_url}/readyz", self.process, timeout=60)

    def printed(self) -> str:
        return self.output.read_text(errors="replace")

    def admin_token(self) -> str:
        match = re.findall(r"Admin token\s+(\S+)", self.printed())
        assert match, self.printed()
        return match[-1]

    def tree_pids(self) -> list[int]:
        """`relay up` and every process it started (Valkey, web and worker each have their own group)."""
        assert self.process is not None
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    # The parent pid is the second field after the parenthesised command name.
                    parent = int(Path(f"/proc/{entry.name}/stat").read_text().rpartition(")")[2].split()[1])
                except (FileNotFoundError, ProcessLookupError):
                    continue
                children.setdefault(parent, []).append(int(entry.name))
        tree, pending = [], [self.process.pid]
        while pending and len(tree) < 1000:
            pid = pending.pop()
            if Path(f"/proc/{pid}").exists():
                tree.append(pid)
            pending.extend(children.get(pid, []))
        return tree

    def role_pids(self, role: str) -> list[int]:
        pids = []
        for pid in self.tree_pids():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if cmdline[-2:] == [role.encode(), b""] and b"relay" in cmdline:
                pids.append(pid)
        return pids

    def role_pid(self, role: str) -> int:
        pids = self.role_pids(role)
        if not pids:
            raise AssertionError(f"no relay {role} process in the group")
        return pids[0]

    def kill_all(self) -> None:
        """kill -9 of everything at once: nothing gets to release a lease or close a file."""
        assert self.process is not None
        # Frozen first, so it neither restarts a child that dies nor lets them see it die.
        os.kill(self.process.pid, signal.SIGSTOP)
        pids = self.tree_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert wait_exited(pids), "a process of relay up survived kill -9"

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
            up.kill_all()


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
    # One Ctrl-C stops web, worker and Valkey, and nothing relay up started is left.
    started = relay_up.tree_pids()
    assert len(started) == 4, started  # relay up, Valkey, web, worker
    assert relay_up.stop() == 0
    assert wait_exited(started)
    assert "Relay stopped." in relay_up.printed()


def project_folder(tmp_path: Path) -> Path:
    """A folder whose modules share names with Relay's packages, and raise if imported."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("webhooks.py", "workers.py", "relay.py"):
        (project / name).write_text(f'raise RuntimeError("Relay imported the project\'s {name}")\n')
    return project


async def test_relay_up_in_a_project_folder_never_imports_the_projects_own_modules(
    relay_up: RelayUp, tmp_path: Path
) -> None:
    """webhooks.py, workers.py and relay.py are common names in an app; Relay must not pick them up."""
    relay_up.cwd = project_folder(tmp_path)
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30) as client:
        key = await create_tenant_key(client, "t", admin_token=relay_up.admin_token())
        client.headers.update(key.headers)
        # The worker (which imports `workers` and `webhooks`) is what connects a session.
        session = await connected_sandbox_session(client)
        assert session["status"] == "connected"
    assert relay_up.stop() == 0
    assert "Relay imported" not in relay_up.printed()


def test_relay_migrate_in_a_project_folder_never_imports_the_projects_own_modules(tmp_path: Path) -> None:
    project = project_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_") and k != "DATABASE_URL"}
    env["DATABASE_URL"] = f"sqlite://{tmp_path / 'relay.db'}"
    assert RELAY_COMMAND is not None
    done = subprocess.run([RELAY_COMMAND, "migrate"], cwd=project, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"migrations applied" in done.stdout


async def test_ctrl_c_releases_the_leases_before_valkey_stops_so_a_restart_resumes_at_once(
    relay_up: RelayUp,
) -> None:
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group.

    With a 60 s lease TTL, a lease left behind would hold the session for a
    minute. The proof that nothing was lost: Valkey never saw the SIGINT (its
    log), the lease is gone from its append-only file after the stop, and after
    the restart the session connects again well within the TTL, on its stored
    credentials (no QR).
    """
    relay_up.settings["RELAY_LEASE_TTL"] = "60"
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30) as client:
        key = await create_tenant_key(client, "t", admin_token=relay_up.admin_token())
        client.headers.update(key.headers)
        session = await connected_sandbox_session(client)
        statuses_before = len(await events_of(client, session["id"], "session.status"))

    assert relay_up.process is not None
    started = relay_up.tree_pids()
    os.killpg(relay_up.process.pid, signal.SIGINT)
    assert relay_up.process.wait(timeout=40) == 0
    assert wait_exited(started)

    # The terminal's SIGINT never reached Valkey: relay up stopped it, with SIGTERM, once the worker was gone.
    valkey_log = (relay_up.data_dir / "valkey" / "valkey.log").read_text()
    assert "Received SIGINT" not in valkey_log and "Received SIGTERM" in valkey_log, valkey_log[-2000:]
    valkey = start_embedded_valkey(relay_up.data_dir / "valkey")
    try:
        client_sync = redis_sync.Redis.from_url(valkey.connection_url)
        assert client_sync.exists(session_lease_key(session["id"])) == 0, "the lease outlived the stop"
        client_sync.close()
    finally:
        valkey.stop()

    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30, headers=key.headers) as client:

        async def connected_again() -> list[str]:
            statuses = [e["data"]["status"] for e in await events_of(client, session["id"], "session.status")]
            after_restart = statuses[statuses_before:]
            return after_restart if "connected" in after_restart else []

        # Half the lease TTL: a session waiting for a leftover lease could not make it.
        resumed = await wait_until(connected_again, timeout=30, what="the session to connect again")
        assert "qr" not in resumed, resumed
    assert relay_up.stop() == 0


async def test_kill_9_and_restart_resumes_without_scan_and_loses_no_accepted_command(
    relay_up: RelayUp,
) -> None:
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30) as client:
        key = await create_tenant_key(client, "t", admin_token=relay_up.admin_token())
        client.headers.update(key.headers)
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
    relay_up.kill_all()

    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url, timeout=30, headers=key.headers) as client:
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
    children = [pid for pid in relay_up.tree_pids() if pid != relay_up.process.pid]
    os.kill(relay_up.process.pid, signal.SIGKILL)
    relay_up.process.wait(timeout=10)
    # Web, worker and Valkey follow their parent (PDEATHSIG); a lingering Valkey is stopped by the next start.
    assert wait_exited(children), "a process outlived relay up"
    relay_up.start()
    async with httpx.AsyncClient(base_url=relay_up.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200
    started = relay_up.tree_pids()
    assert relay_up.stop() == 0
    assert wait_exited(started)


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
    assert "relay worker 0 exited with code -9; restarting it in 1s" in printed
    assert "relay worker 0 exited with code -9; restarting it in 2s" in printed
    async with httpx.AsyncClient(base_url=relay_up.base_url) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert relay_up.stop() == 0


async def test_relay_up_with_several_workers_spreads_the_sessions_over_them(tmp_path: Path) -> None:
    # Capacity 1 each: two sessions can only both run if both workers take one.
    metrics_port = free_port()
    up = RelayUp(
        tmp_path / "data",
        free_port(),
        "--workers",
        "2",
        RELAY_WORKER_CAPACITY="1",
        RELAY_WORKER_METRICS_PORT=str(metrics_port),
    )
    try:
        up.start()
        assert "Workers      2 (capacity 1 sessions each)" in up.printed()
        # Worker i serves its own /metrics on the port + i, and relay up says where.
        worker_metrics = [f"http://127.0.0.1:{metrics_port + i}/metrics" for i in range(2)]
        assert all(url in up.printed() for url in worker_metrics), up.printed()
        worker_pids = up.role_pids("worker")
        assert len(worker_pids) == 2, worker_pids
        async with httpx.AsyncClient(base_url=up.base_url, timeout=30) as admin:
            key = await create_tenant_key(admin, "two", admin_token=up.admin_token())
        async with httpx.AsyncClient(base_url=up.base_url, headers=key.headers, timeout=30) as client:
            ids = []
            for name in ("one", "two"):
                created = await client.post("/v1/sessions", json={"name": name, "engine": "sandbox"})
                ids.append(created.raise_for_status().json()["id"])
            for session_id in ids:
                await wait_for_status(client, session_id, "qr", timeout=30)
        valkey = redis_sync.Redis.from_url(re.findall(r"Redis\s+(\S+)", up.printed())[-1])
        try:
            owners = [valkey.get(session_lease_key(session_id)) for session_id in ids]
        finally:
            valkey.close()
        # A lease value is "<host>:<pid>:<random>:<token>": one session on each worker.
        assert {int(owner.decode().split(":")[-3]) for owner in owners if owner} == set(worker_pids)
        for url in worker_metrics:
            assert sample(await scrape(url), "relay_worker_sessions", status="qr") == 1, url
        started = up.tree_pids()
        assert up.stop() == 0
        assert wait_exited(started)
    finally:
        if up.process is not None and up.process.poll() is None:
            up.kill_all()


def test_workers_is_an_option_of_relay_up_only(tmp_path: Path) -> None:
    assert RELAY_COMMAND is not None
    env = {**os.environ, "RELAY_DATA_DIR": str(tmp_path / "data")}
    for arguments, complaint in (
        (["worker", "--workers", "2"], "--workers is for relay up"),
        (["up", "--workers", "0"], "--workers must be at least 1"),
    ):
        done = subprocess.run([RELAY_COMMAND, *arguments], env=env, capture_output=True, timeout=60)
        assert done.returncode == 2 and complaint in done.stderr.decode(), done.stderr
    # Worker i serves its metrics on the port + i: the last one must still be a port.
    crowded = {**env, "RELAY_WORKER_METRICS_PORT": "65535"}
    done = subprocess.run(
        [RELAY_COMMAND, "up", "--workers", "2"], env=crowded, capture_output=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "RELAY_WORKER_METRICS_PORT leaves no port for worker 1" in done.stderr.decode()
