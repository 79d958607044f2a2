"""Typed bodies: what every request and response schema is built from, and how a refusal reads.

Each body is declared once as a pydantic model; the web process validates
requests with it and ``/openapi.json`` is generated from it. A model that
refuses its input becomes the one 422 shape of SPEC (``relay.core.problems``):
``{"field": "media.url", "message": "must be an http or https URL"}``.
Webhook delivery declares its own bodies with the same parts, which is why they
live in the core rather than in the web process.

Every input goes through ``parse``, which first refuses text no database can
store faithfully (NUL, lone surrogates) wherever it sits in the input, so no
route can forget to; ids are declared as ``SessionId``, ``EventId``... so a
malformed one is a 422 before any query runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
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
from relay.core.problems import FieldError, Problem, invalid
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
    An integer written as ``60.0`` is the integer 60, as JSON Schema counts it;
    ``1.5`` is still refused.
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

        integer = number["type"] == "int"

        def reword(value: Any, validate: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if integer and isinstance(value, float) and value.is_integer():
                value = int(value)
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


@dataclass(frozen=True, slots=True)
class EmptyMeansOmitted:
    """``?name=`` counts as leaving ``name`` out, and the JSON schema says so (an empty string is allowed)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(empty_as_none, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        documented = handler(schema)
        empty = {"type": "string", "maxLength": 0}
        if "anyOf" in documented:
            return {**documented, "anyOf": [*documented["anyOf"], empty]}
        return {"anyOf": [documented, empty]}


QueryT = TypeVar("QueryT")
# A query parameter that may be left out or sent empty: ``OptionalQuery[SessionId]``.
OptionalQuery = Annotated[QueryT | None, EmptyMeansOmitted()]
OptionalQueryText = OptionalQuery[str]


@dataclass(frozen=True, slots=True)
class RelayId:
    """A Relay id: ``prefix_`` and a 26-character ULID (``relay.core.ids``), e.g. ``ses_01JD...``.

    Use through the aliases below. A malformed id is refused as "must be a session
    id (ses_...)" before it reaches a query (where an over-long one would fail the
    column's length check), and the pattern is in the JSON schema.
    """

    prefix: str
    noun: str

    @property
    def pattern(self) -> str:
        return f"^{self.prefix}_{_ULID}$"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        well_formed = re.compile(self.pattern)
        context = {"noun": self.noun, "prefix": self.prefix}

        def check(value: str) -> str:
            if not well_formed.match(value):
                raise PydanticCustomError("relay_id", "must be {noun} id ({prefix}_...)", context)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), "pattern": self.pattern}


# Crockford base32, as relay.core.ids writes it.
_ULID = "[0-9A-HJKMNP-TV-Z]{26}"
TenantId = Annotated[str, RelayId("ten", "a tenant")]
ApiKeyId = Annotated[str, RelayId("key", "an API key")]
SessionId = Annotated[str, RelayId("ses", "a session")]
MessageId = Annotated[str, RelayId("msg", "a message")]
EventId = Annotated[str, RelayId("evt", "an event")]
WebhookEndpointId = Annotated[str, RelayId("whk", "a webhook endpoint")]
DeliveryId = Annotated[str, RelayId("dlv", "a delivery")]
MediaId = Annotated[str, RelayId("med", "a media file")]


def _query_integer(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise PydanticCustomError("integer", "must be an integer") from None
    return value


class PageQuery(BaseModel):
    """``?limit=`` and ``?cursor=``: every list route's paging (query strings, so not strict).

    Each list narrows ``cursor`` to the id of what it lists (``cursor: OptionalQuery[SessionId]``):
    a cursor is the last id of the previous page, so anything else cannot be one.
    """

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
    """``data`` as ``model``, or the 422 ``Problem`` that names what is wrong.

    Text no database stores faithfully is refused first, wherever it is (``refuse_unsafe_text``).
    """
    refuse_unsafe_text(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise problem_for(exc, skip=skip) from None


NUL_REFUSED = "must not contain the NUL character (\\u0000)"
SURROGATE_REFUSED = "must not contain lone surrogates (\\ud800-\\udfff)"


def text_flaw(value: str) -> str | None:
    """Why ``value`` cannot be stored as it is, or None.

    Postgres refuses NUL in text (the query fails) and no UTF-8 database can
    store a lone surrogate; SQLite would keep a NUL, so the rule is the same on
    both rather than a 500 on one and a silent difference on the other.
    """
    if "\x00" in value:
        return NUL_REFUSED
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_REFUSED
    return None


def unsafe_text(data: Any, where: tuple[str, ...] = ()) -> list[FieldError]:
    """Every string in ``data`` (values and names, at any depth) that ``text_flaw`` refuses."""
    if isinstance(data, str):
        flaw = text_flaw(data)
        return [FieldError(".".join(where) or "body", flaw)] if flaw else []
    found: list[FieldError] = []
    if isinstance(data, dict):
        for key, value in data.items():
            name = str(key)
            flaw = text_flaw(name)
            if flaw:
                # The name itself cannot be echoed back: the error names where it sits.
                found.append(FieldError(".".join(where) or "body", "field names " + flaw))
            else:
                found += unsafe_text(value, (*where, name))
    elif isinstance(data, list | tuple):
        # As for other refusals, a bad item of a list names the list.
        for item in data:
            found += unsafe_text(item, where)
    return found


def refuse_unsafe_text(data: Any) -> None:
    """Raise the 422 naming every field of ``data`` that holds NUL or a lone surrogate."""
    errors = unsafe_text(data)
    if errors:
        raise Problem(422, f"{errors[0].field}: {errors[0].message}", errors)


def check_text(field_name: str, value: str) -> str:
    """``value`` when it can be stored, else the 422 naming ``field_name`` (a header, a path part)."""
    flaw = text_flaw(value)
    if flaw:
        raise invalid(field_name, flaw)
    return value


def load_json(raw: str | bytes) -> Any:
    """JSON text as Python values; ``ValueError`` when it is not JSON.

    orjson refuses a lone surrogate escape (``"\\ud800"``), which is valid JSON;
    such a document is decoded again by the standard library so that the text
    check can name the field, as it does for ``"\\u0000"``, instead of calling
    the whole body malformed.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise
        try:
            return json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise exc from None


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; orjson refuses them and so must the second decoder.
    raise ValueError(f"{name} is not JSON")


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
