"""Groups on the real engine, against the real Go core, offline, and whatsmeow's group events.

The engine refuses each group call while it is not connected, naming its state, at once.
Underneath, each call reaches the neonize method it maps to with arguments the Go core
accepts: the core answers with its own refusal (no socket), which comes back as Relay's
error, not a hang. neonize's own group event protobufs, fed through its callback
trampoline, become ``group.joined``, ``group.updated`` and ``group.participants``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from neonize.proto.Neonize_pb2 import (
    JID,
    Connected,
    Device,
    GroupInfo,
    GroupInfoEvent,
    GroupName,
    GroupParticipant,
    GroupTopic,
    JoinedGroup,
    MessageInfo,
    MessageSource,
    OfflineSyncCompleted,
    OfflineSyncPreview,
)
from neonize.proto.Neonize_pb2 import Message as NeonizeMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WAMessage
from standardwebhooks import Webhook

from relay.core.enums import GroupAction, ParticipantChange
from tests.conftest import TenantHandle
from tests.engines.conftest import LiveEngine, RecordingReporter, fill_required, make_context, running
from tests.engines.test_whatsapp_chat_actions import CALL_BOUND, offline_client, reconnecting

# A session of the running stack whose fed engine reports through the worker's own SessionReporter.
from tests.engines.test_whatsapp_envelopes import fed_session  # noqa: F401
from tests.helpers import wait_until
from tests.sessions import events_of
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.receiver import Receiver
from workers.engines.base import EngineError, GroupNotFound, NotConnected
from workers.engines.whatsapp import WhatsAppEngine
from workers.engines.whatsapp import groups as group_calls
from workers.engines.whatsapp.backoff import ReconnectPolicy

pytestmark = pytest.mark.timeout(90)

ME = JID(User="15550100001", Server="s.whatsapp.net", Device=7)
ALICE = JID(User="15550100002", Server="s.whatsapp.net")
ALICE_LID = JID(User="123456789012345", Server="lid")
BOB = JID(User="15550100003", Server="s.whatsapp.net")
GROUP = JID(User="120363000000000001", Server="g.us")
GROUP_JID = "120363000000000001@g.us"
CREATED = 1_790_000_000

EVERY_CALL: list[tuple[GroupAction, dict[str, Any]]] = [
    (GroupAction.LIST, {}),
    (GroupAction.INFO, {"jid": GROUP_JID}),
    (GroupAction.CREATE, {"subject": "Team", "participants": ["15550100002@s.whatsapp.net"]}),
    (GroupAction.UPDATE, {"jid": GROUP_JID, "subject": "New name"}),
    (GroupAction.UPDATE, {"jid": GROUP_JID, "description": "What we do"}),
    (
        GroupAction.PARTICIPANTS,
        {"jid": GROUP_JID, "changes": {"add": ["15550100002@s.whatsapp.net"], "demote": ["15550100003@lid"]}},
    ),
    (GroupAction.LEAVE, {"jid": GROUP_JID}),
    (GroupAction.INVITE_LINK, {"jid": GROUP_JID}),
]


def group_info(**fields: Any) -> GroupInfo:
    """A group as whatsmeow describes it: me the creator, Alice an admin seen by her LID, Bob refused."""
    return GroupInfo(
        JID=GROUP,
        OwnerJID=ME,
        OwnerPN=JID(User="15550100001", Server="s.whatsapp.net"),
        GroupName=GroupName(Name="Team"),
        GroupTopic=GroupTopic(Topic="Our team"),
        GroupCreated=CREATED,
        Participants=[
            GroupParticipant(JID=ME, PhoneNumber=ME, IsSuperAdmin=True, IsAdmin=True),
            GroupParticipant(JID=ALICE_LID, PhoneNumber=ALICE, IsAdmin=True),
            GroupParticipant(JID=BOB, Error=403),
        ],
        **fields,
    )


async def test_an_offline_engine_refuses_each_group_call_at_once_naming_its_state(tmp_path: Path) -> None:
    policy = ReconnectPolicy(initial=0.05, maximum=0.2, jitter=0.02, preflight=False)
    reporter = RecordingReporter()
    engine = WhatsAppEngine(make_context(tmp_path), reporter, policy=policy)
    async with running(engine):
        await reporter.wait_for(reconnecting, timeout=20)  # DNS may take 5 s
        for action, params in EVERY_CALL:
            with pytest.raises(NotConnected, match="not connected \\(it is reconnecting\\)"):
                await asyncio.wait_for(engine.groups(action, params), CALL_BOUND)


async def test_each_group_call_reaches_its_neonize_method_and_the_go_cores_refusal_comes_back(
    tmp_path: Path,
) -> None:
    refusals = []
    async with offline_client("ses_groups_offline", tmp_path / "store.db") as recording:
        for action, params in EVERY_CALL:
            with pytest.raises(EngineError) as refused:
                await asyncio.wait_for(group_calls.call(recording, action, params), CALL_BOUND)
            refusals.append((type(refused.value).__name__, str(refused.value)))

    # Each is the Go core's own refusal: no socket, or (before a socket is asked for) no linked device.
    unlinked = ("EngineError", "failed to get privacy token for participant 15550100002@s.whatsapp.net")
    assert [
        (kind, text.split(": the store")[0]) if kind == "EngineError" else kind for kind, text in refusals
    ] == [
        "NotConnected",
        "NotConnected",
        unlinked,
        "NotConnected",
        "NotConnected",
        unlinked,
        "NotConnected",
        "NotConnected",
    ]
    assert all("websocket not connected" in text for kind, text in refusals if kind == "NotConnected")
    assert refusals[0][1] == "the connection dropped during the group call list: websocket not connected"
    names = [name for name, _, _ in recording.calls]
    assert names == [
        "get_joined_groups",
        "get_group_info",
        "create_group",
        "set_group_name",
        "set_group_topic",
        "update_group_participants",  # the add is refused; the demote never goes
        "leave_group",
        "get_group_invite_link",
    ]
    calls = {name: (args, kwargs) for name, args, kwargs in recording.calls}
    info_jid = calls["get_group_info"][0][0]
    assert (info_jid.User, info_jid.Server) == ("120363000000000001", "g.us")
    subject, members = calls["create_group"][0]
    assert subject == "Team" and [(m.User, m.Server) for m in members] == [("15550100002", "s.whatsapp.net")]
    assert calls["set_group_name"][0][1] == "New name"
    # Empty topic ids: whatsmeow finds the current one and mints the next itself.
    assert calls["set_group_topic"][0][1:] == ("", "", "What we do")
    group, added, change = calls["update_group_participants"][0]
    assert group.User == "120363000000000001" and [a.User for a in added] == ["15550100002"]
    assert change.value == "add"
    assert calls["get_group_invite_link"][0][1] is False  # never revokes the current link


def test_a_group_reads_with_roles_phone_numbers_first_and_without_refused_participants() -> None:
    group = group_calls.group_of(fill_required(group_info()))
    assert group.to_json() == {
        "jid": GROUP_JID,
        "subject": "Team",
        "description": "Our team",
        "owner": "15550100001@s.whatsapp.net",
        "created_at": "2026-09-21T14:13:20.000Z",
        "participants": [
            {"jid": "15550100001@s.whatsapp.net", "role": "superadmin"},
            {"jid": "15550100002@s.whatsapp.net", "role": "admin"},
        ],
    }


def test_each_participant_gets_its_own_result_from_whatsapps_answer() -> None:
    answer = [
        fill_required(GroupParticipant(JID=ALICE_LID, PhoneNumber=ALICE, Error=0)),
        fill_required(GroupParticipant(JID=BOB, Error=409)),
        fill_required(GroupParticipant(JID=JID(User="15550100004", Server="s.whatsapp.net"), Error=403)),
    ]
    asked = [f"1555010000{n}@s.whatsapp.net" for n in (2, 3, 4, 5)]
    results = group_calls._results(ParticipantChange.ADD, asked, answer)
    assert [(r.jid, r.ok, r.error) for r in results] == [
        (asked[0], True, None),
        (asked[1], False, "already in the group"),
        (asked[2], False, "not allowed: their privacy settings, or the session is not an admin"),
        (asked[3], False, "WhatsApp did not answer for this number"),
    ]


@pytest.mark.parametrize(
    ("words", "error"),
    [
        ("failed to get group info: group not found", GroupNotFound),
        ("you're not participating in that group", GroupNotFound),
        ("websocket not connected", NotConnected),
    ],
)
def test_whatsmeows_words_become_relays_errors(words: str, error: type[Exception]) -> None:
    assert type(group_calls._refused("info", Exception(words))) is error


async def connect(live: LiveEngine) -> None:
    await live.feed(Device(JID=ME, PushName="Relay"), Connected(status=True))
    await live.reporter.wait_for(lambda r: "connected" in r.statuses())


async def test_whatsmeows_group_events_become_relays(live: LiveEngine) -> None:
    await connect(live)
    await live.feed(
        JoinedGroup(Reason="invite", Type="new", GroupInfo=group_info(), Sender=ALICE_LID, SenderPN=ALICE),
        GroupInfoEvent(JID=GROUP, Sender=ALICE, Name=GroupName(Name="Renamed"), Timestamp=CREATED),
        GroupInfoEvent(
            JID=GROUP, Sender=ALICE, Topic=GroupTopic(Topic="", TopicDeleted=True), Timestamp=CREATED
        ),
        GroupInfoEvent(JID=GROUP, Sender=ALICE, Join=[BOB], Promote=[BOB], Timestamp=CREATED),
        GroupInfoEvent(JID=GROUP, Leave=[ALICE], Timestamp=CREATED),
    )
    events = await live.reporter.wait_for(lambda r: len(r.of("group_event")) == 6 and r.of("group_event"))
    joined, *rest = events
    assert joined["type"] == "group.joined"
    assert joined["data"]["by"] == "15550100002@s.whatsapp.net" and joined["data"]["reason"] == "invite"
    assert joined["data"]["group"]["subject"] == "Team"
    group = GROUP_JID
    alice, bob = "15550100002@s.whatsapp.net", "15550100003@s.whatsapp.net"
    assert [(e["type"], e["data"]) for e in rest] == [
        ("group.updated", {"jid": group, "subject": "Renamed", "description": None, "by": alice}),
        ("group.updated", {"jid": group, "subject": None, "description": "", "by": alice}),
        ("group.participants", {"jid": group, "change": "add", "participants": [bob], "by": alice}),
        ("group.participants", {"jid": group, "change": "promote", "participants": [bob], "by": alice}),
        ("group.participants", {"jid": group, "change": "remove", "participants": [alice], "by": None}),
    ]


async def test_group_events_and_the_catch_up_reach_the_ledger_and_a_signed_webhook(
    tenant: TenantHandle,
    fed_session: tuple[str, LiveEngine],  # noqa: F811
    receiver: Receiver,
) -> None:
    session_id, live = fed_session
    client = tenant.client
    endpoint = await create_endpoint(client, receiver.url("/groups"), events=["group.participants"])
    await live.feed(Device(JID=ME), Connected(status=True))
    sent_ms = int(datetime.now(UTC).timestamp() * 1000) - 60_000
    source = MessageSource(Chat=ALICE, Sender=ALICE)
    await live.feed(
        OfflineSyncPreview(Total=1, Message=1),
        NeonizeMessage(
            Info=MessageInfo(ID="3EB0AWAY", Timestamp=sent_ms, Pushname="Al", MessageSource=source),
            Message=WAMessage(conversation="while you were away"),
        ),
        OfflineSyncCompleted(Count=1),
        JoinedGroup(Reason="invite", GroupInfo=group_info(), SenderPN=ALICE, Sender=ALICE_LID),
        GroupInfoEvent(JID=GROUP, Sender=ALICE, Join=[BOB], Timestamp=CREATED),
    )

    async def all_there() -> list[dict[str, Any]] | None:
        events = [e for e in await events_of(client, session_id) if e["type"] != "session.status"]
        return events if len(events) == 4 else None

    events = await wait_until(all_there, what="the fed events in the ledger")
    assert [e["type"] for e in events] == [
        "message.received",
        "session.synced",
        "group.joined",
        "group.participants",
    ]
    assert events[0]["data"]["offline"] is True and events[1]["data"] == {"count": 1}
    assert events[2]["data"]["group"]["jid"] == GROUP_JID

    [delivery] = await receiver.wait_for("/groups", 1)
    payload = Webhook(endpoint["secret"]).verify(delivery.body, delivery.headers)
    assert payload == events[3]
    assert payload["data"] == {
        "jid": GROUP_JID,
        "change": "add",
        "participants": ["15550100003@s.whatsapp.net"],
        "by": "15550100002@s.whatsapp.net",
    }
