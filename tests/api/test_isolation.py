"""A tenant never reaches, nor learns about, another tenant's objects: foreign ids are 404.

Every tenant route is listed here; ``test_every_tenant_route_is_listed`` fails
when a route is added without deciding how it is isolated.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.flows import assert_problem, served_routes, webhook_routes
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of

# (method, path template, JSON body): routes that take an id of the other tenant's.
ID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/sessions/{session_id}", None),
    ("DELETE", "/v1/sessions/{session_id}", None),
    ("PATCH", "/v1/sessions/{session_id}", {"name": "taken"}),
    ("POST", "/v1/sessions/{session_id}/start", None),
    ("POST", "/v1/sessions/{session_id}/stop", None),
    ("POST", "/v1/sessions/{session_id}/logout", None),
    ("GET", "/v1/sessions/{session_id}/qr", None),
    ("POST", "/v1/sessions/{session_id}/pair-code", {"phone": "+4915112345678"}),
    ("POST", "/v1/sessions/{session_id}/messages", {"to": "4915112345678", "text": "hi"}),
    ("GET", "/v1/sessions/{session_id}/messages", None),
    ("GET", "/v1/messages/{message_id}", None),
    ("POST", "/v1/sessions/{session_id}/sandbox/scan", {}),
    ("POST", "/v1/sessions/{session_id}/sandbox/inbound", {"from": "4915112345678", "text": "x"}),
    ("POST", "/v1/sessions/{session_id}/sandbox/drop", None),
    ("POST", "/v1/sessions/{session_id}/sandbox/logout", None),
    ("POST", "/v1/sessions/{session_id}/sandbox/seen", None),
    ("POST", "/v1/sessions/{session_id}/contacts/check", {"phones": ["4915112345678"]}),
    ("POST", "/v1/sessions/{session_id}/read", {"chat": "4915112345678", "message_ids": ["3EB0AA"]}),
    ("POST", "/v1/sessions/{session_id}/presence", {"chat": "4915112345678", "state": "typing"}),
    ("GET", "/v1/sessions/{session_id}/groups", None),
    ("POST", "/v1/sessions/{session_id}/groups", {"subject": "Mine", "participants": ["4915112345678"]}),
    ("GET", "/v1/sessions/{session_id}/groups/{group_jid}", None),
    ("PATCH", "/v1/sessions/{session_id}/groups/{group_jid}", {"subject": "Taken"}),
    ("POST", "/v1/sessions/{session_id}/groups/{group_jid}/participants", {"add": ["4915112345677"]}),
    ("POST", "/v1/sessions/{session_id}/groups/{group_jid}/leave", None),
    ("GET", "/v1/sessions/{session_id}/groups/{group_jid}/invite-link", None),
    ("POST", "/v1/sessions/{session_id}/sandbox/join-group", {"from": "4915112345678", "subject": "Theirs"}),
    ("GET", "/v1/media/{media_id}", None),
]
# Routes without an id: scoped to the caller's tenant by construction (tested below).
SCOPED_ROUTES = {
    ("GET", "/v1/sessions"),
    ("POST", "/v1/sessions"),
    ("GET", "/v1/events"),
    ("POST", "/v1/auth/token"),
    ("GET", "/v1/stats"),
    # Each tenant's own quotas and usage (tests/api/test_own_tenant.py).
    ("GET", "/v1/tenant"),
}
ADMIN_PREFIX = "/v1/tenants"


def test_every_tenant_route_is_listed() -> None:
    tenant_routes = {
        (method, path)
        for method, path in served_routes()
        if path.startswith("/v1/") and not path.startswith(ADMIN_PREFIX) and path != "/v1/ws"
    } - webhook_routes()
    listed = {(method, path) for method, path, _ in ID_ROUTES} | SCOPED_ROUTES
    assert tenant_routes == listed


@pytest.fixture
async def foreign(other_tenant: TenantHandle) -> dict[str, Any]:
    """Objects of the other tenant: a linked session with one sent message."""
    session = await connected_sandbox_session(other_tenant.client)
    sent = await other_tenant.client.post(
        f"/v1/sessions/{session['id']}/messages", json={"to": "4915112345678", "text": "mine"}
    )
    assert sent.status_code == 201, sent.text
    group = await other_tenant.client.post(
        f"/v1/sessions/{session['id']}/groups", json={"subject": "Theirs", "participants": ["4915112345678"]}
    )
    assert group.status_code == 201, group.text
    photo = {"from": "4915112345678", "type": "image", "media": {"base64": "iVBORw0KGgo="}}
    inbound = await other_tenant.client.post(f"/v1/sessions/{session['id']}/sandbox/inbound", json=photo)
    assert inbound.status_code == 202, inbound.text

    async def media_id() -> str | None:
        events = await events_of(other_tenant.client, session["id"], "message.received")
        return next((e["data"]["media"]["id"] for e in events if "media" in e["data"]), None)

    return {
        "session_id": session["id"],
        "message_id": sent.json()["id"],
        "group_jid": group.json()["jid"],
        "media_id": await wait_until(media_id, what="the inbound photo's media id"),
    }


async def _snapshot(owner: TenantHandle, foreign: dict[str, Any]) -> dict[str, Any]:
    client = owner.client
    session = (await client.get(f"/v1/sessions/{foreign['session_id']}")).json()
    messages = (await client.get(f"/v1/sessions/{foreign['session_id']}/messages")).json()
    received = await client.get("/v1/events", params={"type": "message.received"})
    pair_codes = await client.get("/v1/events", params={"type": "session.pair_code"})
    # What the session's contacts saw: a foreign read receipt or presence must not reach them.
    seen = await client.post(f"/v1/sessions/{foreign['session_id']}/sandbox/seen")
    groups = await client.get(f"/v1/sessions/{foreign['session_id']}/groups")
    return {
        "groups": groups.json()["data"],
        "seen": seen.json().get("seen"),
        "status": session["status"],
        "desired_state": session["desired_state"],
        "messages": [m["id"] for m in messages["data"]],
        "received": received.json()["data"],
        "pair_codes": pair_codes.json()["data"],
    }


@pytest.mark.parametrize(("method", "template", "body"), ID_ROUTES)
async def test_foreign_ids_are_404_and_change_nothing(
    tenant: TenantHandle,
    other_tenant: TenantHandle,
    foreign: dict[str, Any],
    method: str,
    template: str,
    body: dict[str, Any] | None,
) -> None:
    before = await _snapshot(other_tenant, foreign)
    response = await tenant.client.request(method, template.format(**foreign), json=body)
    assert_problem(response, 404)
    assert await _snapshot(other_tenant, foreign) == before


async def test_lists_show_only_the_callers_objects(
    tenant: TenantHandle, other_tenant: TenantHandle, foreign: dict[str, Any]
) -> None:
    sessions = (await tenant.client.get("/v1/sessions", params={"limit": 1000})).json()["data"]
    assert foreign["session_id"] not in [s["id"] for s in sessions]
    events = (await tenant.client.get("/v1/events", params={"limit": 1000})).json()["data"]
    assert all(e["tenant_id"] == tenant.id for e in events)

    created = await tenant.client.post("/v1/sessions", json={"name": "mine", "start": False})
    theirs = (await other_tenant.client.get("/v1/sessions", params={"limit": 1000})).json()["data"]
    assert created.json()["id"] not in [s["id"] for s in theirs]

    # The counts too: a tenant's stats are its own sessions, none of the other's.
    own = (await tenant.client.get("/v1/stats")).json()
    assert sum(own["sessions"].values()) == len(sessions) + 1
    assert own["messages_sent_today"] == 0  # the other tenant's message is not counted
