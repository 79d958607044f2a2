"""A tenant creates sessions, starts and stops them, and links them with a QR or a code."""

from __future__ import annotations

import asyncio

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.sessions import wait_for_status

SESSION_FIELDS = {
    "id",
    "name",
    "engine",
    "status",
    "reason",
    "desired_state",
    "phone",
    "jid",
    "created_at",
    "updated_at",
}


async def test_create_get_list_delete(tenant: TenantHandle) -> None:
    client = tenant.client
    created = await client.post("/v1/sessions", json={"name": "support line", "start": False})
    assert created.status_code == 201, created.text
    session = created.json()
    assert set(session) >= SESSION_FIELDS
    assert session["id"].startswith("ses_")
    assert session["engine"] == "whatsapp"
    assert session["desired_state"] == "stopped" and session["status"] == "stopped"

    assert (await client.get(f"/v1/sessions/{session['id']}")).json()["name"] == "support line"
    listed = (await client.get("/v1/sessions")).json()
    assert [s["id"] for s in listed["data"]] == [session["id"]]
    assert listed["next_cursor"] is None

    assert (await client.delete(f"/v1/sessions/{session['id']}")).status_code == 204
    # Gone from every route at once, even before a worker erases it.
    assert_problem(await client.get(f"/v1/sessions/{session['id']}"), 404)
    assert_problem(await client.post(f"/v1/sessions/{session['id']}/start"), 404)
    assert_problem(await client.delete(f"/v1/sessions/{session['id']}"), 404)
    assert (await client.get("/v1/sessions")).json()["data"] == []


async def test_start_defaults_to_true(tenant: TenantHandle) -> None:
    created = await tenant.client.post("/v1/sessions", json={"name": "s", "engine": "sandbox"})
    assert created.status_code == 201
    assert created.json()["desired_state"] == "running"


async def test_lifecycle_is_idempotent(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await create_session(client, engine="sandbox", start=False)
    path = f"/v1/sessions/{session['id']}"

    for _ in range(2):
        started = await client.post(f"{path}/start")
        assert started.status_code == 202, started.text
        assert started.json()["desired_state"] == "running"
    await wait_for_status(client, session["id"], "qr")

    for _ in range(2):
        stopped = await client.post(f"{path}/stop")
        assert stopped.status_code == 202, stopped.text
        assert stopped.json()["desired_state"] == "stopped"
    await wait_for_status(client, session["id"], "stopped")

    logged_out = await client.post(f"{path}/logout")
    assert logged_out.status_code == 202
    assert logged_out.json()["desired_state"] == "logout"
    assert (await client.post(f"{path}/logout")).status_code == 202


async def test_qr_as_json_png_and_svg(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await create_session(client, engine="sandbox", start=True)
    await wait_for_status(client, session["id"], "qr")
    path = f"/v1/sessions/{session['id']}/qr"

    qr = await client.get(path)
    assert qr.status_code == 200, qr.text
    assert qr.json()["qr"] and qr.json()["expires_at"]

    png = await client.get(path, params={"format": "png"})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["cache-control"] == "no-store"

    svg = await client.get(path, params={"format": "svg"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content

    assert_problem(await client.get(path, params={"format": "gif"}), 422, "format")


async def test_qr_is_409_when_not_waiting_for_a_scan(tenant: TenantHandle) -> None:
    session = await create_session(tenant.client, engine="sandbox", start=False)
    assert_problem(await tenant.client.get(f"/v1/sessions/{session['id']}/qr"), 409)


async def test_pair_code_needs_a_running_session(tenant: TenantHandle) -> None:
    session = await create_session(tenant.client, engine="whatsapp", start=False)
    response = await tenant.client.post(
        f"/v1/sessions/{session['id']}/pair-code", json={"phone": "+4915112345678"}
    )
    assert_problem(response, 409)


async def test_pair_code_links_a_sandbox_session(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await create_session(client, engine="sandbox", start=True)
    await wait_for_status(client, session["id"], "qr")
    response = await client.post(f"/v1/sessions/{session['id']}/pair-code", json={"phone": "+4915112345678"})
    assert response.status_code == 200, response.text
    assert response.json()["code"]
    await wait_for_status(client, session["id"], "pairing")


async def test_concurrent_lifecycle_calls_all_succeed(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await create_session(client, engine="sandbox", start=False)
    path = f"/v1/sessions/{session['id']}"
    calls = [client.post(f"{path}/{action}") for action in ("start", "stop") * 5]
    responses = await asyncio.gather(*calls)
    assert [r.status_code for r in responses] == [202] * 10, [r.text for r in responses]
    final = (await client.post(f"{path}/stop")).json()
    assert final["desired_state"] == "stopped"
    await wait_for_status(client, session["id"], "stopped")
