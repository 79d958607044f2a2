"""Inbound media in an S3 bucket (moto's server on loopback), read through Relay or by a signed URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.media.conftest import MOTO_BUCKET, MotoServer, connected, media_event, send_media
from tests.sessions import events_of
from tests.workers.private_stack import private_relay


@pytest.mark.parametrize("redirect", [False, True], ids=["through-relay", "signed-redirect"])
async def test_an_inbound_image_is_kept_in_s3_and_comes_back_identical(
    relay_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, moto: MotoServer, redirect: bool
) -> None:
    prefix = f"inbound-{'redirect' if redirect else 'direct'}"
    settings = {
        **moto.aws_env(),
        "RELAY_MEDIA_STORE": f"s3://{MOTO_BUCKET}/{prefix}",
        "RELAY_MEDIA_REDIRECT": "true" if redirect else "false",
    }
    tmp_path = tmp_path_factory.mktemp("media-s3")
    async with private_relay(relay_env, tmp_path, name=f"media_s3_{int(redirect)}", **settings) as relay:
        client = relay.tenant
        session_id = await connected(client)
        data = b"\xff\xd8\xff\xe0" + os.urandom(30_000)
        sent = await send_media(client, session_id, "image", data, caption="from s3")
        media_id = sent.media["id"]
        stored = (await media_event(client, session_id, media_id))["data"]["media"]
        assert stored["status"] == "stored" and stored["sha256"] == sent.sha256

        # The object is in the bucket, under the prefix, named by tenant and media id.
        key = f"{prefix}/{sent.received['tenant_id']}/{media_id}"
        head = moto.client().head_object(Bucket=MOTO_BUCKET, Key=key)
        assert head["ContentLength"] == len(data)

        answer = await client.get(sent.media["url"])
        if redirect:
            assert answer.status_code == 307
            location = answer.headers["location"]
            assert location.startswith(f"{moto.endpoint}/{MOTO_BUCKET}/{key}?")
            assert "X-Amz-Signature=" in location
            async with httpx.AsyncClient(timeout=30) as anyone:
                answer = await anyone.get(location)
        else:
            part = await client.get(sent.media["url"], headers={"Range": "bytes=4-13"})
            assert (part.status_code, part.content) == (206, data[4:14])
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(answer.content).hexdigest() == sent.sha256


async def test_while_the_store_is_down_reads_are_503_and_new_media_wait_for_it(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    store = MotoServer(tmp_path)
    store.start()
    try:
        settings = {**store.aws_env(), "RELAY_MEDIA_STORE": f"s3://{MOTO_BUCKET}/outage"}
        async with private_relay(relay_env, tmp_path, name="media_s3_outage", **settings) as relay:
            client = relay.tenant
            session_id = await connected(client)
            before = await send_media(client, session_id, "image", os.urandom(2_000))
            await media_event(client, session_id, before.media["id"])

            store.stop()
            refused = await client.get(before.media["url"])
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "5"
            assert refused.json()["detail"].startswith("the media store is unavailable (")

            # Received meanwhile: the worker tries the store a few times, then leaves it pending.
            during = await send_media(client, session_id, "image", os.urandom(3_000))
            log = tmp_path / "logs"

            async def gave_up() -> bool:
                text = "".join(path.read_text() for path in log.glob("*worker*"))
                return f"media {during.media['id']} not stored, the store is unavailable" in text

            await wait_until(gave_up, timeout=30, interval=0.2, what="the worker to give the store up")
            media_events = await events_of(client, session_id, "message.media")
            assert during.media["id"] not in {event["data"]["media"]["id"] for event in media_events}

            # The store is back (empty: moto keeps nothing); the first GET fetches and stores it.
            store.start()
            answer = await client.get(during.media["url"])
            assert answer.status_code == 200, answer.text
            assert hashlib.sha256(answer.content).hexdigest() == during.sha256
            stored = (await media_event(client, session_id, during.media["id"]))["data"]["media"]
            assert stored["status"] == "stored"
    finally:
        store.stop()


async def test_media_left_pending_are_fetched_when_the_session_connects_again(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    """Eager downloads never leave a media to a GET: a reconnect fetches what the store refused."""
    store = MotoServer(tmp_path)
    store.start()
    try:
        settings = {**store.aws_env(), "RELAY_MEDIA_STORE": f"s3://{MOTO_BUCKET}/reconnect"}
        async with private_relay(relay_env, tmp_path, name="media_s3_reconnect", **settings) as relay:
            client = relay.tenant
            session_id = await connected(client)
            store.stop()
            during = await send_media(client, session_id, "image", os.urandom(3_000))
            log = tmp_path / "logs"

            async def gave_up() -> bool:
                text = "".join(path.read_text() for path in log.glob("*worker*"))
                return f"media {during.media['id']} not stored, the store is unavailable" in text

            await wait_until(gave_up, timeout=30, interval=0.2, what="the worker to give the store up")

            # The store is back; nobody asks for the media, but the session reconnects.
            store.start()
            dropped = await client.post(f"/v1/sessions/{session_id}/sandbox/drop", json={"seconds": 1})
            assert dropped.status_code == 202, dropped.text
            stored = (await media_event(client, session_id, during.media["id"]))["data"]["media"]
            assert stored["status"] == "stored"
            assert stored["sha256"] == during.sha256
            key = f"reconnect/{during.received['tenant_id']}/{during.media['id']}"
            assert store.client().head_object(Bucket=MOTO_BUCKET, Key=key)["ContentLength"] == 3_000
    finally:
        store.stop()
