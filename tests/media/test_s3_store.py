"""Inbound media in an S3 bucket (moto's server on loopback), read through Relay or by a signed URL."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from tests.media.conftest import MOTO_BUCKET, MotoServer, connected, media_event, send_media
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
