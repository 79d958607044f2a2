"""Contacts check, read receipts and presence, end to end: REST API → Redis → worker → sandbox engine.

What the sandbox's contacts saw is read back through ``sandbox/seen``, so each test shows the
call reached the engine (and, for bad input, that nothing did).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of

CONTACT = "4915112345678"
CONTACT_JID = f"{CONTACT}@s.whatsapp.net"


async def seen(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.post(f"/v1/sessions/{session_id}/sandbox/seen")
    assert response.status_code == 202, response.text
    items: list[dict[str, Any]] = response.json()["seen"]
    return items


async def test_contacts_check_follows_the_sandbox_rule_in_the_callers_order(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    phones = ["+4915112345671", "4915112345670", "4915112345671", "15550100009"]
    response = await client.post(f"/v1/sessions/{session['id']}/contacts/check", json={"phones": phones})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": [
            {"phone": "4915112345671", "on_whatsapp": True, "jid": "4915112345671@s.whatsapp.net"},
            {"phone": "4915112345670", "on_whatsapp": False, "jid": None},
            {"phone": "4915112345671", "on_whatsapp": True, "jid": "4915112345671@s.whatsapp.net"},
            {"phone": "15550100009", "on_whatsapp": True, "jid": "15550100009@s.whatsapp.net"},
        ]
    }


async def test_read_receipts_reach_the_chat(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    inbound = await client.post(
        f"/v1/sessions/{session['id']}/sandbox/inbound", json={"from": CONTACT, "text": "hi", "count": 2}
    )
    ids = inbound.json()["whatsapp_ids"]
    response = await client.post(
        f"/v1/sessions/{session['id']}/read", json={"chat": f"+{CONTACT}", "message_ids": ids}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"done": True}
    assert await seen(client, session["id"]) == [{"kind": "read", "chat": CONTACT_JID, "message_ids": ids}]


async def test_presence_states_reach_the_chat_in_order(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    path = f"/v1/sessions/{session['id']}/presence"
    for state in ("typing", "recording", "paused"):
        response = await client.post(path, json={"chat": CONTACT_JID, "state": state})
        assert response.status_code == 200, response.text
    assert await seen(client, session["id"]) == [
        {"kind": "presence", "chat": CONTACT_JID, "state": state}
        for state in ("typing", "recording", "paused")
    ]


async def test_a_text_with_typing_shows_typing_then_goes_out_then_paused(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    sent = await client.post(
        f"/v1/sessions/{session['id']}/messages",
        json={"to": CONTACT, "type": "text", "text": "typed by hand", "typing": True},
    )
    assert sent.status_code in (201, 202), sent.text

    async def outcome() -> list[dict[str, Any]] | None:
        events = await events_of(client, session["id"], "message.sent")
        return events or None

    [event] = await wait_until(outcome, what="the typed message to be sent")
    whatsapp_id = event["data"]["whatsapp_id"]
    assert await seen(client, session["id"]) == [
        {"kind": "presence", "chat": CONTACT_JID, "state": "typing"},
        {"kind": "message", "chat": CONTACT_JID, "whatsapp_id": whatsapp_id},
        {"kind": "presence", "chat": CONTACT_JID, "state": "paused"},
    ]
    # Without typing, no presence.
    plain = await client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": CONTACT, "type": "text", "text": "plain"}
    )
    assert plain.status_code in (201, 202), plain.text
    [_, second] = await wait_until(
        lambda: _two_sent(client, session["id"]), what="the plain message to be sent"
    )
    after = await seen(client, session["id"])
    assert after[3:] == [
        {"kind": "message", "chat": CONTACT_JID, "whatsapp_id": second["data"]["whatsapp_id"]}
    ]


async def _two_sent(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]] | None:
    events = await events_of(client, session_id, "message.sent")
    return events if len(events) == 2 else None


async def test_bad_input_is_422_and_reaches_nothing(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    base = f"/v1/sessions/{session['id']}"
    refusals: list[tuple[str, dict[str, Any], str]] = [
        ("contacts/check", {"phones": [f"49151123456{n:02d}" for n in range(51)]}, "phones"),
        ("contacts/check", {"phones": []}, "phones"),
        ("contacts/check", {"phones": ["49151abc45678"]}, "phones"),
        ("contacts/check", {}, "phones"),
        # Digits in other scripts are digits to Python's \d, not to the documented pattern nor WhatsApp.
        ("contacts/check", {"phones": ["\u0664\u0669\u0661\u0665\u0661\u0661\u0662"]}, "phones"),
        ("read", {"chat": "4915112345678\u0085@lid", "message_ids": ["3EB0AA"]}, "chat"),
        ("read", {"chat": CONTACT, "message_ids": []}, "message_ids"),
        ("read", {"chat": "not a chat", "message_ids": ["3EB0AA"]}, "chat"),
        ("read", {"chat": CONTACT, "message_ids": ["has space"]}, "message_ids"),
        ("presence", {"chat": CONTACT, "state": "dancing"}, "state"),
        ("presence", {"chat": CONTACT}, "state"),
    ]
    for route, body, field in refusals:
        assert_problem(await client.post(f"{base}/{route}", json=body), 422, field)
    assert await seen(client, session["id"]) == []


async def test_a_session_that_is_not_connected_is_409_naming_its_status(tenant: TenantHandle) -> None:
    client = tenant.client
    stopped = await create_session(client, engine="sandbox", start=False)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("contacts/check", {"phones": [CONTACT]}),
        ("read", {"chat": CONTACT, "message_ids": ["3EB0AA"]}),
        ("presence", {"chat": CONTACT, "state": "typing"}),
    ]
    for route, body in calls:
        problem = assert_problem(await client.post(f"/v1/sessions/{stopped['id']}/{route}", json=body), 409)
        assert "session is stopped" in problem["detail"], problem
