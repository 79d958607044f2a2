"""Decode+validate and encode Relay's real bodies three ways: hand-written, msgspec, pydantic v2.

    python -m bench.schemas [--repeats 7] [--seconds 0.2]

In one process and one run:

- **hand-written**: the validators and serializers Relay had before its bodies
  became models (``bench/handwritten.py``, frozen from commit e8c05f8): ``orjson``
  plus ``isinstance`` checks, dicts plus ``orjson.dumps``;
- **msgspec**: ``msgspec.Struct`` declarations of the same bodies, decoded from
  bytes by a ``msgspec.json.Decoder`` and encoded by a ``msgspec.json.Encoder``;
- **pydantic**: Relay's own models (``relay.web.schemas``, ``webhooks.schemas``)
  exactly as the web process runs them (``orjson.loads``, then
  ``relay.core.schemas.parse``; answers through the models and
  ``TypeAdapter.dump_json``), plus pydantic's ``model_validate_json`` from bytes.

Requests: session create, a text message, a media message (a 16 KiB document
as base64, so the base64 check is in the figure), a webhook endpoint create
(URL shape only: no DNS anywhere). Answers: a session read and a page of 50
ledger events, from ORM rows. Each figure is the median over ``--repeats``
rounds of the time per body, each round running for about ``--seconds``.
"""

from __future__ import annotations

import argparse
import base64
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import orjson

from bench import handwritten
from relay.core.enums import EventType
from relay.core.events import envelope_of
from relay.core.models import Event as EventRow
from relay.core.models import Session as SessionRow
from relay.core.schemas import Event, Page, parse
from relay.core.times import isoformat
from relay.core.url_guard import UnsafeURL, parse_url
from relay.web.schemas.messages import MessageCreate
from relay.web.schemas.sessions import Session, SessionCreate
from webhooks.schemas import WebhookEndpointCreate

PAGE = 50
NOW = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)

BODIES = {
    "session create": orjson.dumps({"name": "support line", "engine": "sandbox", "start": True}),
    "text message": orjson.dumps(
        {"to": "+4915112345678", "type": "text", "text": "hi, how can we help?", "link_preview": False}
    ),
    "media message": orjson.dumps(
        {
            "to": "4915112345678",
            "type": "document",
            "media": {"base64": base64.b64encode(bytes(range(256)) * 64).decode()},
            "filename": "contract.pdf",
            "mimetype": "application/pdf",
            "caption": "the contract",
        }
    ),
    "webhook endpoint create": orjson.dumps(
        {
            "url": "https://crm.example.com/hooks/relay",
            "events": ["message.received", "message.sent", "message.ack"],
            "session_ids": ["ses_01JDZZZZZZZZZZZZZZZZZZZZZZ"],
            "description": "CRM",
        }
    ),
}


# -- msgspec: the same bodies as Structs ----------------------------------------------------------

_PHONE = re.compile(r"^\+?\d{6,15}$")
_JID = re.compile(r"^[^@\s]+@(s\.whatsapp\.net|g\.us|lid)$")


def _recipient(value: str) -> str:
    if _JID.match(value):
        return value
    if _PHONE.match(value):
        return value.removeprefix("+")
    raise ValueError("must be a phone number or a JID")


class MsgSessionCreate(msgspec.Struct, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    engine: Literal["whatsapp", "sandbox"] = "whatsapp"
    start: bool = True


class _MsgOutgoing(msgspec.Struct, frozen=True, tag_field="type"):
    to: str

    def __post_init__(self) -> None:
        # Structs are frozen; the normalized recipient is what a service would use.
        _recipient(self.to)


class MsgText(_MsgOutgoing, frozen=True, tag="text"):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=65_536)]
    reply_to: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    link_preview: bool | None = None


class MsgMediaSource(msgspec.Struct, frozen=True):
    url: str | None = None
    base64: Annotated[str, msgspec.Meta(min_length=1)] | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.base64 is None):
            raise ValueError("must have exactly one of url and base64")
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc or len(self.url) > 2048:
                raise ValueError("must be an http or https URL")
        else:
            base64.b64decode(self.base64 or "", validate=True)


