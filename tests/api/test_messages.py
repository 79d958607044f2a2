"""A tenant sends messages through a linked session and reads them back."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, wait_for_status

MESSAGE_FIELDS = {"id", "session_id", "to", "type", "status", "whatsapp_id", "error", "created_at"}


async def test_text_message_is_sent_and_listed(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    path = f"/v1/sessions/{session['id']}/messages"

    response = await client.post(path, json={"to": "+4915112345678", "type": "text", "text": "hi"})
    assert response.status_code == 201, response.text
    message = response.json()
    assert set(message) >= MESSAGE_FIELDS
    assert message["status"] == "sent" and message["whatsapp_id"]
    assert message["to"] == "4915112345678" and message["type"] == "text"

    assert (await client.get(f"/v1/messages/{message['id']}")).json() == message
    listed = (await client.get(path)).json()
    assert [m["id"] for m in listed["data"]] == [message["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"to": "120363025246125888@g.us", "type": "text", "text": "hello group", "link_preview": False},
        {"to": "4915112345678@s.whatsapp.net", "type": "reaction", "message_id": "ABC", "emoji": "👍"},
        {"to": "4915112345678", "type": "reaction", "message_id": "ABC", "emoji": ""},
        {"to": "4915112345678", "type": "image", "media": {"url": "https://example.com/a.png"}},
        {
            "to": "4915112345678",
            "type": "document",
            "media": {"base64": base64.b64encode(b"%PDF-1.4").decode()},
            "filename": "a.pdf",
            "mimetype": "application/pdf",
            "caption": "the contract",
        },
        {"to": "4915112345678", "type": "location", "latitude": 52.52, "longitude": 13.405},
    ],
    ids=["group-text", "reaction", "unreact", "image-url", "document-base64", "location"],
)
async def test_every_message_type_is_accepted(tenant: TenantHandle, body: dict[str, object]) -> None:
    session = await connected_sandbox_session(tenant.client)
    response = await tenant.client.post(f"/v1/sessions/{session['id']}/messages", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["type"] == body["type"]


async def test_a_failed_send_is_reported(tenant: TenantHandle) -> None:
    session = await connected_sandbox_session(tenant.client)
    response = await tenant.client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "0001234567", "text": "nobody"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "failed" and response.json()["error"]


async def test_idempotency_key_sends_once(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    path = f"/v1/sessions/{session['id']}/messages"
    body = {"to": "+4915112345678", "type": "text", "text": "once"}
    headers = {"Idempotency-Key": "order-42-confirmation"}

    first = await client.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(path, json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert len((await client.get(path)).json()["data"]) == 1

    too_long = await client.post(path, json=body, headers={"Idempotency-Key": "k" * 201})
    assert_problem(too_long, 422, "Idempotency-Key")


async def test_message_waits_queued_while_not_connected(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await create_session(client, engine="sandbox", start=True)
    await wait_for_status(client, session["id"], "qr")
    response = await client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "4915112345678", "text": "later"}
    )
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["status"] == "queued" and message["whatsapp_id"] is None

    # Once linked, the queued message goes out.
    assert (await client.post(f"/v1/sessions/{session['id']}/sandbox/scan")).status_code == 202

    async def sent() -> bool:
        current = (await client.get(f"/v1/messages/{message['id']}")).json()
        return bool(current["status"] == "sent")

    await wait_until(sent, what="the queued message to be sent")


async def test_sending_needs_a_running_session(tenant: TenantHandle) -> None:
    session = await create_session(tenant.client, engine="sandbox", start=False)
    path = f"/v1/sessions/{session['id']}/messages"
    response = await tenant.client.post(path, json={"to": "4915112345678", "text": "no"})
    assert_problem(response, 409)
    assert (await tenant.client.get(path)).json()["data"] == []


async def test_concurrent_retries_with_one_key_send_once(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    path = f"/v1/sessions/{session['id']}/messages"
    headers = {"Idempotency-Key": "burst-1"}

    responses = await asyncio.gather(
        *(client.post(path, json={"to": "4915112345678", "text": "once"}, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} <= {200, 201, 202}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await client.get(path)).json()["data"]) == 1
