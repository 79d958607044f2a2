"""Outgoing messages → WhatsApp protobufs, and media fetched with a size cap."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workers.engines.base import EngineError
from workers.engines.whatsapp import outbound

ALICE = outbound.parse_recipient("15550100002")
GROUP = outbound.parse_recipient("120363000000000001@g.us")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("15550100002", "15550100002@s.whatsapp.net"),
        ("+1 555 010 0002", "15550100002@s.whatsapp.net"),
        ("120363000000000001@g.us", "120363000000000001@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
    ],
)
def test_recipients_are_numbers_or_jids(to: str, expected: str) -> None:
    jid = outbound.parse_recipient(to)
    assert f"{jid.User}@{jid.Server}" == expected


@pytest.mark.parametrize("to", ["", "hello", "12", "@g.us"])
def test_nonsense_recipients_are_refused(to: str) -> None:
    with pytest.raises(EngineError, match="invalid recipient"):
        outbound.parse_recipient(to)


def test_plain_text_carries_no_link_preview() -> None:
    message = outbound.build_text({"text": "see https://example.org"}, ALICE, outbound.RecentMessages())
    assert message.conversation == "see https://example.org"
    assert not message.HasField("extendedTextMessage")


def test_a_reply_quotes_what_this_session_saw() -> None:
    recent = outbound.RecentMessages()
    recent.remember(
        "3EB0Q",
        outbound.KnownMessage("15550100002@s.whatsapp.net", "15550100002@s.whatsapp.net", False, "question?"),
    )
    message = outbound.build_text({"text": "answer", "reply_to": "3EB0Q"}, ALICE, recent)
    context = message.extendedTextMessage.contextInfo
    assert message.extendedTextMessage.text == "answer"
    assert context.stanzaID == "3EB0Q"
    assert context.participant == "15550100002@s.whatsapp.net"
    assert context.quotedMessage.conversation == "question?"


def test_a_reply_to_an_unknown_message_still_points_at_it() -> None:
    message = outbound.build_text({"text": "answer", "reply_to": "3EB0X"}, ALICE, outbound.RecentMessages())
    assert message.extendedTextMessage.contextInfo.stanzaID == "3EB0X"


def test_a_reaction_addresses_the_message_and_its_author() -> None:
    recent = outbound.RecentMessages()
    recent.remember(
        "3EB0G", outbound.KnownMessage("120363000000000001@g.us", "15550100002@s.whatsapp.net", False, "hi")
    )
    message = outbound.build_reaction({"message_id": "3EB0G", "emoji": "🎉"}, GROUP, recent, now_ms=1)
    key = message.reactionMessage.key
    assert message.reactionMessage.text == "🎉"
    assert (key.ID, key.remoteJID, key.fromMe, key.participant) == (
        "3EB0G", "120363000000000001@g.us", False, "15550100002@s.whatsapp.net",
    )  # fmt: skip


def test_a_location_is_validated() -> None:
    message = outbound.build_location({"latitude": 52.52, "longitude": 13.405, "name": "Berlin"})
    assert message.locationMessage.degreesLatitude == 52.52 and message.locationMessage.name == "Berlin"
    with pytest.raises(EngineError):
        outbound.build_location({"latitude": 91, "longitude": 0})
    with pytest.raises(EngineError):
        outbound.build_location({"latitude": "north"})


def test_recent_messages_are_bounded() -> None:
    recent = outbound.RecentMessages(limit=3)
    for index in range(5):
        recent.remember(str(index), outbound.KnownMessage("c", "s", False, ""))
    assert recent.get("0") is None and recent.get("4") is not None


async def test_base64_media_is_decoded_and_sniffed() -> None:
    data = await outbound.load_media({"base64": base64.b64encode(PNG).decode()})
    assert data == PNG
    assert outbound.sniff_mimetype(data) == "image/png"


async def test_oversized_or_broken_base64_is_refused() -> None:
    with pytest.raises(EngineError, match="larger than"):
        await outbound.load_media({"base64": base64.b64encode(b"x" * 2048).decode()}, limit=1024)
    with pytest.raises(EngineError, match="not valid base64"):
        await outbound.load_media({"base64": "***"})
    with pytest.raises(EngineError):
        await outbound.load_media({"path": "/etc/passwd"})


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/big":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the cap must hold while streaming
            self.wfile.write(b"x" * 4096)
            return
        if self.path == "/missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def file_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_media_urls_are_fetched_with_a_size_cap(file_server: str) -> None:
    # The file server is on loopback, which only RELAY_MEDIA_ALLOW_PRIVATE lets through.
    assert await outbound.load_media({"url": f"{file_server}/dot.png"}, allow_private=True) == PNG
    with pytest.raises(EngineError, match="larger than"):
        await outbound.load_media({"url": f"{file_server}/big"}, allow_private=True, limit=1024)
    with pytest.raises(EngineError, match="HTTP 404"):
        await outbound.load_media({"url": f"{file_server}/missing"}, allow_private=True)
    with pytest.raises(EngineError, match="http"):
        await outbound.load_media({"url": "file:///etc/passwd"})
