"""The sandbox plays the phone: scan, inbound messages, a dropped link, an unlink."""

from __future__ import annotations

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, wait_for_status


async def test_scan_links_the_session_with_the_given_phone(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await create_session(client, engine="sandbox", start=True)
    await wait_for_status(client, session["id"], "qr")
    response = await client.post(f"/v1/sessions/{session['id']}/sandbox/scan", json={"phone": "+15550100042"})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] is True
    linked = await wait_for_status(client, session["id"], "connected")
    assert linked["phone"] == "15550100042"


async def test_inbound_messages_appear_as_events(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    response = await client.post(
        f"/v1/sessions/{session['id']}/sandbox/inbound",
        json={"from": "+4915112345678", "text": "hello", "count": 3},
    )
    assert response.status_code == 202, response.text

    async def received() -> list[dict[str, object]]:
        events = await client.get(
            "/v1/events", params={"session_id": session["id"], "type": "message.received"}
        )
        data: list[dict[str, object]] = events.json()["data"]
        return data if len(data) == 3 else []

    events = await wait_until(received, what="three message.received events")
    assert all(e["data"]["text"] == "hello" for e in events)  # type: ignore[index]


async def test_drop_and_phone_logout(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    path = f"/v1/sessions/{session['id']}/sandbox"

    assert (await client.post(f"{path}/drop")).status_code == 202
    await wait_for_status(client, session["id"], "connected")
    assert (await client.post(f"{path}/logout")).status_code == 202
    await wait_for_status(client, session["id"], "logged_out")
    assert_problem(await client.post(f"{path}/inbound", json={"from": "123456", "text": "x"}), 409)


async def test_actions_need_the_right_status_and_engine(tenant: TenantHandle) -> None:
    client = tenant.client
    stopped = await create_session(client, engine="sandbox", start=False)
    for action in ("scan", "drop", "logout"):
        assert_problem(await client.post(f"/v1/sessions/{stopped['id']}/sandbox/{action}"), 409)
    real = await create_session(client, engine="whatsapp", start=False)
    assert_problem(await client.post(f"/v1/sessions/{real['id']}/sandbox/scan"), 409)
