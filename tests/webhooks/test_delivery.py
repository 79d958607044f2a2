"""Deliveries end to end: real worker, real receiver, signatures checked by `standardwebhooks`.

The shared stack runs with RELAY_WEBHOOK_RETRY_SCHEDULE=0,1,2 (three attempts)
and RELAY_WEBHOOK_TIMEOUT=2.
"""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis
from standardwebhooks import Webhook

from tests.conftest import TenantHandle
from tests.webhooks.conftest import create_endpoint, deliveries, publish, settled_delivery
from tests.webhooks.receiver import Receiver, Reply


async def test_test_event_is_signed_and_verifiable(tenant: TenantHandle, receiver: Receiver) -> None:
    endpoint = await create_endpoint(tenant.client, receiver.url("hook"), events=["message.received"])
    assert endpoint["secret"].startswith("whsec_")
    response = await tenant.client.post(f"/v1/webhooks/{endpoint['id']}/test")
    assert response.status_code == 202, response.text
    event = response.json()["event"]

    [request] = await receiver.wait_for("hook", 1)
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload == event
    assert payload["type"] == "webhook.test"
    assert request.headers["webhook-id"] == event["id"]
    assert request.headers["content-type"] == "application/json"

    delivery = await settled_delivery(tenant.client, response.json()["delivery"]["id"], "succeeded")
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["trigger"] == "scheduled"
    assert attempt["response_excerpt"] == "ok" and attempt["error"] is None


