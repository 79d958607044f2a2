"""Sessions: creating one, reading it, linking it with a QR code or a pairing code."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from relay.core import models
from relay.core.enums import DesiredState, EngineKind, SessionStatus
from relay.core.schemas import (
    Identified,
    NullsOmitted,
    OptionalQuery,
    PageQuery,
    ResponseBody,
    SessionId,
    Timestamp,
)
from relay.web.schemas.fields import Name, PhoneNumber

# Replaces the stored reason of a live session no worker holds (relay.web.services.session_liveness).
NO_WORKER_REASON = (
    "no worker holds this session: its worker stopped or stopped answering; another worker takes it over"
)


class SessionCreate(NullsOmitted):
    name: Name
    # Lax for enums only: a JSON string is how an enum member arrives.
    engine: Annotated[EngineKind, Field(strict=False)] = EngineKind.WHATSAPP
    start: bool = Field(default=True, description="Start at once (the engine shows a QR code).")


class SessionListQuery(PageQuery):
    cursor: OptionalQuery[SessionId] = None


class Session(Identified):
    name: str
    engine: EngineKind
    status: SessionStatus
    reason: str | None
    desired_state: DesiredState
    phone: str | None
    jid: str | None
    last_error: str | None = Field(
        description="The most recent failure or disconnect reason, kept after recovery."
    )
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, session: models.Session, *, orphaned: bool = False) -> Self:
        """The row as the API shows it; ``orphaned``: live, but no worker holds its lease."""
        return cls(
            id=session.id,
            name=session.name,
            engine=EngineKind(session.engine),
            status=SessionStatus.RECONNECTING if orphaned else SessionStatus(session.status),
            reason=NO_WORKER_REASON if orphaned else session.reason,
            desired_state=DesiredState(session.desired_state),
            phone=session.phone,
            jid=session.jid,
            last_error=session.last_error,
            created_at=session.created_at,
            updated_at=session.updated_at,
        )


class QrQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: Literal["json", "png", "svg"] = Field(default="json", description="json (default), png or svg")


class Qr(ResponseBody):
    qr: str
    expires_at: Timestamp | None


class PairCodeRequest(NullsOmitted):
    phone: PhoneNumber


class PairCode(ResponseBody):
    code: str = Field(description="Type it on the phone: WhatsApp > Linked devices > Link with phone number.")
