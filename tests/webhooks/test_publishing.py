"""How webhook delivery joins the event pipeline: ``webhooks.outbox.install`` registers a step of
``publish_event``, and an event commits together with its deliveries or not at all."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from redis.asyncio import Redis
from tortoise.backends.base.client import BaseDBAsyncClient

from relay.core.enums import EventType
from relay.core.events import configure_publishing, publish_event
from relay.core.models import Event
from tests.conftest import TenantHandle
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from webhooks import outbox
from webhooks.models import Delivery


async def test_an_event_published_after_install_has_its_deliveries_when_publish_returns(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    first = await create_endpoint(tenant.client, receiver.url("first"))
    second = await create_endpoint(tenant.client, receiver.url("second"))

    envelope = await publish_event(
        ledger, tenant_id=tenant.id, session_id=None, type=EventType.MESSAGE_RECEIVED, data={"text": "hi"}
    )

    rows = await Delivery.filter(event_id=envelope["id"]).values_list("endpoint_id", flat=True)
    assert sorted(rows) == sorted([first["id"], second["id"]])
    await receiver.wait_for("first", 1)
    await receiver.wait_for("second", 1)


async def test_deliveries_roll_back_with_the_event_they_belong_to(
    tenant: TenantHandle, receiver: Receiver, ledger: Redis
) -> None:
    await create_endpoint(tenant.client, receiver.url("never"))
    seen_inside: dict[str, Any] = {}

    async def fail_after_the_deliveries(
        envelopes: Sequence[dict[str, Any]], connection: BaseDBAsyncClient
    ) -> None:
        seen_inside["event_id"] = envelopes[0]["id"]
        inside = Delivery.filter(event_id=envelopes[0]["id"]).using_db(connection)
        seen_inside["deliveries"] = await inside.count()
        raise RuntimeError("a later step failed")

    configure_publishing([outbox.record_deliveries, fail_after_the_deliveries])
    try:
        with pytest.raises(RuntimeError, match="a later step failed"):
            await publish_event(
                ledger, tenant_id=tenant.id, session_id=None, type=EventType.MESSAGE_RECEIVED, data={}
            )
    finally:
        outbox.install()

    # The delivery row existed inside the transaction, and went with it.
    assert seen_inside["deliveries"] == 1
    assert not await Event.exists(id=seen_inside["event_id"])
    assert not await Delivery.exists(event_id=seen_inside["event_id"])


def test_publishing_is_refused_until_start_up_names_the_steps() -> None:
    """A fresh process that never called ``install`` (nor ``configure_publishing``) cannot publish."""
    script = """
import asyncio
from relay.core.enums import EventType
from relay.core.events import publish_event

try:
    asyncio.run(
        publish_event(None, tenant_id="ten_x", session_id=None, type=EventType.MESSAGE_RECEIVED, data={})
    )
except RuntimeError as exc:
    print(exc)
else:
    print("published")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "the event pipeline is not configured" in result.stdout, result.stdout + result.stderr
