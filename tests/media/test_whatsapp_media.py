"""The real engine's side of inbound media, offline: neonize's own protobufs through its callbacks.

whatsmeow downloads media only over a live login (``directPath`` plus a ``media_conn``
query on the websocket), so the fetch cannot succeed here. What is shown: each media
message is described from its protobuf (voice notes flagged ``ptt``, a document's name),
the reference the worker keeps rebuilds the message whatsmeow needs (without its
thumbnail), and when neonize's ``download_any`` raises ``DownloadError`` the media
becomes ``unavailable`` with whatsmeow's words, on the ledger and at its URL.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from neonize.proto.Neonize_pb2 import JID, Connected, Device, MessageInfo, MessageSource
from neonize.proto.Neonize_pb2 import Message as NeonizeMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    DocumentMessage,
    ImageMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from redis.asyncio import Redis

from tests.conftest import TenantHandle
from tests.engines.conftest import LiveEngine, RecordingReporter, make_context, start_fed_engine
from tests.helpers import wait_until
from tests.media.conftest import media_event
from tests.sessions import events_of
from tests.stack import RelayStack
from workers.database_watch import DatabaseWatch
from workers.engines.base import Engine, EngineError
from workers.engines.whatsapp.media_download import WHATSAPP_MESSAGE
from workers.handoff import SessionHandoff
from workers.journal import Journal
from workers.lease import acquire_lease
from workers.media_fetch import MediaFetcher
from workers.media_reporter import MediaReporter
from workers.reporter import SessionReporter

ME = JID(User="15550100041", Server="s.whatsapp.net", Device=2)
CONTACT = JID(User="15550100042", Server="s.whatsapp.net")
# What a real media message carries besides its description: where and how to fetch it.
FETCH_FIELDS: dict[str, Any] = {
    "directPath": "/v/t62.7118-24/12345_67890_n.enc?ccb=11-4",
    "mediaKey": b"k" * 32,
    "fileSHA256": b"s" * 32,
    "fileEncSHA256": b"e" * 32,
}


def incoming(content: WAMessage, message_id: str) -> NeonizeMessage:
    source = MessageSource(Chat=CONTACT, Sender=CONTACT)
    info = MessageInfo(ID=message_id, Timestamp=1_790_000_000_000, Pushname="Bo", MessageSource=source)
    return NeonizeMessage(Info=info, Message=content)


async def connect(live: LiveEngine) -> None:
    await live.feed(Device(JID=ME), Connected(status=True))


def fetchable(kind: type[Any], **description: Any) -> Any:
    return kind(**description, **FETCH_FIELDS)


CASES = [
    (
        "imageMessage",
        WAMessage(
            imageMessage=fetchable(ImageMessage, mimetype="image/jpeg", fileLength=2048, JPEGThumbnail=b"t")
        ),
        {"type": "image", "mimetype": "image/jpeg", "size": 2048},
    ),
    (
        "audioMessage",
        WAMessage(audioMessage=fetchable(AudioMessage, mimetype="audio/ogg", fileLength=10, PTT=True)),
        {"type": "audio", "ptt": True, "size": 10},
    ),
    (
        "documentMessage",
        WAMessage(documentMessage=fetchable(DocumentMessage, mimetype="application/pdf", fileName="a.pdf")),
        {"type": "document", "filename": "a.pdf"},
    ),
    (
        "videoMessage",
        WAMessage(videoMessage=fetchable(VideoMessage, mimetype="video/mp4", fileLength=99)),
        {"type": "video", "mimetype": "video/mp4"},
    ),
    (
        "stickerMessage",
        WAMessage(stickerMessage=fetchable(StickerMessage, mimetype="image/webp", fileLength=7)),
        {"type": "sticker", "mimetype": "image/webp"},
    ),
]


@pytest.mark.parametrize(("field", "content", "expected"), CASES, ids=[case[0] for case in CASES])
async def test_media_messages_are_described_with_what_whatsmeow_needs_to_fetch_them(
    tmp_path: Path, field: str, content: WAMessage, expected: dict[str, Any]
) -> None:
    live = await start_fed_engine(make_context(tmp_path))
    try:
        await connect(live)
        await live.feed(incoming(content, "3EB0MEDIA"))
        reporter: RecordingReporter = live.reporter
        (data,) = await reporter.wait_for(lambda r: r.of("message_received"))
        media = data["media"]
        for key, value in expected.items():
            assert media[key] == value, key
        kept = WAMessage.FromString(base64.b64decode(media["reference"][WHATSAPP_MESSAGE]))
        original, rebuilt = getattr(content, field), getattr(kept, field)
        for name, value in FETCH_FIELDS.items():
            assert getattr(rebuilt, name) == value, name
        assert rebuilt.mimetype == original.mimetype
        if field == "imageMessage":
            assert not rebuilt.JPEGThumbnail  # the preview stays out of the media row

        # whatsmeow cannot fetch without a live login: neonize's DownloadError, in whatsmeow's words.
        with pytest.raises(EngineError, match=r"^WhatsApp did not hand over the media: "):
            await live.engine.download_media(media["reference"], tmp_path / "media.bin")
    finally:
        await live.engine.stop()
        await asyncio.wait_for(live.task, 10)


@pytest.fixture
async def fed_session(
    stack: RelayStack, tenant: TenantHandle, ledger: Redis, tmp_path: Path
) -> AsyncIterator[tuple[str, LiveEngine]]:
    """A real WhatsApp engine in the test process, reporting as a worker does (media included)."""
    created = await tenant.client.post(
        "/v1/sessions", json={"name": "fed", "engine": "whatsapp", "start": False}
    )
    assert created.status_code == 201, created.text
    session = created.json()
    lease = await acquire_lease(ledger, session["id"], "media-tests", ttl_seconds=300)
    assert lease is not None
    journal = Journal(tmp_path / "journal", "media-tests")
    await journal.open()
    watch = DatabaseWatch()
    handoff = SessionHandoff(
        session_id=session["id"], redis=ledger, journal=journal, watch=watch, on_lease_lost=lambda: None
    )
    handoff.start()
    reporter = SessionReporter(
        handoff=handoff, tenant_id=tenant.id, session_id=session["id"], lease=lease, status=session["status"]
    )
    context = make_context(tmp_path, session_id=session["id"], tenant_id=tenant.id)
    engines: list[Engine] = []

    async def engine() -> Engine:
        return engines[0]

    fetcher = MediaFetcher(
        settings=context.settings,
        tenant_id=tenant.id,
        session_id=session["id"],
        reporter=reporter,
        engine=engine,
        watch=watch,
    )
    live = await start_fed_engine(context, MediaReporter(reporter, fetcher))
    engines.append(live.engine)
    try:
        yield session["id"], live
    finally:
        await fetcher.close()
        await live.engine.stop()
        await asyncio.wait_for(live.task, 10)
        await handoff.flush()
        await handoff.close()
        await journal.close()
        await lease.release(ledger)


async def test_a_photo_whatsapp_will_not_hand_over_is_unavailable_with_its_reason(
    tenant: TenantHandle, fed_session: tuple[str, LiveEngine]
) -> None:
    session_id, live = fed_session
    client = tenant.client
    await connect(live)
    photo = ImageMessage(mimetype="image/jpeg", fileLength=1234, caption="look", **FETCH_FIELDS)
    await live.feed(incoming(WAMessage(imageMessage=photo), "3EB0PHOTO"))

    async def received() -> list[dict[str, Any]]:
        return await events_of(client, session_id, "message.received")

    (event,) = await wait_until(received, what="message.received")
    media = event["data"]["media"]
    assert media["status"] == "pending" and media["url"] == f"/v1/media/{media['id']}"
    assert "reference" not in media

    failed = (await media_event(client, session_id, media["id"]))["data"]["media"]
    assert failed["status"] == "unavailable"
    assert failed["error"].startswith("WhatsApp did not hand over the media: ")
    answer = await client.get(media["url"])
    assert answer.status_code == 409
    assert answer.json()["detail"] == f"the media is unavailable: {failed['error']}"
