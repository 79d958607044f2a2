"""``RELAY_MEDIA_DOWNLOAD``: ``lazy`` fetches on the first GET, ``off`` keeps no bytes at all."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from tests.media.conftest import connected, media_event, send_media
from tests.sessions import events_of, wait_for_status
from tests.workers.private_stack import private_relay


async def test_lazy_media_is_fetched_on_the_first_get(
    relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp_path = tmp_path_factory.mktemp("media-lazy")
    async with private_relay(relay_env, tmp_path, name="media_lazy", RELAY_MEDIA_DOWNLOAD="lazy") as relay:
        client = relay.tenant
        session_id = await connected(client)
        sent = await send_media(client, session_id, "image", os.urandom(8_000), mimetype="image/webp")
        assert sent.media["status"] == "pending"
        # Nothing is fetched until someone asks (the eager fetch would have stored it by now).
        await asyncio.sleep(1.0)
        assert await events_of(client, session_id, "message.media") == []

        answer = await client.get(sent.media["url"])
        assert answer.status_code == 200, answer.text
        assert hashlib.sha256(answer.content).hexdigest() == sent.sha256
        assert answer.headers["content-type"] == "image/webp"
        stored = (await media_event(client, session_id, sent.media["id"]))["data"]["media"]
        assert stored["status"] == "stored" and stored["sha256"] == sent.sha256

        # A stopped session cannot fetch: the answer says so instead of waiting.
        later = await send_media(client, session_id, "image", os.urandom(100))
        stopped = await client.post(f"/v1/sessions/{session_id}/stop")
        assert stopped.status_code == 202, stopped.text
        await wait_for_status(client, session_id, "stopped")
        refused = await client.get(later.media["url"])
        assert refused.status_code == 409
        assert "not fetched yet" in refused.json()["detail"]


async def test_off_keeps_no_bytes_and_says_so(
    relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp_path = tmp_path_factory.mktemp("media-off")
    async with private_relay(relay_env, tmp_path, name="media_off", RELAY_MEDIA_DOWNLOAD="off") as relay:
        client = relay.tenant
        session_id = await connected(client)
        sent = await send_media(client, session_id, "document", os.urandom(500), filename="a.txt")
        media = sent.media
        assert media["status"] == "unavailable"
        assert media["error"] == "media downloads are off on this Relay (RELAY_MEDIA_DOWNLOAD=off)"
        assert media["id"] is None and media["url"] is None and media["sha256"] is None
        # What WhatsApp said about the file is still there.
        assert (media["size"], media["filename"]) == (500, "a.txt")
        # Nothing kept anywhere: not in the store, not by the sandbox's phone.
        for folder in ("media", "sandbox-media"):
            assert [p for p in (tmp_path / "data" / folder).rglob("*") if p.is_file()] == []
