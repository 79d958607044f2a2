"""Story steps shared by the end-to-end tests: a sandbox session from creation to connected."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import wait_until


async def session_status(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/sessions/{session_id}")
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def wait_for_status(
    client: httpx.AsyncClient, session_id: str, *statuses: str, timeout: float = 20
) -> dict[str, Any]:
    """The session once its status is one of ``statuses``."""

    async def probe() -> dict[str, Any] | None:
        session = await session_status(client, session_id)
        return session if session["status"] in statuses else None

    return await wait_until(
        probe, timeout=timeout, what=f"session {session_id} to be {' or '.join(statuses)}"
    )


async def connected_sandbox_session(client: httpx.AsyncClient, name: str = "sandbox") -> dict[str, Any]:
    created = await client.post("/v1/sessions", json={"name": name, "engine": "sandbox"})
    assert created.status_code == 201, created.text
    session = created.json()
    await wait_for_status(client, session["id"], "qr")
    scanned = await client.post(f"/v1/sessions/{session['id']}/sandbox/scan", json={})
    assert scanned.status_code == 202, scanned.text
    return await wait_for_status(client, session["id"], "connected")


async def events_of(
    client: httpx.AsyncClient, session_id: str, event_type: str | None = None
) -> list[dict[str, Any]]:
    """Every ledger event of a session, following cursors to the end."""
    params: dict[str, Any] = {"session_id": session_id, "limit": 1000}
    if event_type:
        params["type"] = event_type
    events: list[dict[str, Any]] = []
    while True:
        page = (await client.get("/v1/events", params=params)).raise_for_status().json()
        events.extend(page["data"])
        if not page["next_cursor"]:
            return events
        params["after"] = page["next_cursor"]