async def test_retries_500_timeout_and_refused_then_succeeds(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("flaky", Reply(500, body="boom"), Reply(200, delay=3), Reply(200))
    endpoint = await create_endpoint(tenant.client, receiver.url("flaky"))
    [event_id] = await publish(ledger, tenant.id)

    requests = await receiver.wait_for("flaky", 3, timeout=20)
    assert {r.event_id for r in requests} == {event_id}
    secret = Webhook(endpoint["secret"])
    for request in requests:
        secret.verify(request.body, request.headers)
    # Re-signed at each attempt, same body, same id.
    assert len({r.body for r in requests}) == 1
    assert requests[1].at - requests[0].at >= 0.7  # schedule 1 s, -20% jitter

    [delivery] = await deliveries(tenant.client, endpoint["id"])
    delivery = await settled_delivery(tenant.client, delivery["id"], "succeeded")
    first, second, third = delivery["attempt_log"]
    assert first["status_code"] == 500 and first["response_excerpt"] == "boom"
    assert second["status_code"] is None and "timeout" in second["error"]
    assert second["duration_ms"] >= 1900
    assert third["status_code"] == 200
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200


async def test_connection_refused_then_receiver_comes_up(tenant: TenantHandle, ledger: Redis) -> None:
    late = Receiver()  # its port is reserved but nothing listens yet
    endpoint = await create_endpoint(tenant.client, late.url("late"))
    await publish(ledger, tenant.id)
    [delivery] = await deliveries(tenant.client, endpoint["id"])

    async def first_attempt_failed() -> bool:
        current = (await tenant.client.get(f"/v1/deliveries/{delivery['id']}")).json()
        return current["attempts"] >= 1

    from tests.helpers import wait_until

    await wait_until(first_attempt_failed, what="a refused first attempt")
    await late.start()
    try:
        done = await settled_delivery(tenant.client, delivery["id"], "succeeded")
    finally:
        await late.stop()
    assert done["attempt_log"][0]["status_code"] is None
    assert "connect" in done["attempt_log"][0]["error"]
    assert done["attempt_log"][-1]["status_code"] == 200


async def test_retry_after_is_honoured(tenant: TenantHandle, receiver: Receiver, ledger: Redis) -> None:
    receiver.script("busy", Reply(429, headers={"Retry-After": "3"}), Reply(200))
    await create_endpoint(tenant.client, receiver.url("busy"))
    await publish(ledger, tenant.id)
    first, second = await receiver.wait_for("busy", 2, timeout=20)
    assert second.at - first.at >= 2.9  # the schedule alone would retry after ~1 s


async def test_redirects_are_failures_and_not_followed(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("moved", then=Reply(307, headers={"Location": receiver.url("elsewhere")}))
    endpoint = await create_endpoint(tenant.client, receiver.url("moved"))
    await publish(ledger, tenant.id)
    [delivery] = await deliveries(tenant.client, endpoint["id"])
    failed = await settled_delivery(tenant.client, delivery["id"], "failed")
    assert [a["status_code"] for a in failed["attempt_log"]] == [307, 307, 307]
    assert receiver.at("elsewhere") == []


async def test_exhausted_then_manual_retry_delivers(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("down", Reply(503), Reply(503), Reply(503), then=Reply(200))
    endpoint = await create_endpoint(tenant.client, receiver.url("down"))
    await publish(ledger, tenant.id)
    [delivery] = await deliveries(tenant.client, endpoint["id"])
    failed = await settled_delivery(tenant.client, delivery["id"], "failed")
    assert failed["attempts"] == 3 and failed["next_attempt_at"] is None
    assert await deliveries(tenant.client, endpoint["id"], status="failed") == [failed]

    response = await tenant.client.post(f"/v1/deliveries/{delivery['id']}/retry")
    assert response.status_code == 202, response.text
    done = await settled_delivery(tenant.client, delivery["id"], "succeeded")
    assert [a["trigger"] for a in done["attempt_log"]] == ["scheduled"] * 3 + ["manual"]
    assert done["attempts"] == 4


async def test_gone_disables_the_endpoint_and_tells_the_tenant(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    receiver.script("gone", then=Reply(410))
    watcher = await create_endpoint(
        tenant.client, receiver.url("watcher"), events=["webhook.endpoint_disabled"]
    )
    endpoint = await create_endpoint(tenant.client, receiver.url("gone"))
    await publish(ledger, tenant.id)
    [notice] = await receiver.wait_for("watcher", 1)
    data = Webhook(watcher["secret"]).verify(notice.body, notice.headers)["data"]
    assert data["endpoint_id"] == endpoint["id"] and "410" in data["reason"]

    current = (await tenant.client.get(f"/v1/webhooks/{endpoint['id']}")).json()
    assert current["enabled"] is False and "410" in current["disabled_reason"]
    assert len(receiver.at("gone")) == 1  # no retry after 410
    [delivery] = await deliveries(tenant.client, endpoint["id"])
    assert delivery["status"] == "failed"
    events = (await tenant.client.get("/v1/events", params={"type": "webhook.endpoint_disabled"})).json()
    assert [e["data"]["endpoint_id"] for e in events["data"]] == [endpoint["id"]]
    # Events published while disabled are not delivered to it.
    await publish(ledger, tenant.id)
    assert len(await deliveries(tenant.client, endpoint["id"])) == 1


async def test_filters_by_event_type_and_session(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    sessions = []
    for name in ("one", "two"):
        created = await tenant.client.post(
            "/v1/sessions", json={"name": name, "engine": "sandbox", "start": False}
        )
        sessions.append(created.json()["id"])
    acks = await create_endpoint(tenant.client, receiver.url("acks"), events=["message.ack"])
    only_one = await create_endpoint(tenant.client, receiver.url("one"), session_ids=[sessions[0]])
    everything = await create_endpoint(tenant.client, receiver.url("all"))

    await publish(ledger, tenant.id, type="message.received", session_id=sessions[0])
    await publish(ledger, tenant.id, type="message.ack", session_id=sessions[1])
    await publish(ledger, tenant.id, type="message.ack", session_id=sessions[0])

    every = await receiver.wait_for("all", 3)
    await receiver.wait_for("one", 2)
    await receiver.wait_for("acks", 2)
    types = {r.event_id: json.loads(r.body) for r in every}
    assert {types[r.event_id]["session_id"] for r in receiver.at("one")} == {sessions[0]}
    assert {types[r.event_id]["type"] for r in receiver.at("acks")} == {"message.ack"}
    assert len(await deliveries(tenant.client, acks["id"])) == 2
    assert len(await deliveries(tenant.client, only_one["id"])) == 2
    assert len(await deliveries(tenant.client, everything["id"])) == 3


async def test_rotation_grace_sends_both_signatures(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    endpoint = await create_endpoint(tenant.client, receiver.url("rotating"))
    rotated = (await tenant.client.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret")).json()
    assert rotated["secret"] != endpoint["secret"] and rotated["secret"].startswith("whsec_")
    assert rotated["previous_secret_expires_at"] is not None

    await publish(ledger, tenant.id)
    [request] = await receiver.wait_for("rotating", 1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    # A receiver holding either secret accepts the message.
    Webhook(endpoint["secret"]).verify(request.body, request.headers)
    Webhook(rotated["secret"]).verify(request.body, request.headers)

    # Without a grace period the old secret stops at once.
    final = (
        await tenant.client.post(
            f"/v1/webhooks/{endpoint['id']}/rotate-secret", json={"grace_period_seconds": 0}
        )
    ).json()
    await asyncio.sleep(1.1)  # workers cache endpoint rows for up to a second
    await publish(ledger, tenant.id)
    [_, later] = await receiver.wait_for("rotating", 2)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(final["secret"]).verify(later.body, later.headers)