class _MsgMedia(_MsgOutgoing, frozen=True):
    media: MsgMediaSource
    mimetype: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    caption: Annotated[str, msgspec.Meta(max_length=4_096)] | None = None


class MsgImage(_MsgMedia, frozen=True, tag="image"):
    pass


class MsgDocument(_MsgMedia, frozen=True, tag="document"):
    pass


MsgMessage = MsgText | MsgImage | MsgDocument
EventFilter = Literal.__getitem__(("*", *(kind.value for kind in EventType)))  # type: ignore[attr-defined]  # built from the enum


class MsgEndpointCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    events: Annotated[list[EventFilter], msgspec.Meta(min_length=1, max_length=100)] = msgspec.field(
        default_factory=lambda: ["*"]
    )
    session_ids: (
        Annotated[list[Annotated[str, msgspec.Meta(min_length=1)]], msgspec.Meta(max_length=1000)] | None
    ) = None
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        try:
            parse_url(self.url)
        except UnsafeURL as exc:
            raise ValueError(str(exc)) from exc


class MsgSession(msgspec.Struct):
    id: str
    name: str
    engine: str
    status: str
    reason: str | None
    desired_state: str
    phone: str | None
    jid: str | None
    last_error: str | None
    created_at: str
    updated_at: str


class MsgEvent(msgspec.Struct):
    id: str
    type: str
    tenant_id: str
    session_id: str | None
    created_at: str
    data: dict[str, Any]


class MsgPage(msgspec.Struct):
    data: list[MsgEvent]
    next_cursor: str | None


ENCODER = msgspec.json.Encoder()


def msgspec_session_json(row: SessionRow) -> bytes:
    return ENCODER.encode(
        MsgSession(
            id=row.id,
            name=row.name,
            engine=row.engine,
            status=row.status,
            reason=row.reason,
            desired_state=row.desired_state,
            phone=row.phone,
            jid=row.jid,
            last_error=row.last_error,
            created_at=isoformat(row.created_at),
            updated_at=isoformat(row.updated_at),
        )
    )


def msgspec_page_json(rows: list[EventRow]) -> bytes:
    events = [
        MsgEvent(
            id=row.id,
            type=row.type,
            tenant_id=row.tenant_id,
            session_id=row.session_id,
            created_at=isoformat(row.created_at),
            data=row.data,
        )
        for row in rows
    ]
    return ENCODER.encode(MsgPage(data=events, next_cursor=events[-1].id if len(events) == PAGE else None))


# -- the answers' rows ---------------------------------------------------------------------------


def session_row() -> SessionRow:
    return SessionRow(
        id="ses_01JDZZZZZZZZZZZZZZZZZZZZZZ",
        tenant_id="ten_01JDZZZZZZZZZZZZZZZZZZZZZZ",
        name="support line",
        engine="sandbox",
        status="connected",
        reason=None,
        desired_state="running",
        phone="15550001111",
        jid="15550001111@s.whatsapp.net",
        last_error=None,
        created_at=NOW,
        updated_at=NOW + timedelta(seconds=3),
    )


def event_rows() -> list[EventRow]:
    return [
        EventRow(
            id=f"evt_01JDZZZZZZZZZZZZZZZZZZZ{i:03d}",
            tenant_id="ten_01JDZZZZZZZZZZZZZZZZZZZZZZ",
            session_id="ses_01JDZZZZZZZZZZZZZZZZZZZZZZ",
            type="message.received",
            created_at=NOW + timedelta(milliseconds=i),
            data={
                "whatsapp_id": f"3EB0{i:016X}",
                "chat": "4915112345678@s.whatsapp.net",
                "from": "4915112345678@s.whatsapp.net",
                "from_me": False,
                "push_name": "Ana",
                "timestamp": "2026-11-22T10:00:00.000Z",
                "type": "text",
                "text": "hello, is the shop open today?",
                "is_group": False,
            },
        )
        for i in range(PAGE)
    ]


# -- the cases -----------------------------------------------------------------------------------

Case = dict[str, Callable[[], object]]


