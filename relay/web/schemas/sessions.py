"""Sessions: creating one, reading it, linking it with a QR code or a pairing code."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from relay.core import models
from relay.core.crypto import SecretDecryptionError, decrypt_secret
from relay.core.enums import DesiredState, EngineKind, SessionStatus
from relay.core.proxies import MASK, InvalidProxy, mask_proxy, parse_proxy
from relay.core.schemas import (
    Between,
    Identified,
    NullsOmitted,
    OptionalQuery,
    PageQuery,
    ResponseBody,
    SessionId,
    Timestamp,
)
from relay.core.url_guard import URL_MAX_LENGTH
from relay.web.schemas.fields import Name, PhoneNumber

# Replaces the stored reason of a live session no worker holds (relay.web.services.session_liveness).
NO_WORKER_REASON = (
    "no worker holds this session: its worker stopped or stopped answering; another worker takes it over"
)


# What ``parse_proxy`` accepts, for integrators and generated clients (the check itself is in Python);
# a bracketed IPv6 literal host is accepted too, but left out here: no pattern tells a valid one.
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
PROXY_URL_PATTERN = (
    r"^(http|https|socks5)://([A-Za-z0-9._~!$&'()*+,;=:%-]+@)?"
    r"[A-Za-z0-9.-]+:" + _PORT + "/?$"
)


def _proxy_url(value: str) -> str:
    try:
        parse_proxy(value)
    except InvalidProxy as exc:
        raise PydanticCustomError("proxy_url", "{reason}", {"reason": str(exc)}) from None
    return value


ProxyURL = Annotated[
    str,
    Field(
        min_length=1,
        description="http://, https:// or socks5:// URL of the proxy this session connects through; "
        "credentials allowed (user:password@), the port required; an IPv6 host goes in brackets. "
        "Reads show the password as ***.",
        max_length=URL_MAX_LENGTH,
        examples=["socks5://user:password@proxy.example:1080"],
        json_schema_extra={"format": "uri", "pattern": PROXY_URL_PATTERN},
    ),
    AfterValidator(_proxy_url),
]


# At most one message a 10 ms: beyond that, pacing paces nothing.
MAX_SEND_PER_MINUTE = 6000

SendPerMinute = Annotated[
    int,
    Between(1, MAX_SEND_PER_MINUTE),
    Field(
        description="Messages this session sends per minute at most, evenly spaced and in order; "
        "extra sends are accepted as queued and go out in turn."
    ),
]


class SessionCreate(NullsOmitted):
    name: Name
    # Lax for enums only: a JSON string is how an enum member arrives.
    engine: Annotated[EngineKind, Field(strict=False)] = EngineKind.WHATSAPP
    start: bool = Field(default=True, description="Start at once (the engine shows a QR code).")
    proxy: ProxyURL | None = None
    # Left out (or null): RELAY_SEND_PER_MINUTE's.
    send_per_minute: SendPerMinute | None = None


class SessionChanges(TypedDict, total=False):
    """The fields of a PATCH: each one sent is changed, a field left out keeps its value."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]  # read by pydantic

    name: Name
    proxy: ProxyURL | None
    # null: unpaced.
    send_per_minute: SendPerMinute | None


class SessionUpdate(RootModel[SessionChanges]):
    """``PATCH /v1/sessions/{id}``: only the fields sent change; ``"proxy": null`` removes the proxy.

    A new proxy is used from the session's next start (stop and start it to apply it at once).
    """


def shown_proxy(session: models.Session) -> str | None:
    """The session's proxy as reads show it: password masked, and never an error for a lost key."""
    if not session.encrypted_proxy:
        return None
    try:
        return mask_proxy(decrypt_secret(session.encrypted_proxy))
    except SecretDecryptionError:
        return MASK


def send_interval(send_per_minute: int | None) -> float | None:
    """Seconds between two sends of a paced session."""
    return None if not send_per_minute else round(60 / send_per_minute, 3)


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
    proxy: str | None = Field(description="The session's proxy, its password shown as ***; null: direct.")
    send_per_minute: int | None = Field(description="Messages sent per minute at most; null: unpaced.")
    send_interval_seconds: float | None = Field(
        description="The spacing pacing keeps between two sends (60 / send_per_minute); null: unpaced."
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
            proxy=shown_proxy(session),
            send_per_minute=session.send_per_minute,
            send_interval_seconds=send_interval(session.send_per_minute),
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
