"""Inbound media on the default store (a directory under the data dir), downloads eager.

A sandbox contact sends files; the tests read them back the way an integrator
does: from the ``media.url`` in the webhook, with the tenant's key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.helpers import is_event, wait_until, ws_receive_until
from tests.media.conftest import (
    age_media,
    connected,
    media_event,
    send_media,
    stored_file,
)
from tests.webhooks.receiver import Receiver
from tests.workers.private_stack import PrivateRelay, private_relay
from tests.ws.feed import open_feed, subscribe

# Small, so a file past it fits in a sandbox request body.
MAX_BYTES = 60_000


@pytest.fixture(scope="module")
async def relay(
    relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PrivateRelay]:
    tmp_path = tmp_path_factory.mktemp("media-files")
    async with private_relay(
        relay_env, tmp_path, name="media_files", RELAY_MEDIA_MAX_BYTES=str(MAX_BYTES)
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def session_id(relay: PrivateRelay) -> str:
    return await connected(relay.tenant)


def picture(size: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + os.urandom(size - 8)


async def test_an_inbound_image_comes_back_from_its_url_byte_for_byte(
    relay: PrivateRelay, session_id: str, receiver: Receiver
) -> None:
    client = relay.tenant
    hook = await client.post("/v1/webhooks", json={"url": receiver.url("hook"), "events": ["*"]})
    assert hook.status_code == 201, hook.text

    key = client.headers["Authorization"].removeprefix("Bearer ")
    feed = await open_feed(relay.relay.ws_url, key)
    try:
        await subscribe(feed, session_id)
        sent = await send_media(
            client,
            session_id,
            "image",
            picture(20_000),
            mimetype="image/png",
            filename="cat.png",
            caption="look",
        )
        on_feed = await ws_receive_until(
            feed, is_event("message.media", whatsapp_id=sent.received["data"]["whatsapp_id"])
        )
    finally:
        await feed.close()
    received = sent.received["data"]
    assert received["type"] == "image" and received["text"] == "look"
    media = sent.media
    assert media["status"] == "pending" and media["sha256"] is None
    assert media["url"] == f"/v1/media/{media['id']}"
    assert (media["mimetype"], media["size"], media["filename"]) == ("image/png", 20_000, "cat.png")
    assert "reference" not in media  # what the engine needs to fetch it stays on the row

    stored = (await media_event(client, session_id, media["id"]))["data"]
    assert stored["whatsapp_id"] == received["whatsapp_id"]
    assert stored["media"]["status"] == "stored"
    assert stored["media"]["sha256"] == sent.sha256
    assert stored["media"]["size"] == 20_000
    assert on_feed["event"] == (await media_event(client, session_id, media["id"]))

    answer = await client.get(media["url"])
    assert answer.status_code == 200, answer.text
    assert hashlib.sha256(answer.content).hexdigest() == sent.sha256
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["content-disposition"] == 'inline; filename="cat.png"'
    assert answer.headers["etag"] == f'"{sent.sha256}"'
    assert answer.headers["accept-ranges"] == "bytes"
    tenant_id = sent.received["tenant_id"]
    assert stored_file(Path(relay.relay.env["RELAY_DATA_DIR"]), tenant_id, media["id"]).is_file()

    # The webhook gets both events, signed.
    secret = Webhook(hook.json()["secret"])

    async def media_delivered() -> dict[str, Any] | None:
        for request in receiver.at("hook"):
            payload = secret.verify(request.body, request.headers)
            if payload["type"] == "message.media":
                return payload  # type: ignore[no-any-return]
        return None

    delivered = await wait_until(media_delivered, timeout=20, what="message.media on the webhook")
    assert delivered["data"]["media"] == stored["media"]


async def test_ranges_etag_and_another_tenant(relay: PrivateRelay, session_id: str) -> None:
    client = relay.tenant
    sent = await send_media(client, session_id, "document", picture(5_000), mimetype="application/pdf")
    url = sent.media["url"]
    await media_event(client, session_id, sent.media["id"])

    first = await client.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.content == sent.data[:100]
    assert first.headers["content-range"] == "bytes 0-99/5000"
    tail = await client.get(url, headers={"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, sent.data[-10:])
    assert tail.headers["content-range"] == "bytes 4990-4999/5000"
    rest = await client.get(url, headers={"Range": "bytes=4000-"})
    assert (rest.status_code, rest.content) == (206, sent.data[4000:])
    past = await client.get(url, headers={"Range": "bytes=5000-"})
    assert past.status_code == 416
    assert past.headers["content-type"] == "application/problem+json"
    # A range this server does not serve (several at once) gets the whole file.
    several = await client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert (several.status_code, several.content) == (200, sent.data)
    backwards = await client.get(url, headers={"Range": "bytes=9-3"})
    assert (backwards.status_code, backwards.content) == (200, sent.data)

    # A document without a name is called after its id and type.
    whole = await client.get(url)
    assert whole.headers["content-disposition"] == f'inline; filename="{sent.media["id"]}.pdf"'
    again = await client.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = await client.head(url)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == "5000" and head.headers["etag"] == whole.headers["etag"]

    # Another tenant's key: the id does not exist for it.
    admin = {"Authorization": f"Bearer {relay.relay.admin_token}"}
    async with httpx.AsyncClient(base_url=relay.relay.base_url, headers=admin, timeout=30) as admin_client:
        other = (await admin_client.post("/v1/tenants", json={"name": "other"})).json()
        key = (await admin_client.post(f"/v1/tenants/{other['id']}/api-keys", json={})).json()["key"]
    foreign = await relay.anonymous.get(url, headers={"Authorization": f"Bearer {key}"})
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "application/problem+json"
    unknown = await client.get("/v1/media/med_01J00000000000000000000000")
    assert unknown.status_code == 404
    no_key = await relay.anonymous.get(url)
    assert no_key.status_code == 401


async def test_voice_notes_video_and_documents_keep_their_facts(relay: PrivateRelay, session_id: str) -> None:
    client = relay.tenant
    voice = await send_media(client, session_id, "audio", os.urandom(3_000), ptt=True)
    assert voice.media["ptt"] is True
    assert voice.media["mimetype"] == "audio/ogg; codecs=opus"
    song = await send_media(client, session_id, "audio", os.urandom(3_000), mimetype="audio/mpeg")
    assert song.media["ptt"] is False
    clip = await send_media(client, session_id, "video", os.urandom(4_000), caption="clip")
    assert clip.received["data"]["text"] == "clip"
    report = await send_media(client, session_id, "document", os.urandom(1_000), filename="Q3 report é.pdf")
    assert report.media["filename"] == "Q3 report é.pdf"
    for sent in (voice, song, clip, report):
        event = await media_event(client, session_id, sent.media["id"])
        assert event["data"]["media"]["status"] == "stored"
        answer = await client.get(sent.media["url"])
        assert answer.content == sent.data
    named = await client.get(report.media["url"])
    assert named.headers["content-disposition"] == "inline; filename*=utf-8''Q3%20report%20%C3%A9.pdf"


async def test_a_file_past_the_size_limit_is_unavailable(relay: PrivateRelay, session_id: str) -> None:
    client = relay.tenant
    sent = await send_media(client, session_id, "document", os.urandom(MAX_BYTES + 1), filename="big.bin")
    media = sent.media
    assert media["status"] == "unavailable"
    assert f"RELAY_MEDIA_MAX_BYTES={MAX_BYTES}" in media["error"]
    answer = await client.get(media["url"])
    assert answer.status_code == 409
    assert "RELAY_MEDIA_MAX_BYTES" in answer.json()["detail"]
    tenant_id = sent.received["tenant_id"]
    assert not stored_file(Path(relay.relay.env["RELAY_DATA_DIR"]), tenant_id, media["id"]).exists()


async def test_after_retention_the_sweeper_removes_the_bytes_and_the_url_says_gone(
    relay: PrivateRelay, session_id: str
) -> None:
    client = relay.tenant
    sent = await send_media(client, session_id, "image", picture(2_000))
    media_id = sent.media["id"]
    await media_event(client, session_id, media_id)
    path = stored_file(Path(relay.relay.env["RELAY_DATA_DIR"]), sent.received["tenant_id"], media_id)
    assert path.is_file()

    await age_media(relay.relay.env["DATABASE_URL"], media_id)

    async def gone() -> httpx.Response | None:
        answer = await client.get(sent.media["url"])
        return answer if answer.status_code == 410 else None

    answer = await wait_until(gone, timeout=60, interval=0.5, what="the sweeper to remove the media")
    assert answer.headers["content-type"] == "application/problem+json"
    assert "retention" in answer.json()["detail"]
    assert not path.exists()
