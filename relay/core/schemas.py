"""Typed bodies: what every request and response schema is built from, and how a refusal reads.

Each body is declared once as a pydantic model; the web process validates
requests with it and ``/openapi.json`` is generated from it. A model that
refuses its input becomes the one 422 shape of SPEC (``relay.core.problems``):
``{"field": "media.url", "message": "must be an http or https URL"}``.
Webhook delivery declares its own bodies with the same parts, which is why they
live in the core rather than in the web process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaMode
from pydantic_core import ErrorDetails as PydanticErrorDetails
from pydantic_core import PydanticCustomError, core_schema

from relay.core.enums import EventType
from relay.core.problems import FieldError, Problem
from relay.core.times import isoformat

# Limits every list route shares (SPEC "Shapes").
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


class RequestBody(BaseModel):
    """A JSON request body, checked strictly: ``"60"`` is not an integer and ``true`` is not a number.

    Unknown fields are ignored unless a model forbids them.
    """

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class NullsOmitted(RequestBody):
    """A body where a field sent as ``null`` counts as left out, so it takes its default."""

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class ResponseBody(BaseModel):
    """A JSON answer; ``model_dump_json`` is exactly what goes on the wire."""

    model_config = ConfigDict(frozen=True)


class Identified(ResponseBody):
    """Anything listed: lists are ordered by ``id`` and the last id is the next cursor."""

    id: str


@dataclass(frozen=True, slots=True)
class Between:
    """A number between two bounds, refused as "must be between 1 and 1000" rather than one bound at a time.

    Use as ``Annotated[int, Between(1, 1000)]``: the bounds land in the JSON
    schema as ``minimum`` and ``maximum``, and the check is pydantic's own.
    """

    minimum: float
    maximum: float

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        number = handler(source)
        if number["type"] not in ("int", "float"):
            raise TypeError(f"Between bounds an int or a float, not a {number['type']} schema; put it first")
        bounded: Any = {**number, "ge": self.minimum, "le": self.maximum}
        context = {"minimum": _number(self.minimum), "maximum": _number(self.maximum)}

        def reword(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
            try:
                return validate(value)
            except ValidationError as exc:
                if any(error["type"] in _RANGE_ERRORS for error in exc.errors()):
                    raise PydanticCustomError(
                        "between", "must be between {minimum} and {maximum}", context
                    ) from None
                raise

        return core_schema.no_info_wrap_validator_function(reword, bounded)


_RANGE_ERRORS = {"greater_than_equal", "less_than_equal"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_TIMESTAMP_SCHEMA = {"type": "string", "format": "date-time", "examples": ["2026-11-22T10:00:00.123Z"]}

# Every time Relay writes goes out through relay.core.times.isoformat: 2026-11-22T10:00:00.123Z.
Timestamp = Annotated[
    datetime,
    PlainSerializer(isoformat, return_type=str),
    WithJsonSchema(_TIMESTAMP_SCHEMA, mode="serialization"),
]
# A time stored already written by isoformat (an envelope's created_at, an attempt's at): passed on as is.
WrittenTimestamp = Annotated[str, WithJsonSchema(_TIMESTAMP_SCHEMA)]


def empty_as_none(value: Any) -> Any:
    """For query parameters, where ``?name=`` means the same as leaving ``name`` out."""
    return value or None


OptionalQueryText = Annotated[str | None, BeforeValidator(empty_as_none)]


def _query_integer(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise PydanticCustomError("integer", "must be an integer") from None
    return value


class PageQuery(BaseModel):
    """``?limit=`` and ``?cursor=``: every list route's paging (query strings, so not strict)."""

    model_config = ConfigDict(frozen=True)

    limit: Annotated[int, Between(1, MAX_PAGE_SIZE), BeforeValidator(_query_integer)] = DEFAULT_PAGE_SIZE
    cursor: OptionalQueryText = None


ItemT = TypeVar("ItemT", bound=Identified)


class Page(ResponseBody, Generic[ItemT]):
    """Every list: ``{"data": [...], "next_cursor": "..." | null}``."""

    data: list[ItemT]
    next_cursor: str | None

    @classmethod
    def of(cls, items: list[ItemT], limit: int) -> Self:
        """A full page may have a successor, whose cursor is the last id shown."""
        return cls(data=items, next_cursor=items[-1].id if items and len(items) == limit else None)


class Event(Identified):
    """The envelope, the same on webhooks, the WebSocket feed and ``/v1/events`` (SPEC "Events").

    Validated from what ``relay.core.events.envelope_of`` builds, the one place an event becomes JSON.
    ``seq`` is the event's place in its tenant's commit order: 1, 2, 3... with no gaps.
    """

    seq: int
    type: EventType
    tenant_id: str
    session_id: str | None
    created_at: WrittenTimestamp
    data: dict[str, Any]


def problem_for(error: ValidationError, *, skip: int = 0) -> Problem:
    """The 422 for a refused body; its detail names the first bad field, ``errors`` names them all.

    ``skip`` drops leading location parts that are not fields (a tagged union's tag).
    A check that knows which field it is about says so with ``{"field": ...}`` in its context.
    """
    errors = [FieldError(_field_name(details, skip), _message(details)) for details in error.errors()]
    first = errors[0]
    return Problem(422, f"{first.field}: {first.message}", errors)


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], data: Any, *, skip: int = 0) -> ModelT:
    """``data`` as ``model``, or the 422 ``Problem`` that names what is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise problem_for(exc, skip=skip) from None


def json_schema(shape: Any, *, mode: JsonSchemaMode = "validation") -> dict[str, Any]:
    """The standalone JSON schema of a declared shape (a model class or any type pydantic knows)."""
    return TypeAdapter(shape).json_schema(mode=mode)


def _field_name(details: PydanticErrorDetails, skip: int) -> str:
    context = details.get("ctx") or {}
    if isinstance(context.get("field"), str):
        return str(context["field"])
    # List positions are not field names: a bad item of `events` names `events`.
    parts = [str(part) for part in details["loc"][skip:] if isinstance(part, str)]
    return ".".join(parts) or "body"


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_long": "must be at most {max_length} characters",
    "bool_type": "must be a boolean",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "too_long": "must list at most {max_length} items",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "extra_forbidden": "is not a known field",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
}


def _message(details: PydanticErrorDetails) -> str:
    kind, context = details["type"], details.get("ctx") or {}
    if kind == "string_too_short":
        minimum = context.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"needs {minimum}+ characters"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("literal_error", "enum"):
        # pydantic says "'json', 'png' or 'svg'"; Relay's 422s list the choices as "json, png, svg".
        return "must be one of " + str(context.get("expected", "")).replace("'", "").replace(" or ", ", ")
    template = _MESSAGES.get(kind)
    if template is None:
        return details["msg"]
    return template.format(**context)
