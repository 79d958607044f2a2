"""A message's ``media.url`` is fetched behind the SSRF guard, by both engines.

Every test serves the "media" from a real HTTP server on loopback, the kind of
address a tenant must not be able to reach through Relay, and counts what it
received: a refusal is only a refusal if no request left.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from neonize.proto.Neonize_pb2 import JID, Connected, Device

from tests.conftest import TenantHandle
from tests.engines.conftest import LiveEngine, RecordingReporter, make_context, running, start_fed_engine
from tests.helpers import wait_until
from tests.sessions import connected_sandbox_session, events_of
from tests.webhooks.receiver import Receiver, Reply
from workers.engines.base import EngineError, OutgoingMessage
from workers.engines.media import fetch_media
from workers.engines.sandbox import SandboxEngine

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def media_server() -> AsyncIterator[Receiver]:
    server = Receiver(default=Reply(body=PNG))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def image(url: str) -> OutgoingMessage:
    return OutgoingMessage(id="msg_1", to="15550100002", type="image", payload={"media": {"url": url}})


async def connected_whatsapp_engine(tmp_path: Path, **settings: bool) -> LiveEngine:
    """A real WhatsApp engine told it is connected through neonize's own callback path."""
    live = await start_fed_engine(make_context(tmp_path, **settings))
    await live.feed(Device(JID=JID(User="15550100001", Server="s.whatsapp.net")), Connected(status=True))
    await live.reporter.wait_for(lambda r: "connected" in r.statuses())
    return live


async def test_a_sandbox_send_to_a_loopback_media_url_fails_with_the_reason(
    tenant: TenantHandle, media_server: Receiver
) -> None:
    """The test stack runs with the default RELAY_MEDIA_ALLOW_PRIVATE=false, as production does."""
    session = await connected_sandbox_session(tenant.client)
    sent = await tenant.client.post(
        f"/v1/sessions/{session['id']}/messages",
        json={"to": "15550100002", "type": "image", "media": {"url": media_server.url("/secret.png")}},
    )
    assert sent.status_code in (201, 202), sent.text

    async def failed() -> list[dict[str, object]]:
        return await events_of(tenant.client, session["id"], "message.failed")

    (event,) = await wait_until(failed, what="message.failed")
    assert event["data"]["id"] == sent.json()["id"]
    assert "refused" in event["data"]["error"] and "non-public" in event["data"]["error"]
    message = (await tenant.client.get(f"/v1/messages/{sent.json()['id']}")).json()
    assert message["status"] == "failed" and message["error"] == event["data"]["error"]
    assert media_server.received == []


async def test_the_sandbox_fetches_private_media_when_allowed(tmp_path: Path, media_server: Receiver) -> None:
    reporter = RecordingReporter()
    context = make_context(tmp_path, jid="15550100001@s.whatsapp.net", media_allow_private=True)
    engine = SandboxEngine(context, reporter)
    async with running(engine):
        await reporter.wait_for(lambda r: "connected" in r.statuses())
        receipt = await engine.send(image(media_server.url("/dot.png")))
        assert receipt.whatsapp_id
        assert [r.path for r in media_server.received] == ["/dot.png"]


async def test_the_whatsapp_engine_refuses_a_loopback_media_url_before_any_request(
    tmp_path: Path, media_server: Receiver
) -> None:
    live = await connected_whatsapp_engine(tmp_path)
    try:
        with pytest.raises(EngineError) as refused:
            await live.engine.send(image(media_server.url("/secret.png")))
        assert "refused" in str(refused.value) and "non-public" in str(refused.value)
        assert media_server.received == []
    finally:
        await live.engine.stop()
        await asyncio.wait_for(live.task, 10)


async def test_a_whatsapp_engine_allowed_private_media_fetches_it(
    tmp_path: Path, media_server: Receiver
) -> None:
    live = await connected_whatsapp_engine(tmp_path, media_allow_private=True)
    try:
        # Fetched, then the upload is refused by the Go core, which has no network client here.
        with pytest.raises(EngineError) as refused:
            await live.engine.send(image(media_server.url("/dot.png")))
        assert "refused" not in str(refused.value)
        assert [r.path for r in media_server.received] == ["/dot.png"]
    finally:
        await live.engine.stop()
        await asyncio.wait_for(live.task, 10)


async def test_every_redirect_hop_is_checked_before_it_is_requested(media_server: Receiver) -> None:
    """Even with private addresses allowed, a hop that fails the shape check is never requested."""
    target = f"http://user:pw@127.0.0.1:{media_server.port}/stolen"
    media_server.script("/moved", Reply(status=302, headers={"location": target}))
    with pytest.raises(EngineError) as refused:
        await fetch_media(media_server.url("/moved"), allow_private=True)
    assert "redirects to" in str(refused.value) and "credentials" in str(refused.value)
    assert [r.path for r in media_server.received] == ["/moved"]


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:10.0.0.1]/x", "http://localhost:9/x"],
)
async def test_metadata_private_and_local_hosts_are_refused(url: str) -> None:
    with pytest.raises(EngineError, match="refused"):
        await fetch_media(url, allow_private=False)


async def test_a_redirect_chain_that_ends_on_the_file_is_followed(media_server: Receiver) -> None:
    media_server.script("/a", Reply(status=301, headers={"location": "/b"}))
    media_server.script("/b", Reply(status=307, headers={"location": media_server.url("/dot.png")}))
    assert await fetch_media(media_server.url("/a"), allow_private=True) == PNG
    assert [r.path for r in media_server.received] == ["/a", "/b", "/dot.png"]
