"""A sandbox session nobody scans ends as a real one does: stopped, reason qr_timeout, no longer wanted.

A Relay of its own (its own Valkey and database) whose sandbox QR window is one second.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx

from tests.servers import PrivateValkey
from tests.sessions import events_of, wait_for_status
from tests.stack import RelayStack
from tests.workers.test_capacity import private_database
from workers.engines.base import QR_TIMEOUT_REASON


async def test_an_unscanned_sandbox_session_stops_with_qr_timeout(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    valkey = PrivateValkey(tmp_path / "valkey")
    relay: RelayStack | None = None
    valkey.start()
    try:
        env = {
            **relay_env,
            "DATABASE_URL": await private_database(relay_env["DATABASE_URL"], tmp_path, "_qr_window"),
            "REDIS_URL": valkey.url,
            "RELAY_DATA_DIR": str(tmp_path / "data"),
            "RELAY_SANDBOX_QR_TIMEOUT": "1",
        }
        migrate = [sys.executable, "-P", "-m", "relay", "migrate"]
        await asyncio.to_thread(subprocess.run, migrate, env=env, check=True, capture_output=True, timeout=60)
        (tmp_path / "logs").mkdir()
        relay = RelayStack(env=env, log_dir=tmp_path / "logs")
        relay.start_web()
        relay.start_worker()
        admin_headers = {"Authorization": f"Bearer {relay.admin_token}"}
        async with httpx.AsyncClient(base_url=relay.base_url, headers=admin_headers, timeout=30) as admin:
            tenant = (await admin.post("/v1/tenants", json={"name": "idle"})).raise_for_status().json()
            key = (
                (await admin.post(f"/v1/tenants/{tenant['id']}/api-keys", json={})).raise_for_status().json()
            )
        headers = {"Authorization": f"Bearer {key['key']}"}
        async with httpx.AsyncClient(base_url=relay.base_url, headers=headers, timeout=30) as client:
            created = await client.post("/v1/sessions", json={"name": "never scanned", "engine": "sandbox"})
            assert created.status_code == 201, created.text
            session_id = created.json()["id"]

            await wait_for_status(client, session_id, "qr")
            ended = await wait_for_status(client, session_id, "stopped")
            assert ended["reason"] == QR_TIMEOUT_REASON and ended["desired_state"] == "stopped"
            statuses = [
                event["data"]["status"] for event in await events_of(client, session_id, "session.status")
            ]
            assert statuses[-1] == "stopped" and "qr" in statuses
            # The QR is gone with the window; starting again opens a new one.
            assert (await client.get(f"/v1/sessions/{session_id}/qr")).status_code == 409
            assert (await client.post(f"/v1/sessions/{session_id}/start")).status_code == 202
            await wait_for_status(client, session_id, "qr")
    finally:
        if relay is not None:
            relay.stop_all()
        valkey.destroy()
