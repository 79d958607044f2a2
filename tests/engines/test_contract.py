"""One contract, both engines: the sandbox must not drift from the real WhatsApp engine.

Each engine is driven the way it can be here: the sandbox through its own actions,
the WhatsApp engine through neonize's callback trampoline (no network needed).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from neonize.proto.Neonize_pb2 import (
    JID,
    Connected,
    ConnectFailureReason,
    Device,
    GroupInfo,
    GroupName,
    GroupParticipant,
    JoinedGroup,
    LoggedOut,
    MessageInfo,
    MessageSource,
    OfflineSyncCompleted,
    OfflineSyncPreview,
    Receipt,
)
from neonize.proto.Neonize_pb2 import Message as NeonizeMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage

from relay.core.enums import GroupAction
from tests.engines.conftest import (
    LiveEngine,
    RecordingReporter,
    make_context,
    start_fed_engine,
)
from workers.engines.base import (
    QR_TIMEOUT_REASON,
    Engine,
    EngineError,
    NotConnected,
    OutgoingMessage,
    UnsupportedCommand,
    create_engine,
)

ENGINES = ["sandbox", "whatsapp"]
SPEC_STATUSES = {
    "stopped", "starting", "qr", "pairing", "connected", "reconnecting", "logged_out", "failed",
}  # fmt: skip
MESSAGE_REQUIRED = {
    "whatsapp_id", "chat", "from", "from_me", "push_name", "timestamp", "type", "text", "is_group",
}  # fmt: skip
MESSAGE_OPTIONAL = {
    "media", "quoted_id", "reaction", "location", "contacts", "group", "from_pn", "from_lid",
    "offline",
}  # fmt: skip
ACK_KEYS = {"whatsapp_ids", "chat", "status", "timestamp"}
GROUP_KEYS = {"jid", "subject", "description", "owner", "created_at", "participants"}
PHONE = "15550100009"
CONTACT = JID(User="15550100002", Server="s.whatsapp.net")


@dataclass
class Driven:
    """An engine running in a test, plus how to make its "phone" do things."""

    kind: str
    engine: Any
    reporter: RecordingReporter
    task: asyncio.Task[None]
    live: LiveEngine | None = None

    async def link(self) -> None:
        if self.live is not None:
            me = JID(User=PHONE, Server="s.whatsapp.net", Device=3)
            await self.live.feed(Device(JID=me), Connected(status=True))
        else:
            await self.engine.sandbox("scan", {"phone": PHONE})
        await self.reporter.wait_for(lambda r: r.statuses()[-1] == "connected")

    async def show_qr(self) -> None:
        if self.live is not None:
            await self.live.feed_qr(b"2@ref,noise,identity,adv")
        await self.reporter.wait_for(lambda r: r.of("qr"))

    async def contact_writes(self, text: str) -> None:
        if self.live is not None:
            source = MessageSource(Chat=CONTACT, Sender=CONTACT)
            info = MessageInfo(
                ID="3EB0C0FFEE", Timestamp=1_790_000_000_000, Pushname="Al", MessageSource=source
            )
            await self.live.feed(NeonizeMessage(Info=info, Message=WAMessage(conversation=text)))
        else:
            await self.engine.sandbox("inbound", {"from": CONTACT.User, "text": text})
        await self.reporter.wait_for(lambda r: r.of("message_received"))

    async def contact_reads(self, whatsapp_id: str) -> None:
        if self.live is not None:
            source = MessageSource(Chat=CONTACT, Sender=CONTACT)
            receipt = Receipt(
                MessageSource=source, MessageIDs=[whatsapp_id], Timestamp=1_790_000_000, Type=Receipt.READ
            )
            await self.live.feed(receipt)
        else:
            await self.engine.send(
                OutgoingMessage(id="msg_1", to=CONTACT.User, type="text", payload={"text": "hi"})
            )
        await self.reporter.wait_for(
            lambda r: any(a["status"] == "read" for a in r.of("message_ack")), timeout=5
        )

    async def contact_adds_me_to_a_group(self) -> None:
        if self.live is not None:
            me = JID(User=PHONE, Server="s.whatsapp.net")
            members = [
                GroupParticipant(JID=CONTACT, PhoneNumber=CONTACT, IsSuperAdmin=True, IsAdmin=True),
                GroupParticipant(JID=me, PhoneNumber=me),
            ]
            info = GroupInfo(
                JID=JID(User="120363000000000001", Server="g.us"),
                OwnerPN=CONTACT,
                GroupName=GroupName(Name="Family"),
                GroupCreated=1_790_000_000,
                Participants=members,
            )
            await self.live.feed(
                JoinedGroup(Reason="added", GroupInfo=info, SenderPN=CONTACT, Sender=CONTACT)
            )
        else:
            params = {"from": f"{CONTACT.User}@s.whatsapp.net", "subject": "Family"}
            await self.engine.sandbox("join-group", params)
        await self.reporter.wait_for(lambda r: r.of("group_event"))

    async def contact_writes_while_away(self, text: str) -> None:
        """A message WhatsApp held while the session was away, delivered in the catch-up."""
        if self.live is not None:
            source = MessageSource(Chat=CONTACT, Sender=CONTACT)
            sent_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
            info = MessageInfo(ID="3EB0AWAY", Timestamp=sent_ms, Pushname="Al", MessageSource=source)
            await self.live.feed(
                OfflineSyncPreview(Total=1, Message=1),
                NeonizeMessage(Info=info, Message=WAMessage(conversation=text)),
                OfflineSyncCompleted(Count=1),
            )
        else:
            await self.engine.sandbox("drop", {"seconds": 1})
            await self.engine.sandbox("inbound", {"from": CONTACT.User, "text": text})
        await self.reporter.wait_for(lambda r: r.of("synced"), timeout=10)

    async def phone_unlinks(self) -> None:
        if self.live is not None:
            await self.live.feed(LoggedOut(OnConnect=False, Reason=ConnectFailureReason.LOGGED_OUT))
        else:
            await self.engine.sandbox("logout", {})


@pytest.fixture(params=ENGINES)
async def driven(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Driven]:
    context = make_context(tmp_path)
    if request.param == "whatsapp":
        live = await start_fed_engine(context)
        handle = Driven("whatsapp", live.engine, live.reporter, live.task, live)
    else:
        reporter = RecordingReporter()
        engine = create_engine("sandbox", context, reporter)
        handle = Driven("sandbox", engine, reporter, asyncio.create_task(engine.run()))
    await handle.reporter.wait_for(lambda r: r.statuses())
    try:
        yield handle
    finally:
        await handle.engine.stop()
        await asyncio.wait_for(handle.task, 10)
        assert set(handle.reporter.statuses()) <= SPEC_STATUSES


@pytest.mark.parametrize("kind", ENGINES)
def test_both_engines_expose_the_protocol_surface(kind: str, tmp_path: Path) -> None:
    engine = create_engine(kind, make_context(tmp_path), RecordingReporter())
    for name, member in inspect.getmembers(Engine):
        if name.startswith("_"):
            continue
        ours = getattr(type(engine), name)
        if isinstance(member, property):
            assert isinstance(ours, property), name
            continue
        assert inspect.iscoroutinefunction(ours), name
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(member).parameters), name


async def test_run_starts_by_reporting_starting(driven: Driven) -> None:
    assert driven.reporter.statuses()[0] == "starting"


async def test_stop_makes_run_return(driven: Driven) -> None:
    await driven.engine.stop()
    await asyncio.wait_for(driven.task, 5)
    assert not driven.engine.connected


async def test_send_without_a_connection_raises_not_connected(driven: Driven) -> None:
    with pytest.raises(NotConnected):
        await driven.engine.send(
            OutgoingMessage(id="msg_1", to=CONTACT.User, type="text", payload={"text": "x"})
        )


async def test_unknown_sandbox_actions_are_unsupported(driven: Driven) -> None:
    with pytest.raises(UnsupportedCommand):
        await driven.engine.sandbox("teleport", {})


async def test_a_qr_code_has_the_same_shape(driven: Driven) -> None:
    await driven.show_qr()
    qr = driven.reporter.of("qr")[0]
    assert isinstance(qr["code"], str) and qr["code"].startswith("2@")
    assert qr["expires_at"].tzinfo is not None and qr["expires_at"].utcoffset() == UTC.utcoffset(None)
    assert "qr" in driven.reporter.statuses()


async def test_linking_reports_connected_with_phone_and_jid(driven: Driven) -> None:
    await driven.link()
    connected = driven.reporter.of("status")[-1]
    assert connected["phone"] == PHONE
    assert connected["jid"].startswith(PHONE) and connected["jid"].endswith("@s.whatsapp.net")
    assert driven.engine.connected


async def test_a_received_message_has_the_documented_keys(driven: Driven) -> None:
    await driven.link()
    await driven.contact_writes("hello")
    (data,) = driven.reporter.of("message_received")
    assert MESSAGE_REQUIRED <= set(data) <= MESSAGE_REQUIRED | MESSAGE_OPTIONAL
    assert data["type"] == "text" and data["text"] == "hello"
    assert data["from"] == data["chat"] == "15550100002@s.whatsapp.net"
    assert data["timestamp"].endswith("Z")


async def test_an_ack_has_the_documented_keys(driven: Driven) -> None:
    await driven.link()
    await driven.contact_reads("3EB0C0FFEE")
    ack = next(a for a in driven.reporter.of("message_ack") if a["status"] == "read")
    assert set(ack) == ACK_KEYS
    assert ack["chat"] == "15550100002@s.whatsapp.net" and ack["timestamp"].endswith("Z")


async def test_being_added_to_a_group_reports_the_same_group_joined(driven: Driven) -> None:
    await driven.link()
    await driven.contact_adds_me_to_a_group()
    (event,) = driven.reporter.of("group_event")
    assert event["type"] == "group.joined" and set(event["data"]) == {"group", "by", "reason"}
    group = event["data"]["group"]
    assert set(group) == GROUP_KEYS and group["subject"] == "Family"
    assert event["data"]["by"] == group["owner"] == "15550100002@s.whatsapp.net"
    assert event["data"]["reason"] == "added"
    assert group["participants"] == [
        {"jid": "15550100002@s.whatsapp.net", "role": "superadmin"},
        {"jid": f"{PHONE}@s.whatsapp.net", "role": "member"},
    ]


async def test_a_catch_up_delivers_offline_messages_then_says_synced(driven: Driven) -> None:
    await driven.link()
    await driven.contact_writes_while_away("while you were away")
    (data,) = driven.reporter.of("message_received")
    assert MESSAGE_REQUIRED <= set(data) <= MESSAGE_REQUIRED | MESSAGE_OPTIONAL
    assert data["offline"] is True and data["text"] == "while you were away"
    names = [name for name, _ in driven.reporter.calls]
    assert names.index("message_received") < names.index("synced")
    assert driven.reporter.of("synced") == [{"count": 1}]


async def test_group_calls_without_a_connection_raise_not_connected(driven: Driven) -> None:
    for action, params in (
        (GroupAction.LIST, {}),
        (GroupAction.CREATE, {"subject": "x", "participants": []}),
    ):
        with pytest.raises(NotConnected):
            await driven.engine.groups(action, params)


async def test_the_phone_unlinking_ends_the_run_logged_out(driven: Driven) -> None:
    await driven.link()
    await driven.phone_unlinks()
    await asyncio.wait_for(driven.task, 5)
    assert driven.reporter.statuses()[-1] == "logged_out"


async def test_pairing_codes_need_a_session_waiting_for_a_scan(driven: Driven) -> None:
    await driven.link()
    with pytest.raises(EngineError):
        await driven.engine.pair_phone(PHONE)


@pytest.mark.parametrize("kind", ENGINES)
async def test_an_engine_stopped_before_it_ran_does_not_start(kind: str, tmp_path: Path) -> None:
    reporter = RecordingReporter()
    engine: Engine = create_engine(kind, make_context(tmp_path), reporter)
    await engine.stop()
    await asyncio.wait_for(engine.run(), 5)
    assert not engine.connected
    assert "connected" not in reporter.statuses()


@pytest.mark.parametrize("kind", ENGINES)
async def test_a_qr_window_that_ends_unscanned_stops_the_session_alike(kind: str, tmp_path: Path) -> None:
    """Integrators meet in the sandbox the cleanup production does: stopped, reason qr_timeout."""
    context = make_context(tmp_path, sandbox_qr_timeout=0.5)
    if kind == "whatsapp":
        live = await start_fed_engine(context)
        reporter, task = live.reporter, live.task
        await live.feed_qr(b"2@only,noise,identity,adv")
        await live.feed_login_status(b"timeout")  # WhatsApp's own end of the window
    else:
        reporter = RecordingReporter()
        task = asyncio.create_task(create_engine("sandbox", context, reporter).run())
    await asyncio.wait_for(task, 10)  # run() returns: the runner stops wanting the session to run
    assert reporter.of("status")[-1] == {
        "status": "stopped",
        "reason": QR_TIMEOUT_REASON,
        "phone": None,
        "jid": None,
    }
    assert reporter.statuses()[:2] == ["starting", "qr"] and reporter.of("qr")


async def test_the_sandbox_qr_window_also_ends_an_unused_pairing_code(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    engine = create_engine("sandbox", make_context(tmp_path, sandbox_qr_timeout=0.5), reporter)
    task = asyncio.create_task(engine.run())
    await reporter.wait_for(lambda r: r.of("qr"))
    await engine.pair_phone(PHONE)
    await asyncio.wait_for(task, 10)
    assert reporter.statuses()[-2:] == ["pairing", "stopped"]
    assert reporter.of("status")[-1]["reason"] == QR_TIMEOUT_REASON


async def test_the_last_sandbox_qr_code_expires_with_the_window(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    context = make_context(tmp_path, sandbox_qr_interval=30, sandbox_qr_timeout=0.5)
    started = datetime.now(UTC)
    task = asyncio.create_task(create_engine("sandbox", context, reporter).run())
    await asyncio.wait_for(task, 10)
    # One code, said to live only as long as the window has left, not the 30 s refresh interval.
    (code,) = reporter.of("qr")
    assert code["expires_at"] - started < timedelta(seconds=5)


async def test_a_scan_inside_the_window_keeps_the_sandbox_session(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    engine = create_engine("sandbox", make_context(tmp_path, sandbox_qr_timeout=0.5), reporter)
    task = asyncio.create_task(engine.run())
    await reporter.wait_for(lambda r: r.of("qr"))
    await engine.sandbox("scan", {"phone": PHONE})
    await asyncio.sleep(1.0)  # past the window: a linked session is not touched by it
    assert engine.connected and not task.done()
    await engine.stop()
    await asyncio.wait_for(task, 5)
    assert "stopped" not in reporter.statuses()
