"""Groups end to end: REST API → Redis → worker → sandbox engine, and the events back.

The group events reach a real webhook receiver, verified with ``standardwebhooks``,
and ``/v1/events``; bad input is refused before anything reaches the engine.
"""

from __future__ import annotations

from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.api.flows import assert_problem, create_session
from tests.conftest import TenantHandle
from tests.helpers import is_event, wait_until, ws_receive_until
from tests.sessions import connected_sandbox_session, events_of, wait_for_status
from tests.stack import RelayStack
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from tests.ws.feed import open_feed, subscribe

ALICE, BOB, NOT_ON_WHATSAPP = "4915112345671", "4915112345672", "4915112345670"


def jid(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


async def create_group(client: httpx.AsyncClient, session_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/sessions/{session_id}/groups", json={"subject": "Team", **body})
    assert response.status_code == 201, response.text
    group: dict[str, Any] = response.json()
    return group


async def group_events(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    return [e for e in await events_of(client, session_id) if e["type"].startswith("group.")]


async def test_create_a_group_add_a_participant_and_the_webhook_hears_it(
    tenant: TenantHandle, receiver: Receiver
) -> None:
    client = tenant.client
    endpoint = await create_endpoint(client, receiver.url("groups"), events=["group.participants"])
    session = await connected_sandbox_session(client)
    me = session["jid"]

    group = await create_group(client, session["id"], participants=[f"+{ALICE}", NOT_ON_WHATSAPP])
    assert group["jid"].endswith("@g.us") and group["subject"] == "Team" and group["description"] == ""
    assert group["owner"] == me
    # The number that is not on WhatsApp is left out, as WhatsApp does.
    assert group["participants"] == [
        {"jid": me, "role": "superadmin"},
        {"jid": jid(ALICE), "role": "member"},
    ]

    path = f"/v1/sessions/{session['id']}/groups/{group['jid']}/participants"
    changed = await client.post(path, json={"add": [BOB, NOT_ON_WHATSAPP, ALICE], "promote": [BOB]})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "data": [
            {"jid": jid(BOB), "change": "add", "ok": True, "error": None},
            {"jid": jid(NOT_ON_WHATSAPP), "change": "add", "ok": False, "error": "not on WhatsApp"},
            {"jid": jid(ALICE), "change": "add", "ok": False, "error": "already in the group"},
            {"jid": jid(BOB), "change": "promote", "ok": True, "error": None},
        ]
    }

    first, second = await receiver.wait_for("groups", 2)
    payloads = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in (first, second)]
    payloads.sort(key=lambda payload: payload["seq"])  # deliveries may overtake each other
    assert [p["data"] for p in payloads] == [
        {"jid": group["jid"], "change": "add", "participants": [jid(BOB)], "by": me},
        {"jid": group["jid"], "change": "promote", "participants": [jid(BOB)], "by": me},
    ]
    assert {p["type"] for p in payloads} == {"group.participants"}
    assert {p["session_id"] for p in payloads} == {session["id"]}

    info = await client.get(f"/v1/sessions/{session['id']}/groups/{group['jid']}")
    assert info.status_code == 200, info.text
    assert info.json()["participants"] == [
        {"jid": me, "role": "superadmin"},
        {"jid": jid(ALICE), "role": "member"},
        {"jid": jid(BOB), "role": "admin"},
    ]


async def test_list_rename_describe_invite_and_leave(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    base = f"/v1/sessions/{session['id']}/groups"
    made = [await create_group(client, session["id"], subject=f"Group {n}") for n in range(3)]

    listed = await client.get(base)
    assert listed.status_code == 200, listed.text
    assert [g["jid"] for g in listed.json()["data"]] == sorted(g["jid"] for g in made)
    first_page = (await client.get(base, params={"limit": 2})).json()
    rest = (await client.get(base, params={"limit": 2, "cursor": first_page["next_cursor"]})).json()
    assert [g["jid"] for g in first_page["data"] + rest["data"]] == sorted(g["jid"] for g in made)
    assert rest["next_cursor"] is None

    target = made[0]["jid"]
    renamed = await client.patch(f"{base}/{target}", json={"subject": "Renamed", "description": "Our plans"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["subject"], renamed.json()["description"]) == ("Renamed", "Our plans")

    link = await client.get(f"{base}/{target}/invite-link")
    assert link.status_code == 200, link.text
    assert link.json()["link"].startswith("https://chat.whatsapp.com/")
    assert (await client.get(f"{base}/{target}/invite-link")).json() == link.json()  # the same each time

    left = await client.post(f"{base}/{target}/leave")
    assert left.status_code == 200, left.text
    assert left.json() == {"done": True}
    assert_problem(await client.get(f"{base}/{target}"), 404)
    assert target not in [g["jid"] for g in (await client.get(base)).json()["data"]]

    me = session["jid"]
    events = [(e["type"], e["data"]) for e in await group_events(client, session["id"])]
    assert [t for t, _ in events] == ["group.joined"] * 3 + ["group.updated", "group.participants"]
    assert events[0][1]["by"] == me and events[0][1]["reason"] == "created"
    assert events[3][1] == {"jid": target, "subject": "Renamed", "description": "Our plans", "by": me}
    assert events[4][1] == {"jid": target, "change": "remove", "participants": [me], "by": me}


async def test_someone_else_adds_the_session_to_a_group(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    added = await client.post(
        f"/v1/sessions/{session['id']}/sandbox/join-group",
        json={"from": ALICE, "subject": "Family", "participants": [BOB]},
    )
    assert added.status_code == 202, added.text
    group_jid = added.json()["jid"]

    [joined] = await group_events(client, session["id"])
    assert joined["type"] == "group.joined"
    assert joined["data"]["by"] == jid(ALICE) and joined["data"]["reason"] == "added"
    assert joined["data"]["group"]["participants"] == [
        {"jid": jid(ALICE), "role": "superadmin"},
        {"jid": session["jid"], "role": "member"},
        {"jid": jid(BOB), "role": "member"},
    ]
    # A member, not an admin: WhatsApp refuses participant changes and the invite link.
    base = f"/v1/sessions/{session['id']}/groups/{group_jid}"
    refused = assert_problem(await client.post(f"{base}/participants", json={"remove": [BOB]}), 502)
    assert "not an admin" in refused["detail"]
    assert_problem(await client.get(f"{base}/invite-link"), 502)
    assert len(await group_events(client, session["id"])) == 1


async def test_bad_input_is_422_and_changes_nothing(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    group = await create_group(client, session["id"])
    base = f"/v1/sessions/{session['id']}/groups"
    many = [f"49151123456{n:02d}" for n in range(51)]
    refusals: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", base, {"participants": [ALICE]}, "subject"),
        ("POST", base, {"subject": ""}, "subject"),
        ("POST", base, {"subject": "x" * 101}, "subject"),
        ("POST", base, {"subject": "Team", "participants": ["not a number"]}, "participants"),
        ("POST", base, {"subject": "Team", "participants": many}, "participants"),
        ("PATCH", f"{base}/{group['jid']}", {}, "body"),
        ("PATCH", f"{base}/{group['jid']}", {"description": "x" * 2049}, "description"),
        ("POST", f"{base}/{group['jid']}/participants", {}, "body"),
        ("POST", f"{base}/{group['jid']}/participants", {"add": ["12@lid x"]}, "add"),
        ("POST", f"{base}/{group['jid']}/participants", {"add": many[:30], "remove": many[30:]}, "body"),
        ("POST", f"{base}/{group['jid']}/participants", {"promote": "4915112345671"}, "promote"),
    ]
    for method, path, body, field in refusals:
        assert_problem(await client.request(method, path, json=body), 422, field)
    for params, field in (({"cursor": "garbage"}, "cursor"), ({"limit": "0"}, "limit")):
        assert_problem(await client.get(base, params=params), 422, field)
    # A JID that cannot be a group's names nothing, like a malformed id: 404.
    for malformed in ("not-a-jid", "4915112345671@s.whatsapp.net", "120363@g.us.evil"):
        assert_problem(await client.get(f"{base}/{malformed}"), 404)
    assert_problem(await client.get(f"{base}/120363999999999999@g.us"), 404)  # well formed, unknown

    after = (await client.get(f"{base}/{group['jid']}")).json()
    assert after == group
    assert len((await client.get(base)).json()["data"]) == 1
    assert len(await group_events(client, session["id"])) == 1  # only the create's group.joined


async def test_a_session_that_is_not_connected_is_409_naming_its_status(tenant: TenantHandle) -> None:
    client = tenant.client
    stopped = await create_session(client, engine="sandbox", start=False)
    group = "/v1/sessions/{}/groups/120363000000000001@g.us".format(stopped["id"])
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/v1/sessions/{stopped['id']}/groups", None),
        ("POST", f"/v1/sessions/{stopped['id']}/groups", {"subject": "Team"}),
        ("GET", group, None),
        ("PATCH", group, {"subject": "New"}),
        ("POST", f"{group}/participants", {"add": [ALICE]}),
        ("POST", f"{group}/leave", None),
        ("GET", f"{group}/invite-link", None),
    ]
    for method, path, body in calls:
        problem = assert_problem(await client.request(method, path, json=body), 409)
        assert "session is stopped" in problem["detail"], problem


async def test_sandbox_groups_last_while_the_engine_runs_and_a_drop_keeps_them(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    group = await create_group(client, session["id"])
    dropped = await client.post(f"/v1/sessions/{session['id']}/sandbox/drop", json={"seconds": 1})
    assert dropped.status_code == 202, dropped.text
    await wait_until(
        lambda: _is_back(client, session["id"]), what="the session to reconnect after the drop", timeout=20
    )
    listed = (await client.get(f"/v1/sessions/{session['id']}/groups")).json()["data"]
    assert [g["jid"] for g in listed] == [group["jid"]]

    await client.post(f"/v1/sessions/{session['id']}/stop")
    await wait_for_status(client, session["id"], "stopped")
    await client.post(f"/v1/sessions/{session['id']}/start")
    await wait_for_status(client, session["id"], "connected")
    assert (await client.get(f"/v1/sessions/{session['id']}/groups")).json()["data"] == []


async def _is_back(client: httpx.AsyncClient, session_id: str) -> bool:
    statuses = [e["data"]["status"] for e in await events_of(client, session_id, "session.status")]
    return statuses[-2:] == ["reconnecting", "connected"]


async def test_group_events_reach_the_websocket_feed(stack: RelayStack, tenant: TenantHandle) -> None:
    client = tenant.client
    session = await connected_sandbox_session(client)
    ws = await open_feed(stack.ws_url, tenant.api_key)
    try:
        await subscribe(ws, session["id"])
        group = await create_group(client, session["id"], participants=[ALICE])
        joined = await ws_receive_until(ws, is_event("group.joined"))
        assert joined["event"]["data"]["group"] == group
        patch = await client.patch(
            f"/v1/sessions/{session['id']}/groups/{group['jid']}", json={"description": ""}
        )
        assert patch.status_code == 200, patch.text
        updated = await ws_receive_until(ws, is_event("group.updated"))
        assert updated["event"]["data"] == {
            "jid": group["jid"],
            "subject": None,
            "description": "",
            "by": session["jid"],
        }
    finally:
        await ws.close()
