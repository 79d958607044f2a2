"""Caller-minted event ids: a group published again after its commit is not written twice.

A commit can succeed on the server and its acknowledgement still be lost (the
connection drops after ``COMMIT``); the caller then cannot tell and publishes the
group again. With the ids it minted and ``maybe_committed``, the writer finds
the group in the ledger and answers from there: same envelopes, one copy of
each event, one set of webhook deliveries, and the tenant's seqs go on without a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from relay.core.enums import EventType
from relay.core.events import NewEvent, publish_events
from relay.core.ids import new_id
from relay.core.models import Event
from webhooks.models import Delivery, WebhookEndpoint


def minted(tenant_id: str, label: str) -> NewEvent:
    return NewEvent(
        id=new_id("evt"),
        tenant_id=tenant_id,
        session_id=None,
        type=EventType.MESSAGE_RECEIVED,
        data={"label": label},
    )


@pytest.fixture
async def tenant() -> AsyncIterator[str]:
    """A tenant with one endpoint, so every event also writes a delivery row.

    Events are published without Redis (``None``): nothing announces the deliveries to the
    suite's worker, and they are gone before its sweeper would look (the secret is not one
    it could decrypt: nothing is to be delivered).
    """
    tenant_id = new_id("ten")
    endpoint = await WebhookEndpoint.create(
        id=WebhookEndpoint.make_id(),
        tenant_id=tenant_id,
        url="http://127.0.0.1:9/hook",
        events=["*"],
        encrypted_secret="unused: nothing delivers in this test",
    )
    try:
        yield tenant_id
    finally:
        await Delivery.filter(tenant_id=tenant_id).delete()
        await endpoint.delete()


async def test_a_group_published_again_after_its_commit_is_answered_from_the_ledger(
    pipeline: Redis, tenant: str
) -> None:
    group = [minted(tenant, "a"), minted(tenant, "b")]
    first = await publish_events(None, group)

    again = await publish_events(None, group, maybe_committed=True)

    assert again == first
    assert [e["id"] for e in again] == [new.id for new in group]
    assert await Event.filter(tenant_id=tenant).count() == 2
    assert await Delivery.filter(tenant_id=tenant).count() == 2
    [after] = await publish_events(None, [minted(tenant, "c")])
    assert after["seq"] == 3


async def test_a_retried_group_and_new_groups_in_one_batch_each_get_their_own_answer(
    pipeline: Redis, tenant: str
) -> None:
    retried = [minted(tenant, "r.0"), minted(tenant, "r.1")]
    committed = await publish_events(None, retried)

    fresh = [[minted(tenant, f"{caller}.0")] for caller in range(3)]
    answers = await asyncio.gather(
        publish_events(None, fresh[0]),
        publish_events(None, retried, maybe_committed=True),
        publish_events(None, fresh[1]),
        publish_events(None, fresh[2], maybe_committed=True),  # not committed before: written now
    )

    assert answers[1] == committed
    assert sorted(e["seq"] for answer in (answers[0], answers[2], answers[3]) for e in answer) == [3, 4, 5]
    assert await Event.filter(tenant_id=tenant).count() == 5
    assert await Delivery.filter(tenant_id=tenant).count() == 5


async def test_a_group_whose_ids_are_only_partly_in_the_ledger_is_refused(
    pipeline: Redis, tenant: str
) -> None:
    [kept] = await publish_events(None, [minted(tenant, "kept")])
    reused = NewEvent(
        id=kept["id"], tenant_id=tenant, session_id=None, type=EventType.MESSAGE_RECEIVED, data={}
    )

    with pytest.raises(ValueError, match="some of this group's event ids"):
        await publish_events(None, [reused, minted(tenant, "new")], maybe_committed=True)

    assert await Event.filter(tenant_id=tenant).count() == 1
