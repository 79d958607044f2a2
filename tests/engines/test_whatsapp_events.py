"""neonize's own protobufs, through its real callback trampoline, into what the engine reports."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from neonize.proto.Neonize_pb2 import (
    JID,
    ClientOutdated,
    Connected,
    ConnectFailure,
    ConnectFailureReason,
    Device,
    Disconnected,
    HistorySync,
    KeepAliveRestored,
    KeepAliveTimeout,
    LoggedOut,
    MessageInfo,
    MessageSource,
    OfflineSyncCompleted,
    OfflineSyncPreview,
    PairStatus,
    Receipt,
    StreamError,
    StreamReplaced,
    TemporaryBan,
)
from neonize.proto.Neonize_pb2 import Message as NeonizeMessage
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ContactsArrayMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    ImageMessage,
    LocationMessage,
    ProtocolMessage,
    ReactionMessage,
    StickerMessage,
    VideoMessage,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from tests.engines.conftest import LiveEngine, feed, make_context, start_fed_engine
from workers.engines.base import QR_TIMEOUT_REASON, EngineError, OutgoingMessage
from workers.engines.whatsapp.backoff import ReconnectPolicy

ME = JID(User="15550100001", Server="s.whatsapp.net", Device=7)
ALICE = JID(User="15550100002", Server="s.whatsapp.net")
ALICE_LID = JID(User="123456789012345", Server="lid")
GROUP = JID(User="120363000000000001", Server="g.us")
SENT_AT_MS = 1_790_000_000_123

MESSAGE_KEYS = {
    "whatsapp_id", "chat", "from", "from_me", "push_name", "timestamp", "type", "text",
    "is_group", "media", "quoted_id", "reaction", "location", "contacts", "group",
    "from_pn", "from_lid", "offline",
}  # fmt: skip
ACK_KEYS = {"whatsapp_ids", "chat", "status", "timestamp"}


def inbound(
    content: WAMessage,
    *,
    message_id: str = "3EB0AAAA",
    chat: JID = ALICE,
    sender: JID = ALICE,
    sender_alt: JID | None = None,
    is_group: bool = False,
    from_me: bool = False,
    timestamp_ms: int = SENT_AT_MS,
) -> NeonizeMessage:
    source = MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me, IsGroup=is_group)
    if sender_alt is not None:
        source.SenderAlt.CopyFrom(sender_alt)
    info = MessageInfo(ID=message_id, Timestamp=timestamp_ms, Pushname="Alice", MessageSource=source)
    return NeonizeMessage(Info=info, Message=content)


async def connect(live: LiveEngine) -> None:
    """The events whatsmeow sends when a stored device connects: Device (code 0), then Connected."""
    await live.feed(Device(JID=ME, PushName="Relay"), Connected(status=True))
    await live.reporter.wait_for(lambda r: "connected" in r.statuses())


async def test_each_qr_code_is_reported_with_its_lifetime(live: LiveEngine) -> None:
    await live.feed_qr(b"2@first,noise,identity,adv")
    await live.feed_qr(b"2@second,noise,identity,adv")
    codes = await live.reporter.wait_for(lambda r: len(r.of("qr")) == 2 and r.of("qr"))
    assert [c["code"] for c in codes] == ["2@first,noise,identity,adv", "2@second,noise,identity,adv"]
    now = datetime.now(UTC)
    assert timedelta(seconds=55) < codes[0]["expires_at"] - now <= timedelta(seconds=60)
    assert timedelta(seconds=15) < codes[1]["expires_at"] - now <= timedelta(seconds=20)
    assert live.reporter.statuses() == ["starting", "qr"]
    assert live.reporter.of("status")[1]["reason"] == "waiting for a scan"


async def test_qr_window_closing_without_a_scan_stops_the_session(live: LiveEngine) -> None:
    await live.feed_qr(b"2@only,noise,identity,adv")
    await live.feed_login_status(b"timeout")
    await asyncio.wait_for(live.task, 5)  # run() returns: the runner settles desired_state
    last = live.reporter.of("status")[-1]
    assert last == {"status": "stopped", "reason": QR_TIMEOUT_REASON, "phone": None, "jid": None}


async def test_a_scan_links_the_device_and_reports_phone_and_jid(live: LiveEngine) -> None:
    await live.feed_qr(b"2@code,noise,identity,adv")
    await live.feed(PairStatus(ID=ME, Status=PairStatus.SUCCESS, Platform="android"))
    await live.feed_login_status(b"success")
    await connect(live)
    connected = live.reporter.of("status")[-1]
    assert connected == {
        "status": "connected",
        "reason": "linked by scanning the QR code",
        "phone": "15550100001",
        "jid": "15550100001:7@s.whatsapp.net",
    }
    assert live.engine.connected


async def test_resuming_stored_credentials_reports_connected_without_a_qr(live: LiveEngine) -> None:
    await connect(live)
    assert live.reporter.statuses() == ["starting", "connected"]
    assert live.reporter.of("status")[-1]["reason"] == "resumed with stored credentials"
    assert not live.reporter.of("qr")


async def test_pair_phone_waits_for_the_first_qr_then_asks_the_core(live: LiveEngine) -> None:
    await live.feed_qr(b"2@code,noise,identity,adv")
    # The Go core is not connected to WhatsApp here, so it refuses; its reason reaches the caller.
    with pytest.raises(EngineError, match="pairing code"):
        await live.engine.pair_phone("+1 555 010 0001")


async def test_pair_phone_on_a_linked_session_is_refused(live: LiveEngine) -> None:
    await connect(live)
    with pytest.raises(EngineError, match="already linked"):
        await live.engine.pair_phone("15550100001")


@pytest.mark.parametrize(
    ("event", "status", "reason_part"),
    [
        (LoggedOut(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT), "logged_out", "unlinked"),
        (
            LoggedOut(OnConnect=True, Reason=ConnectFailureReason.MAIN_DEVICE_GONE),
            "logged_out",
            "refused at connect",
        ),
        (StreamReplaced(), "failed", "stream_replaced"),
        (
            TemporaryBan(Code=TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600),
            "failed",
            "temporary_ban: send_to_too_many_people",
        ),
        (ConnectFailure(Reason=ConnectFailureReason.LOGGED_OUT), "logged_out", "unlinked"),
        (
            ConnectFailure(Reason=ConnectFailureReason.TEMP_BANNED, Message="banned"),
            "failed",
            "temporary_ban",
        ),
        (ConnectFailure(Reason=ConnectFailureReason.CLIENT_OUTDATED), "failed", "client_outdated"),
        (ClientOutdated(), "failed", "client_outdated"),
    ],
)
async def test_terminal_events_end_the_run_with_a_reason(
    live: LiveEngine, event: Any, status: str, reason_part: str
) -> None:
    await connect(live)
    store = live.engine._store.path
    store.write_bytes(b"whatsmeow store")
    await live.feed(event)
    await asyncio.wait_for(live.task, 5)
    last = live.reporter.of("status")[-1]
    assert last["status"] == status and reason_part in last["reason"]
    assert not live.engine.connected
    # A logout erases the credentials (whatsmeow already deleted the device; we drop the file).
    assert store.exists() == (status != "logged_out")


@pytest.mark.parametrize(
    ("event", "reason_part"),
    [
        (Disconnected(status=True), "connection lost"),
        (KeepAliveTimeout(ErrorCount=3, LastSuccess=1_790_000_000), "keepalive timeout"),
        (StreamError(Code="503"), "stream_error: code 503"),
    ],
)
async def test_drops_report_reconnecting_while_whatsmeow_reconnects(
    live: LiveEngine, event: Any, reason_part: str
) -> None:
    await connect(live)
    await live.feed(event)
    last = await live.reporter.wait_for(lambda r: r.statuses()[-1] == "reconnecting" and r.of("status")[-1])
    assert reason_part in last["reason"]
    assert not live.engine.connected
    await live.feed(Connected(status=True))
    back = await live.reporter.wait_for(lambda r: r.statuses()[-1] == "connected" and r.of("status")[-1])
    assert back["reason"] == "reconnected"
    assert live.engine.connected and not live.task.done()


async def test_keepalive_restored_reports_connected_again(live: LiveEngine) -> None:
    await connect(live)
    await live.feed(KeepAliveTimeout(ErrorCount=1, LastSuccess=1_790_000_000), KeepAliveRestored())
    await live.reporter.wait_for(lambda r: r.statuses()[-2:] == ["reconnecting", "connected"])
    assert live.reporter.of("status")[-1]["reason"] == "keepalive restored"
    assert live.engine.connected


async def test_no_reconnect_within_the_grace_period_starts_a_new_connection(tmp_path: Path) -> None:
    policy = ReconnectPolicy(reconnect_grace=0.2, preflight=False, initial=0.01, jitter=0)
    live = await start_fed_engine(make_context(tmp_path), policy=policy)
    try:
        await connect(live)
        await live.feed(Disconnected(status=True))
        await live.reporter.wait_for(lambda r: len(live.clients) == 2)
        reasons = [s["reason"] for s in live.reporter.of("status")]
        assert any("no reconnect within 0.2s" in (reason or "") for reason in reasons)
    finally:
        await live.engine.stop()
        await asyncio.wait_for(live.task, 5)


async def test_a_retryable_connect_failure_starts_a_new_connection(tmp_path: Path) -> None:
    policy = ReconnectPolicy(preflight=False, initial=0.01, jitter=0)
    live = await start_fed_engine(make_context(tmp_path), policy=policy)
    try:
        await live.feed(ConnectFailure(Reason=ConnectFailureReason.SERVICE_UNAVAILABLE, Message="503"))
        await live.reporter.wait_for(lambda r: len(live.clients) == 2)
        failure = live.reporter.of("status")[-1]
        assert failure["status"] == "reconnecting"
        assert failure["reason"] == "connect_failure: service_unavailable (503)"
    finally:
        await live.engine.stop()
        await asyncio.wait_for(live.task, 5)


def _media_cases() -> list[tuple[str, WAMessage, dict[str, Any]]]:
    quoted = ContextInfo(stanzaID="3EB0QUOTED", participant="15550100001@s.whatsapp.net")
    return [
        ("text", WAMessage(conversation="hello"), {"type": "text", "text": "hello"}),
        (
            "extended text with a reply",
            WAMessage(extendedTextMessage=ExtendedTextMessage(text="re: hi", contextInfo=quoted)),
            {"type": "text", "text": "re: hi", "quoted_id": "3EB0QUOTED"},
        ),
        (
            "image with caption",
            WAMessage(imageMessage=ImageMessage(mimetype="image/jpeg", fileLength=2048, caption="look")),
            {
                "type": "image",
                "text": "look",
                "media": {"type": "image", "mimetype": "image/jpeg", "size": 2048, "caption": "look"},
            },
        ),
        (
            "video",
            WAMessage(videoMessage=VideoMessage(mimetype="video/mp4", fileLength=99, caption="clip")),
            {
                "type": "video",
                "media": {"type": "video", "mimetype": "video/mp4", "size": 99, "caption": "clip"},
            },
        ),
        (
            "voice note",
            WAMessage(audioMessage=AudioMessage(mimetype="audio/ogg; codecs=opus", fileLength=10, PTT=True)),
            {
                "type": "audio",
                "text": "",
                "media": {
                    "type": "audio",
                    "mimetype": "audio/ogg; codecs=opus",
                    "size": 10,
                    "caption": "",
                    "ptt": True,
                },
            },
        ),
        (
            "document",
            WAMessage(
                documentMessage=DocumentMessage(
                    mimetype="application/pdf", fileLength=5, fileName="a.pdf", caption="doc"
                )
            ),
            {
                "type": "document",
                "media": {
                    "type": "document",
                    "mimetype": "application/pdf",
                    "size": 5,
                    "caption": "doc",
                    "filename": "a.pdf",
                },
            },
        ),
        (
            "sticker",
            WAMessage(stickerMessage=StickerMessage(mimetype="image/webp", fileLength=7)),
            {
                "type": "sticker",
                "media": {"type": "sticker", "mimetype": "image/webp", "size": 7, "caption": ""},
            },
        ),
        (
            "location",
            WAMessage(
                locationMessage=LocationMessage(
                    degreesLatitude=52.52, degreesLongitude=13.405, name="Berlin", address="Mitte"
                )
            ),
            {
                "type": "location",
                "text": "Berlin",
                "location": {
                    "latitude": 52.52,
                    "longitude": 13.405,
                    "name": "Berlin",
                    "address": "Mitte",
                    "live": False,
                },
            },
        ),
        (
            "contact",
            WAMessage(contactMessage=ContactMessage(displayName="Bob", vcard="BEGIN:VCARD\nEND:VCARD")),
            {"type": "contact", "contacts": [{"name": "Bob", "vcard": "BEGIN:VCARD\nEND:VCARD"}]},
        ),
        (
            "contacts",
            WAMessage(
                contactsArrayMessage=ContactsArrayMessage(
                    displayName="2 contacts",
                    contacts=[
                        ContactMessage(displayName="A", vcard="v1"),
                        ContactMessage(displayName="B", vcard="v2"),
                    ],
                )
            ),
            {"type": "contact", "contacts": [{"name": "A", "vcard": "v1"}, {"name": "B", "vcard": "v2"}]},
        ),
        (
            "reaction",
            WAMessage(
                reactionMessage=ReactionMessage(
                    key=MessageKey(ID="3EB0TARGET", remoteJID="x@s.whatsapp.net"), text="👍"
                )
            ),
            {"type": "reaction", "reaction": {"emoji": "👍", "message_id": "3EB0TARGET"}},
        ),
        (
            "ephemeral wrapper",
            WAMessage(ephemeralMessage={"message": WAMessage(conversation="vanishing")}),
            {"type": "text", "text": "vanishing"},
        ),
    ]


@pytest.mark.parametrize(("label", "content", "expected"), _media_cases(), ids=[c[0] for c in _media_cases()])
async def test_every_message_type_reaches_message_received(
    live: LiveEngine, label: str, content: WAMessage, expected: dict[str, Any]
) -> None:
    await connect(live)
    await live.feed(inbound(content))
    (data,) = await live.reporter.wait_for(lambda r: r.of("message_received"))
    assert set(data) <= MESSAGE_KEYS
    if "media" in data:
        # What the worker needs to fetch the bytes later; tests/engines/test_whatsapp_media.py reads it.
        assert data["media"].pop("reference")
    for key, value in expected.items():
        assert data[key] == value, key
    assert data["whatsapp_id"] == "3EB0AAAA"
    assert data["chat"] == data["from"] == data["from_pn"] == "15550100002@s.whatsapp.net"
    assert data["timestamp"] == "2026-09-21T14:13:20.123Z"  # milliseconds, not seconds
    assert data["from_me"] is False and data["is_group"] is False
    assert data["push_name"] == "Alice"


async def test_group_message_names_the_group_and_its_participant_by_number_and_lid(live: LiveEngine) -> None:
    await connect(live)
    message = inbound(
        WAMessage(conversation="hi all"), chat=GROUP, sender=ALICE_LID, sender_alt=ALICE, is_group=True
    )
    await live.feed(message)
    (data,) = await live.reporter.wait_for(lambda r: r.of("message_received"))
    assert data["is_group"] is True
    assert data["chat"] == "120363000000000001@g.us"
    assert data["from"] == data["from_pn"] == "15550100002@s.whatsapp.net"
    assert data["from_lid"] == "123456789012345@lid"
    assert data["group"] == {"id": "120363000000000001@g.us", "participant": "15550100002@s.whatsapp.net"}


async def test_protocol_traffic_is_not_a_message(live: LiveEngine) -> None:
    await connect(live)
    await live.feed(inbound(WAMessage(protocolMessage=ProtocolMessage(type=ProtocolMessage.REVOKE))))
    await live.feed(inbound(WAMessage(conversation="after"), message_id="3EB0AFTER"))
    (data,) = await live.reporter.wait_for(lambda r: r.of("message_received"))
    assert data["whatsapp_id"] == "3EB0AFTER"


@pytest.mark.parametrize(
    ("receipt_type", "status"),
    [(Receipt.DELIVERED, "delivered"), (Receipt.READ, "read"), (Receipt.PLAYED, "played")],
)
async def test_receipts_become_acks(live: LiveEngine, receipt_type: int, status: str) -> None:
    await connect(live)
    source = MessageSource(Chat=ALICE, Sender=ALICE)
    await live.feed(
        Receipt(
            MessageSource=source, MessageIDs=["3EB01", "3EB02"], Timestamp=1_790_000_000, Type=receipt_type
        )
    )
    (data,) = await live.reporter.wait_for(lambda r: r.of("message_ack"))
    assert set(data) == ACK_KEYS
    assert data == {
        "whatsapp_ids": ["3EB01", "3EB02"],
        "chat": "15550100002@s.whatsapp.net",
        "status": status,
        "timestamp": "2026-09-21T14:13:20.000Z",  # seconds, not milliseconds
    }


async def test_own_device_receipts_are_not_acks(live: LiveEngine) -> None:
    await connect(live)
    source = MessageSource(Chat=ALICE, Sender=ME)
    await live.feed(Receipt(MessageSource=source, MessageIDs=["3EB01"], Timestamp=1, Type=Receipt.READ_SELF))
    await live.feed(Receipt(MessageSource=source, MessageIDs=["3EB02"], Timestamp=1, Type=Receipt.READ))
    acks = await live.reporter.wait_for(lambda r: r.of("message_ack"))
    assert [a["whatsapp_ids"] for a in acks] == [["3EB02"]]


async def test_history_sync_is_not_forwarded(live: LiveEngine) -> None:
    await connect(live)
    await live.feed(HistorySync())
    await live.feed(inbound(WAMessage(conversation="live"), message_id="3EB0LIVE"))
    (data,) = await live.reporter.wait_for(lambda r: r.of("message_received"))
    assert data["whatsapp_id"] == "3EB0LIVE" and "offline" not in data


async def test_offline_catch_up_marks_missed_messages_drops_old_ones_then_says_synced(
    live: LiveEngine,
) -> None:
    await connect(live)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    await live.feed(
        OfflineSyncPreview(Total=2, Message=2),
        inbound(
            WAMessage(conversation="a week old"), message_id="3EB0OLD", timestamp_ms=now_ms - 7 * 86_400_000
        ),
        inbound(WAMessage(conversation="missed"), message_id="3EB0MISSED", timestamp_ms=now_ms - 60_000),
        OfflineSyncCompleted(Count=2),
        inbound(WAMessage(conversation="live"), message_id="3EB0LIVE", timestamp_ms=now_ms),
    )
    received = await live.reporter.wait_for(
        lambda r: len(r.of("message_received")) == 2 and r.of("message_received")
    )
    assert [(m["whatsapp_id"], m.get("offline")) for m in received] == [
        ("3EB0MISSED", True),
        ("3EB0LIVE", None),
    ]
    # session.synced comes after the last offline message and before the first live one.
    kinds = [(name, data.get("whatsapp_id") or data.get("count")) for name, data in live.reporter.calls]
    caught_up = kinds[kinds.index(("message_received", "3EB0MISSED")) :]
    assert caught_up[:3] == [
        ("message_received", "3EB0MISSED"),
        ("synced", 2),
        ("message_received", "3EB0LIVE"),
    ]


async def test_events_keep_their_order(live: LiveEngine) -> None:
    await connect(live)
    ids = [f"3EB0{i:04d}" for i in range(60)]

    def burst() -> None:  # one Go thread delivering a burst, as whatsmeow does after a reconnect
        for message_id in ids:
            feed(live.client, inbound(WAMessage(conversation=message_id), message_id=message_id))

    await asyncio.to_thread(burst)
    received = await live.reporter.wait_for(
        lambda r: len(r.of("message_received")) == 60 and r.of("message_received")
    )
    assert [m["whatsapp_id"] for m in received] == ids


async def test_a_failing_report_is_logged_and_later_events_still_flow(
    live: LiveEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await connect(live)
    original = live.reporter.message_received
    calls = 0

    async def flaky(data: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("ledger unavailable")
        await original(data)

    live.reporter.message_received = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="relay.whatsapp"):
        await live.feed(inbound(WAMessage(conversation="lost"), message_id="3EB0LOST"))
        await live.feed(inbound(WAMessage(conversation="kept"), message_id="3EB0KEPT"))
        (data,) = await live.reporter.wait_for(lambda r: r.of("message_received"))
    assert data["whatsapp_id"] == "3EB0KEPT"
    assert "ledger unavailable" in caplog.text


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("text", {"text": "hello"}),
        ("location", {"latitude": 1.5, "longitude": 2.5}),
        ("image", {"media": {"base64": "iVBORw0KGgo="}, "mimetype": "image/png", "caption": "x"}),
    ],
)
async def test_sending_goes_through_the_core_and_its_refusal_is_the_error(
    live: LiveEngine, kind: str, payload: dict[str, Any]
) -> None:
    # "Connected" only through the trampoline: the Go core has no such client, so it refuses,
    # and its reason is what message.failed will carry.
    await connect(live)
    with pytest.raises(EngineError) as refused:
        await live.engine.send(OutgoingMessage(id="msg_1", to="15550100002", type=kind, payload=payload))
    assert "client is nil" in str(refused.value)  # neonize's words, verbatim


async def test_unknown_outbound_types_are_refused(live: LiveEngine) -> None:
    await connect(live)
    with pytest.raises(EngineError, match="unsupported message type 'poll'"):
        await live.engine.send(OutgoingMessage(id="msg_1", to="15550100002", type="poll", payload={}))
