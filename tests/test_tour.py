"""The README's five-minute tour, end to end over REST and the WebSocket feed."""

from __future__ import annotations

import json

import websockets

from tests.conftest import TenantHandle
from tests.helpers import is_event, wait_until, ws_receive, ws_receive_until
from tests.sessions import events_of, wait_for_status
from tests.stack import RelayStack


async def test_qr_scan_inbound_send_and_acks_over_rest_and_websocket(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    async with websockets.connect(f"{stack.ws_url}?token={tenant.api_key}") as ws:
        assert (await ws_receive(ws))["type"] == "ready"
        await ws.send(json.dumps({"type": "subscribe", "session_id": "*"}))
        assert (await ws_receive(ws))["type"] == "subscribed"

        created = await tenant.client.post("/v1/sessions", json={"name": "shop", "engine": "sandbox"})
        assert created.status_code == 201
        session_id = created.json()["id"]
        assert created.json()["desired_state"] == "running"

        # The QR arrives on the socket and refreshes (RELAY_SANDBOX_QR_INTERVAL=1 in tests).
        first = await ws_receive_until(ws, is_event("session.qr"))
        second = await ws_receive_until(ws, is_event("session.qr"))
        assert first["event"]["data"]["qr"] != second["event"]["data"]["qr"]
        assert first["event"]["session_id"] == session_id
        qr = (await tenant.client.get(f"/v1/sessions/{session_id}/qr")).json()
        assert qr["qr"].startswith("2@")

        scanned = await tenant.client.post(
            f"/v1/sessions/{session_id}/sandbox/scan", json={"phone": "15550001111"}
        )
        assert scanned.status_code == 202, scanned.text
        status = await ws_receive_until(ws, is_event("session.status", status="connected"))
        assert status["event"]["data"]["previous"] == "qr"
        session = await wait_for_status(tenant.client, session_id, "connected")
        assert session["phone"] == "15550001111"
        assert session["jid"] == "15550001111@s.whatsapp.net"

        inbound = await tenant.client.post(
            f"/v1/sessions/{session_id}/sandbox/inbound", json={"from": "15557654321", "text": "hello"}
        )
        assert inbound.status_code == 202
        received = await ws_receive_until(ws, is_event("message.received", text="hello"))
        assert received["event"]["data"]["from"] == "15557654321@s.whatsapp.net"

        sent = await tenant.client.post(
            f"/v1/sessions/{session_id}/messages",
            json={"to": "15557654321", "type": "text", "text": "hi back"},
        )
        assert sent.status_code == 201, sent.text
        message = sent.json()
        assert message["status"] == "sent" and message["whatsapp_id"]
        sent_event = await ws_receive_until(ws, is_event("message.sent", id=message["id"]))
        assert sent_event["event"]["data"]["whatsapp_id"] == message["whatsapp_id"]
        for ack in ("delivered", "read"):
            frame = await ws_receive_until(ws, is_event("message.ack", status=ack))
            assert frame["event"]["data"]["whatsapp_ids"] == [message["whatsapp_id"]]

        # The same send over the socket answers with a result frame.
        await ws.send(
            json.dumps(
                {
                    "type": "send",
                    "request_id": "r1",
                    "session_id": session_id,
                    "to": "15557654321",
                    "text": "from the socket",
                }
            )
        )
        result = await ws_receive_until(ws, lambda f: f.get("type") == "result")
        assert result["request_id"] == "r1" and result["ok"] is True
        assert result["data"]["status"] == "sent"

    # Everything the socket showed is in the ledger, in order.
    ledger = await events_of(tenant.client, session_id)
    types = [event["type"] for event in ledger]
    assert types[:2] == ["session.status", "session.status"]
    assert types.index("message.received") < types.index("message.sent")
    assert [e["id"] for e in ledger] == sorted(e["id"] for e in ledger)


async def test_sending_to_a_number_not_on_whatsapp_fails_visibly(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    from tests.sessions import connected_sandbox_session

    session = await connected_sandbox_session(tenant.client)
    response = await tenant.client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "0001234567", "type": "text", "text": "x"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "failed"
    assert "not on WhatsApp" in response.json()["error"]
    failed = await wait_until(
        lambda: events_of(tenant.client, session["id"], "message.failed"), what="message.failed"
    )
    assert failed[0]["data"]["id"] == response.json()["id"]


async def test_drop_reconnects_and_phone_logout_ends_the_link(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    from tests.sessions import connected_sandbox_session

    session = await connected_sandbox_session(tenant.client)
    sid = session["id"]
    assert (await tenant.client.post(f"/v1/sessions/{sid}/sandbox/drop")).status_code == 202
    await wait_for_status(tenant.client, sid, "connected")
    statuses = [e["data"]["status"] for e in await events_of(tenant.client, sid, "session.status")]
    assert statuses[-2:] == ["reconnecting", "connected"]

    assert (await tenant.client.post(f"/v1/sessions/{sid}/sandbox/logout")).status_code == 202
    logged_out = await wait_for_status(tenant.client, sid, "logged_out")
    assert logged_out["jid"] is None

    async def settled() -> bool:
        return (await tenant.client.get(f"/v1/sessions/{sid}")).json()["desired_state"] == "stopped"

    await wait_until(settled, what="desired_state stopped after logout")
    # A new start needs a new scan: the credentials are gone.
    assert (await tenant.client.post(f"/v1/sessions/{sid}/start")).status_code == 202
    await wait_for_status(tenant.client, sid, "qr")


async def test_stop_start_and_api_logout(stack: RelayStack, tenant: TenantHandle) -> None:
    from tests.sessions import connected_sandbox_session

    session = await connected_sandbox_session(tenant.client)
    sid = session["id"]
    assert (await tenant.client.post(f"/v1/sessions/{sid}/stop")).status_code == 202
    assert (await tenant.client.post(f"/v1/sessions/{sid}/stop")).status_code == 202
    await wait_for_status(tenant.client, sid, "stopped")
    # Sending to a stopped session changes nothing.
    refused = await tenant.client.post(
        f"/v1/sessions/{sid}/messages", json={"to": "15557654321", "type": "text", "text": "x"}
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")

    # Start again: the link survived, no scan needed.
    assert (await tenant.client.post(f"/v1/sessions/{sid}/start")).status_code == 202
    await wait_for_status(tenant.client, sid, "connected")

    assert (await tenant.client.post(f"/v1/sessions/{sid}/logout")).status_code == 202
    out = await wait_for_status(tenant.client, sid, "logged_out")
    assert out["phone"] is None and out["jid"] is None


async def test_messages_sent_while_reconnecting_go_out_once_connected(
    stack: RelayStack, tenant: TenantHandle
) -> None:
    from tests.sessions import connected_sandbox_session

    session = await connected_sandbox_session(tenant.client)
    sid = session["id"]
    await tenant.client.post(f"/v1/sessions/{sid}/sandbox/drop")
    await wait_for_status(tenant.client, sid, "reconnecting", timeout=5)
    ids = []
    for n in range(3):
        response = await tenant.client.post(
            f"/v1/sessions/{sid}/messages", json={"to": "15557654321", "type": "text", "text": f"m{n}"}
        )
        assert response.status_code in (201, 202)
        ids.append(response.json()["id"])

    async def all_sent() -> bool:
        statuses = [(await tenant.client.get(f"/v1/messages/{i}")).json()["status"] for i in ids]
        return statuses == ["sent"] * 3

    await wait_until(all_sent, what="queued messages to be sent after reconnect")
    sent_order = [e["data"]["id"] for e in await events_of(tenant.client, sid, "message.sent")]
    assert sent_order == ids
