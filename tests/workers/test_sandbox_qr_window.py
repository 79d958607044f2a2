"""A sandbox session nobody scans ends as a real one does: stopped, reason qr_timeout, no longer wanted."""

from __future__ import annotations

from pathlib import Path

from tests.sessions import events_of, wait_for_status
from tests.workers.private_stack import private_relay
from workers.engines.base import QR_TIMEOUT_REASON


async def test_an_unscanned_sandbox_session_stops_with_qr_timeout(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    async with private_relay(relay_env, tmp_path, name="qr_window", RELAY_SANDBOX_QR_TIMEOUT="1") as stack:
        client = stack.tenant
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
