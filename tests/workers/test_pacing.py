"""A paced session sends at most ``send_per_minute`` messages a minute, evenly spaced and in order.

Extra sends are accepted at once as ``queued`` and go out in turn; a session's queue is bounded.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from tests.api.flows import assert_problem
from tests.conftest import TenantHandle
from tests.helpers import wait_until
from tests.sessions import events_of, wait_for_status
from tests.workers.private_stack import private_relay

TEXT = {"to": "4915112345678", "type": "text", "text": "paced"}


async def paced_session(client: httpx.AsyncClient, send_per_minute: int | None) -> dict[str, Any]:
    body = {"name": "paced", "engine": "sandbox", "send_per_minute": send_per_minute}
    created = await client.post("/v1/sessions", json=body)
    assert created.status_code == 201, created.text
    session: dict[str, Any] = created.json()
    await wait_for_status(client, session["id"], "qr")
    assert (await client.post(f"/v1/sessions/{session['id']}/sandbox/scan", json={})).status_code == 202
    await wait_for_status(client, session["id"], "connected")
    return session


async def test_paced_sends_are_all_accepted_and_go_out_a_second_apart_in_order(
    tenant: TenantHandle,
) -> None:
    client = tenant.client
    session = await paced_session(client, send_per_minute=60)
    assert session["send_per_minute"] == 60 and session["send_interval_seconds"] == 1.0
    path = f"/v1/sessions/{session['id']}/messages"

    answers = [await client.post(path, json={**TEXT, "text": f"#{n}"}) for n in range(5)]
    assert all(answer.status_code in (201, 202) for answer in answers), [a.text for a in answers]
    # At most the first goes out at once; the rest wait their turn, answered queued without waiting.
    assert [answer.json()["status"] for answer in answers[1:]] == ["queued"] * 4
    ids = [answer.json()["id"] for answer in answers]

    async def all_sent() -> list[dict[str, Any]] | None:
        sent = await events_of(client, session["id"], "message.sent")
        return sent if len(sent) == 5 else None

    sent = await wait_until(all_sent, timeout=30, what="the five paced messages to be sent")
    assert [event["data"]["id"] for event in sent] == ids  # in the order they were accepted
    times = [datetime.fromisoformat(event["data"]["timestamp"]) for event in sent]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    assert all(gap >= 0.95 for gap in gaps), gaps


async def test_pacing_is_set_on_create_and_changed_or_removed_by_patch(tenant: TenantHandle) -> None:
    client = tenant.client
    created = await client.post("/v1/sessions", json={"name": "p", "engine": "sandbox", "start": False})
    session = created.json()
    assert session["send_per_minute"] is None and session["send_interval_seconds"] is None  # default: unpaced

    path = f"/v1/sessions/{session['id']}"
    changed = (await client.patch(path, json={"send_per_minute": 20})).json()
    assert changed["send_per_minute"] == 20 and changed["send_interval_seconds"] == 3.0
    assert (await client.get(path)).json()["send_per_minute"] == 20
    for bad in (0, -1, 6001, 1.5, "20"):
        assert_problem(await client.patch(path, json={"send_per_minute": bad}), 422, "send_per_minute")
    assert (await client.get(path)).json()["send_per_minute"] == 20
    removed = (await client.patch(path, json={"send_per_minute": None})).json()
    assert removed["send_per_minute"] is None and removed["send_interval_seconds"] is None


async def test_a_patch_slows_a_session_from_its_next_message(tenant: TenantHandle) -> None:
    client = tenant.client
    session = await paced_session(client, send_per_minute=6000)
    path = f"/v1/sessions/{session['id']}/messages"
    assert (
        await client.patch(f"/v1/sessions/{session['id']}", json={"send_per_minute": 1})
    ).status_code == 200
    first = await client.post(path, json=TEXT)
    second = await client.post(path, json=TEXT)
    assert first.status_code in (201, 202) and second.status_code == 202
    assert second.json()["status"] == "queued"

    async def first_sent() -> bool:
        return bool((await client.get(f"/v1/messages/{first.json()['id']}")).json()["status"] == "sent")

    await wait_until(first_sent, what="the first message to go out")
    # One a minute: the second still waits its turn.
    assert (await client.get(f"/v1/messages/{second.json()['id']}")).json()["status"] == "queued"


async def test_a_full_send_queue_answers_429_and_keeps_nothing(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    settings = {"RELAY_SEND_QUEUE_LIMIT": "3", "RELAY_SEND_PER_MINUTE": "1"}
    async with private_relay(relay_env, tmp_path, name="send_queue", **settings) as stack:
        client = stack.tenant
        session = await paced_session(client, send_per_minute=None)
        assert session["send_per_minute"] == 1  # RELAY_SEND_PER_MINUTE is the default
        path = f"/v1/sessions/{session['id']}/messages"
        # One goes out at once, three wait their turn: the queue is full.
        for _ in range(4):
            assert (await client.post(path, json=TEXT)).status_code in (201, 202)
        refused = await client.post(path, json=TEXT)
        body = assert_problem(refused, 429)
        assert body["type"] == "https://relay.dev/problems/send-queue-full" and body["limit"] == 3
        assert int(refused.headers["Retry-After"]) == 60
        assert len((await client.get(path)).json()["data"]) == 4
