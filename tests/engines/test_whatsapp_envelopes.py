"""Events fed through neonize's trampoline reach the ledger, the WebSocket feed and a webhook.

The engine runs in the test process with the worker's own ``SessionReporter``, holding a
real lease on a session of the running stack, so its reports take exactly the path a
worker's do: fenced session updates, the ledger, the Redis feed, webhook deliveries.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from neonize.proto.Neonize_pb2 import (
    JID,
    Connected,
    Device,
    MessageInfo,
    MessageSource,
    Receipt,
)
from neonize.proto.Neonize_pb2 import Message as NeonizeMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ImageMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from redis.asyncio import Redis

from tests.conftest import TenantHandle
from tests.engines.conftest import LiveEngine, make_context, start_fed_engine
from tests.helpers import is_event, wait_until, ws_receive_until
from tests.sessions import events_of, session_status
from tests.stack import RelayStack
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from tests.ws.feed import open_feed, subscribe
from workers.database_watch import DatabaseWatch
from workers.handoff import SessionHandoff
from workers.journal import Journal
from workers.lease import acquire_lease
from workers.reporter import SessionReporter

ME = JID(User="15550100031", Server="s.whatsapp.net", Device=4)
CONTACT = JID(User="15550100032", Server="s.whatsapp.net")


@pytest.fixture
async def fed_session(
    stack: RelayStack,
    tenant: TenantHandle,
    ledger: Redis,
    tmp_path: Path,
) -> AsyncIterator[tuple[str, LiveEngine]]:
    created = await tenant.client.post(
        "/v1/sessions", json={"name": "fed", "engine": "whatsapp", "start": False}
    )
    assert created.status_code == 201, created.text
    session = created.json()
    lease = await acquire_lease(ledger, session["id"], "engine-tests", ttl_seconds=300)
    assert lease is not None
    journal = Journal(tmp_path / "journal", "engine-tests")
    await journal.open()
    handoff = SessionHandoff(
        session_id=session["id"],
        redis=ledger,
        journal=journal,
        watch=DatabaseWatch(),
        on_lease_lost=lambda: None,
    )
    handoff.start()
    reporter = SessionReporter(
        handoff=handoff, tenant_id=tenant.id, session_id=session["id"], lease=lease, status=session["status"]
    )
    context = make_context(tmp_path, session_id=session["id"], tenant_id=tenant.id)
    live = await start_fed_engine(context, reporter)
    try:
        yield session["id"], live
    finally:
        await live.engine.stop()
        await asyncio.wait_for(live.task, 10)
        await handoff.flush()
        await handoff.close()
        await journal.close()
        await lease.release(ledger)


async def test_fed_events_reach_ledger_feed_and_webhook(
    stack: RelayStack, tenant: TenantHandle, fed_session: tuple[str, LiveEngine], receiver: Receiver
) -> None:
    session_id, live = fed_session
    client = tenant.client
    await create_endpoint(client, receiver.url("/hook"), session_ids=[session_id])
    feed = await open_feed(stack.ws_url, tenant.api_key)
    try:
        await subscribe(feed, session_id)

        # A QR code: the current one is served by the API, and announced as session.qr.
        await live.feed_qr(b"2@fed,noise,identity,adv")
        frame = await ws_receive_until(feed, is_event("session.qr", qr="2@fed,noise,identity,adv"))
        assert frame["event"]["session_id"] == session_id
        qr = (await client.get(f"/v1/sessions/{session_id}/qr")).json()
        assert qr["qr"] == "2@fed,noise,identity,adv" and qr["expires_at"].endswith("Z")

        # The phone scans: connected, with the phone and JID on the session.
        await live.feed(Device(JID=ME), Connected(status=True))
        await ws_receive_until(feed, is_event("session.status", status="connected"))
        session = await session_status(client, session_id)
        assert (session["status"], session["phone"], session["jid"]) == (
            "connected",
            "15550100031",
            "15550100031:4@s.whatsapp.net",
        )

        # A contact sends a photo; later reads our message.
        source = MessageSource(Chat=CONTACT, Sender=CONTACT)
        info = MessageInfo(ID="3EB0FEED", Timestamp=1_790_000_000_000, Pushname="Bo", MessageSource=source)
        photo = ImageMessage(mimetype="image/jpeg", fileLength=1234, caption="look")
        await live.feed(NeonizeMessage(Info=info, Message=WAMessage(imageMessage=photo)))
        received = await ws_receive_until(feed, is_event("message.received", whatsapp_id="3EB0FEED"))
        await live.feed(
            Receipt(MessageSource=source, MessageIDs=["3EB0MINE"], Timestamp=1_790_000_000, Type=Receipt.READ)
        )
        acked = await ws_receive_until(feed, is_event("message.ack", status="read"))
    finally:
        await feed.close()

    # This engine reports straight to the SessionReporter; a worker's MediaReporter would swap the
    # reference for the media row's id and URL (tests/media/test_whatsapp_media.py).
    media = dict(received["event"]["data"]["media"])
    assert media.pop("reference")
    assert media == {"type": "image", "mimetype": "image/jpeg", "size": 1234, "caption": "look"}
    assert acked["event"]["data"]["whatsapp_ids"] == ["3EB0MINE"]

    # The ledger holds the same envelopes, in the order the engine reported them.
    ledger_events = await events_of(client, session_id)
    types = [e["type"] for e in ledger_events]
    assert types.index("session.qr") < types.index("message.received") < types.index("message.ack")
    by_id = {e["id"]: e for e in ledger_events}
    assert by_id[received["event"]["id"]] == received["event"]

    # And the webhook receiver got them, signed, with the event id as webhook-id.
    async def delivered() -> bool:
        ids = {r.event_id for r in receiver.at("/hook")}
        return received["event"]["id"] in ids and acked["event"]["id"] in ids

    await wait_until(delivered, timeout=20, what="the webhook deliveries")
    hook = next(r for r in receiver.at("/hook") if r.event_id == received["event"]["id"])
    assert json.loads(hook.body) == received["event"]
    assert hook.headers["webhook-signature"].startswith("v1,")
