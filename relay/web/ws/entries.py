"""A feed entry: one event as every socket needs it, whether it came from the stream or the ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from relay.core.events import envelope_of
from relay.core.models import Event
from relay.web.ws.protocol import event_frame

log = logging.getLogger("relay.web.ws.entries")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """The id and session to filter on, the seq to order by, the frame to send."""

    id: str
    seq: int | None
    session_id: str | None
    frame: str


def entry_from_stream(fields: dict[bytes, bytes]) -> FeedEntry | None:
    """The entry of one stream record (``relay.core.writer.append_to_feed``); None if malformed."""
    raw = fields.get(b"e")
    if raw is None:
        return None
    try:
        envelope = orjson.loads(raw)
        seq = envelope.get("seq")
        return FeedEntry(
            id=envelope["id"],
            seq=seq if isinstance(seq, int) else None,
            session_id=envelope.get("session_id"),
            frame=event_frame(raw),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        log.warning("skipping a malformed feed entry")
        return None


def entry_from_ledger(event: Event) -> FeedEntry:
    return FeedEntry(
        id=event.id,
        seq=event.seq,
        session_id=event.session_id,
        frame=event_frame(orjson.dumps(envelope_of(event))),
    )
