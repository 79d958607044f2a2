"""Webhook endpoints and deliveries as the REST API takes and shows them, each declared once.

Refusals are 422s naming the field. What needs the network (does the URL's
host resolve to a public address? are the session ids the tenant's?) is checked
by ``webhooks.service`` after these shapes pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, RootModel, WithJsonSchema
from pydantic_core import PydanticCustomError

# pydantic reads TypedDicts from typing_extensions on Python < 3.12.
from typing_extensions import TypedDict

from relay.core.enums import DeliveryStatus, DeliveryTrigger, EventType
from relay.core.schemas import (
    Between,
    DeliveryId,
    Event,
    Identified,
    OptionalQuery,
    PageQuery,
    RequestBody,
    ResponseBody,
    SessionId,
    Timestamp,
    WebhookEndpointId,
    WrittenTimestamp,
)
from relay.core.url_guard import URL_MAX_LENGTH, UnsafeURL, parse_url
from webhooks.constants import (
    DESCRIPTION_MAX_LENGTH,
    EVENT_FILTER_MAX,
    ROTATION_GRACE_MAX_SECONDS,
    ROTATION_GRACE_SECONDS,
    SESSION_FILTER_MAX,
)
from webhooks.models import Delivery as DeliveryRow
from webhooks.models import WebhookEndpoint as EndpointRow

ALL_EVENTS = "*"


def _webhook_url(value: str) -> str:
    try:
        parse_url(value)
    except UnsafeURL as exc:
        raise PydanticCustomError("webhook_url", "{reason}", {"reason": str(exc)}) from None
    return value


def _known_event_type(value: str) -> str:
    if value != ALL_EVENTS and value not in EventType.__members__.values():
        raise PydanticCustomError("event_type", "unknown event type {value}", {"value": repr(value)})
    return value


def _event_filter(types: list[str]) -> list[str]:
    return [ALL_EVENTS] if ALL_EVENTS in types else list(dict.fromkeys(types))


def _session_filter(session_ids: list[str] | None) -> list[str] | None:
    if session_ids is None:
        return None
    # An empty filter would match nothing; it means what null means: every session.
    return list(dict.fromkeys(session_ids)) or None


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError("moment", "must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PydanticCustomError("moment", "must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise PydanticCustomError("moment", "must carry a timezone (e.g. a trailing Z)")
    return moment


WebhookURL = Annotated[
    str,
    Field(min_length=1, max_length=URL_MAX_LENGTH, json_schema_extra={"format": "uri"}),
    AfterValidator(_webhook_url),
]
EventFilter = Annotated[
    list[
        Annotated[str, AfterValidator(_known_event_type), WithJsonSchema({"enum": [ALL_EVENTS, *EventType]})]
    ],
    Field(min_length=1, max_length=EVENT_FILTER_MAX, description='["*"] or event types'),
    AfterValidator(_event_filter),
]
SessionFilter = Annotated[
    Annotated[list[SessionId], Field(max_length=SESSION_FILTER_MAX)] | None,
    Field(description="Only these sessions' events; null for every session"),
    AfterValidator(_session_filter),
]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)] | None
# A time given by the caller: ISO 8601 with a timezone.
Moment = Annotated[
    datetime, BeforeValidator(_moment), WithJsonSchema({"type": "string", "format": "date-time"})
]


class WebhookEndpointCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    url: WebhookURL
    events: EventFilter = [ALL_EVENTS]
    session_ids: SessionFilter = None
    description: Description = None
    enabled: bool = True


class WebhookEndpointChanges(TypedDict, total=False):
    """The fields of a PATCH: each one sent is changed, a field left out keeps its value."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[misc]  # read by pydantic

    url: WebhookURL
    events: EventFilter
    session_ids: SessionFilter
    description: Description
    enabled: bool


class WebhookEndpointUpdate(RootModel[WebhookEndpointChanges]):
    """``PATCH /v1/webhooks/{id}``: only the fields sent change."""


class WebhookRotate(RequestBody):
    grace_period_seconds: Annotated[int, Between(0, ROTATION_GRACE_MAX_SECONDS)] = Field(
        default=ROTATION_GRACE_SECONDS, description="How long the old secret keeps signing too"
    )


class WebhookReplay(RequestBody):
    since: Moment
    until: Moment | None = Field(default=None, description="Defaults to now")


class WebhookListQuery(PageQuery):
    cursor: OptionalQuery[WebhookEndpointId] = None


class DeliveryQuery(PageQuery):
    cursor: OptionalQuery[DeliveryId] = None
    status: OptionalQuery[DeliveryStatus] = Field(default=None, description="pending, succeeded or failed")


class WebhookEndpoint(Identified):
    url: str
    events: list[str]
    session_ids: list[str] | None
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp
    last_success_at: Timestamp | None
    failing_since: Timestamp | None

    @classmethod
    def of(cls, endpoint: EndpointRow) -> Self:
        return cls.model_validate(_endpoint_fields(endpoint))


class WebhookEndpointWithSecret(WebhookEndpoint):
    """The endpoint as created or rotated: the only answers that show the signing secret."""

    secret: str
    previous_secret_expires_at: Timestamp | None

    @classmethod
    def of(cls, endpoint: EndpointRow, secret: str) -> Self:  # type: ignore[override]
        """``secret`` is the plaintext just generated: the row holds only its ciphertext."""
        return cls.model_validate(
            {
                **_endpoint_fields(endpoint),
                "secret": secret,
                "previous_secret_expires_at": endpoint.previous_secret_expires_at,
            }
        )


def _endpoint_fields(endpoint: EndpointRow) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "session_ids": endpoint.session_ids,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "last_success_at": endpoint.last_success_at,
        "failing_since": endpoint.failing_since,
    }


class Attempt(ResponseBody):
    at: WrittenTimestamp
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None
    trigger: DeliveryTrigger


class Delivery(Identified):
    event_id: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: Timestamp | None = Field(description="Only while pending")
    last_status_code: int | None
    attempt_log: list[Attempt]
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, delivery: DeliveryRow) -> Self:
        pending = delivery.status == DeliveryStatus.PENDING
        return cls.model_validate(
            {
                "id": delivery.id,
                "event_id": delivery.event_id,
                "endpoint_id": delivery.endpoint_id,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "next_attempt_at": delivery.next_attempt_at if pending else None,
                "last_status_code": delivery.last_status_code,
                "attempt_log": delivery.attempt_log,
                "created_at": delivery.created_at,
                "updated_at": delivery.updated_at,
            }
        )


class WebhookTestSent(ResponseBody):
    event: Event
    delivery: Delivery


class WebhookReplayed(ResponseBody):
    endpoint_id: str
    since: Timestamp
    until: Timestamp
    replayed: int
