"""RFC 9457 problem details: the one error shape of the REST API and the WebSocket `send`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NotRequired

# pydantic reads TypedDicts from typing_extensions on Python < 3.12 (they document the body in /openapi.json).
from typing_extensions import TypedDict

from relay.core.constants import OUTAGE_RETRY_AFTER

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FieldErrorDetails(TypedDict):
    field: str
    message: str


class ProblemDetails(TypedDict):
    """The body of every error answer (RFC 9457), as ``/openapi.json`` documents it."""

    type: str
    title: str
    status: int
    detail: str
    instance: NotRequired[str]
    errors: NotRequired[list[FieldErrorDetails]]
    # A 429 quota-exceeded names the quota and its limit (relay.core.quotas).
    quota: NotRequired[str]
    limit: NotRequired[int]


@dataclass
class FieldError:
    field: str
    message: str


@dataclass
class Problem(Exception):
    """Raise anywhere in a request; the app turns it into a problem+json response."""

    status: int
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    title: str | None = None
    # Seconds the client should wait before trying again (the ``Retry-After`` header).
    retry_after: int | None = None
    # A URI naming the kind of problem when a client may act on it (RFC 9457 ``type``).
    type: str = "about:blank"
    # The quota a 429 quota-exceeded names, and its limit.
    quota: str | None = None
    limit: int | None = None

    def __str__(self) -> str:
        return self.detail

    def to_dict(self, instance: str | None = None) -> ProblemDetails:
        body: ProblemDetails = {
            "type": self.type,
            "title": self.title or _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        if self.quota is not None:
            body["quota"] = self.quota
        if self.limit is not None:
            body["limit"] = self.limit
        return body


class Dependency(StrEnum):
    """What a request may need besides the web process itself; a 503 names the one that is down."""

    DATABASE = "database"
    REDIS = "redis"


def unavailable(dependency: Dependency) -> Problem:
    """The answer while ``dependency`` is unreachable (SPEC "Outages")."""
    return Problem(
        503,
        f"the {dependency} is unavailable; retry in {OUTAGE_RETRY_AFTER} s",
        retry_after=OUTAGE_RETRY_AFTER,
    )


def not_found(what: str = "resource") -> Problem:
    return Problem(404, f"{what} not found")


def invalid(field_name: str, message: str) -> Problem:
    return Problem(422, f"{field_name}: {message}", [FieldError(field_name, message)])