def cases() -> dict[str, Case]:
    session, events = session_row(), event_rows()
    # Built once, as a server would: msgspec.json.decode(raw, type=...) resolves the type on every call.
    session_decoder = msgspec.json.Decoder(MsgSessionCreate)
    message_decoder = msgspec.json.Decoder(MsgMessage)
    endpoint_decoder = msgspec.json.Decoder(MsgEndpointCreate)
    page_adapter = Page[Event]
    raw = BODIES
    return {
        "session create": {
            "hand-written": lambda: handwritten.session_create(raw["session create"]),
            "msgspec": lambda: session_decoder.decode(raw["session create"]),
            "pydantic": lambda: parse(SessionCreate, orjson.loads(raw["session create"])),
            "pydantic from bytes": lambda: SessionCreate.model_validate_json(raw["session create"]),
        },
        "text message": {
            "hand-written": lambda: handwritten.message_create(raw["text message"]),
            "msgspec": lambda: message_decoder.decode(raw["text message"]),
            "pydantic": lambda: parse(MessageCreate, orjson.loads(raw["text message"]), skip=1),
            "pydantic from bytes": lambda: MessageCreate.model_validate_json(raw["text message"]),
        },
        "media message": {
            "hand-written": lambda: handwritten.message_create(raw["media message"]),
            "msgspec": lambda: message_decoder.decode(raw["media message"]),
            "pydantic": lambda: parse(MessageCreate, orjson.loads(raw["media message"]), skip=1),
            "pydantic from bytes": lambda: MessageCreate.model_validate_json(raw["media message"]),
        },
        "webhook endpoint create": {
            "hand-written": lambda: handwritten.endpoint_create(raw["webhook endpoint create"]),
            "msgspec": lambda: endpoint_decoder.decode(raw["webhook endpoint create"]),
            "pydantic": lambda: parse(WebhookEndpointCreate, orjson.loads(raw["webhook endpoint create"])),
            "pydantic from bytes": lambda: WebhookEndpointCreate.model_validate_json(
                raw["webhook endpoint create"]
            ),
        },
        "session read (answer)": {
            "hand-written": lambda: handwritten.session_json(session),
            "msgspec": lambda: msgspec_session_json(session),
            "pydantic": lambda: Session.of(session).model_dump_json(),
        },
        f"event page of {PAGE} (answer)": {
            "hand-written": lambda: handwritten.event_page_json([envelope_of(e) for e in events], PAGE),
            "msgspec": lambda: msgspec_page_json(events),
            "pydantic": lambda: page_adapter.of(
                [Event.model_validate(envelope_of(e)) for e in events], PAGE
            ).model_dump_json(),
        },
    }


def check_same_answers(all_cases: dict[str, Case]) -> None:
    """Every side must produce the same JSON, or the race is not fair."""
    for name, sides in all_cases.items():
        if "answer" not in name:
            continue
        produced = {side: run() for side, run in sides.items()}
        parsed = {side: orjson.loads(out) for side, out in produced.items()}  # type: ignore[arg-type]
        first = next(iter(parsed.values()))
        assert all(value == first for value in parsed.values()), f"{name}: the sides disagree"


def per_call_seconds(run: Callable[[], object], *, repeats: int, seconds: float) -> float:
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < seconds / 4:
        run()
        calls += 1
    batch = max(1, calls * 4)
    rounds = []
    for _ in range(repeats):
        begin = time.perf_counter()
        for _ in range(batch):
            run()
        rounds.append((time.perf_counter() - begin) / batch)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.2, help="length of one round")
    args = parser.parse_args()

    all_cases = cases()
    check_same_answers(all_cases)
    sides = ["hand-written", "msgspec", "pydantic", "pydantic from bytes"]
    print(f"median µs per body over {args.repeats} rounds (ratio to hand-written)")
    print(f"| body | {' | '.join(sides)} |")
    print(f"|---|{'---|' * len(sides)}")
    for name, runs in all_cases.items():
        timings = {
            side: per_call_seconds(run, repeats=args.repeats, seconds=args.seconds)
            for side, run in runs.items()
        }
        base = timings["hand-written"]
        cells = [
            f"{timings[side] * 1e6:.2f} ({timings[side] / base:.2f}x)" if side in timings else "—"
            for side in sides
        ]
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
