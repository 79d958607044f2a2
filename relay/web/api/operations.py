"""Route declarations: each REST route says once who may call it, what it takes and what it answers.

A handler is declared next to its code::

    @routes.add("POST", "/v1/sessions", "Create a session", takes=SessionCreate, returns=Session, status=201)
    async def create_session(call: Call[SessionCreate]) -> Session: ...

and that one declaration is everything about the route: the Starlette route,
the authorization (401/403), the body or query parsed with the declared model
(400 malformed JSON, 413 from the body-limit middleware, 422 naming the field),
the answer encoded with the declared type and status, and the route's entry in
``/openapi.json`` (``relay.web.api.openapi``). A route therefore cannot accept
one shape and document another.

It also says what the route needs besides the web process (``needs``): while
one of them is unreachable the route answers 503 with ``Retry-After``
(``middleware.DependencyOutageMiddleware``), which ``/openapi.json`` documents,
and a route that does not need Redis keeps working while Redis is down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter
from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from relay.core.config import Settings
from relay.core.logging_setup import bind_log_context
from relay.core.problems import Dependency, Problem, invalid
from relay.core.schemas import load_json, parse
from relay.web.api.path_ids import path_id
from relay.web.auth import API_KEY_PREFIX, Principal

InputT = TypeVar("InputT", covariant=True)
AnswerT = TypeVar("AnswerT")
BODY_METHODS = frozenset({"POST", "PATCH"})

# What routes need besides the web process. Every /v1 route needs the database (tokens are checked there).
NOTHING: frozenset[Dependency] = frozenset()
DATABASE = frozenset({Dependency.DATABASE})
DATABASE_AND_REDIS = frozenset({Dependency.DATABASE, Dependency.REDIS})


class Access(Enum):
    """Who may call a route. ``/v1`` routes always need a token (``middleware.BearerAuthMiddleware``)."""

    PUBLIC = "public"
    ADMIN = "admin"
    TENANT = "tenant"
    # A tenant calling with an API key itself, not a JWT minted from one.
    TENANT_API_KEY = "tenant_api_key"
    # Any valid token, the admin's included: the handler scopes the answer by the caller.
    ANY_TOKEN = "any_token"


class Call(Generic[InputT]):
    """One request as a handler sees it: the caller, the validated input, the path."""

    def __init__(self, request: Request, principal: Principal | None, input: InputT, raw_body: Any) -> None:
        self.request = request
        self._principal = principal
        self._input = input
        self._raw_body = raw_body

    @property
    def caller(self) -> Principal:
        if self._principal is None:
            raise TypeError("public routes have no caller")
        return self._principal

    @property
    def input(self) -> InputT:
        """The declared ``takes`` model: the JSON body, or for GET and DELETE the query string."""
        return self._input

    @property
    def raw_body(self) -> dict[str, Any]:
        """The body as a JSON object, not yet checked (for ``check_body_later`` routes)."""
        if not isinstance(self._raw_body, dict):
            raise TypeError("this route reads no JSON body")
        return self._raw_body

    @property
    def tenant_id(self) -> str:
        if self.caller.tenant_id is None:
            raise TypeError("only tenant routes have a tenant")
        return self.caller.tenant_id

    @property
    def redis(self) -> Redis:
        redis: Redis = self.request.state.redis
        return redis

    @property
    def settings(self) -> Settings:
        settings: Settings = self.request.state.settings
        return settings

    def path(self, name: str) -> str:
        """A path parameter, checked: a malformed id is a 404 (``path_ids``)."""
        value = path_id(name, self.request.path_params[name])
        if name == "session_id":
            bind_log_context(session=value)  # the request's log lines, its access line included
        return value


@dataclass(frozen=True, slots=True)
class Reply(Generic[AnswerT]):
    """An answer with another of the route's declared statuses (``also``)."""

    value: AnswerT
    status: int


Handler = Callable[[Call[InputT]], Awaitable[AnswerT | Reply[AnswerT] | Response | None]]


@dataclass(frozen=True, eq=False)
class Operation:
    """A declared route; ``route()`` serves it and ``relay.web.api.openapi`` documents it."""

    method: str
    path: str
    summary: str
    tag: str
    access: Access
    handler: Handler[Any, Any]
    # The JSON body for POST and PATCH, the query string for GET and DELETE.
    takes: type[BaseModel] | None = None
    returns: Any = None
    status: int = 200
    # Further statuses answered with the same body (``Reply``), with what each means.
    also: Mapping[int, str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    # A body may be left out entirely; the model's defaults apply.
    optional_body: bool = False
    # The handler hands ``call.raw_body`` to a service that checks it with ``takes`` itself, after the
    # lookups that must answer first (a foreign id is a 404 whatever the body says).
    check_body_later: bool = False
    # Other media types the success answer may have, with their schemas.
    content: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # Documented parameters beyond the path and the ``takes`` query (headers).
    parameters: Sequence[dict[str, Any]] = ()
    # Dependencies whose outage makes the route answer 503.
    needs: frozenset[Dependency] = DATABASE

    @property
    def takes_body(self) -> bool:
        return self.takes is not None and self.method in BODY_METHODS

    @property
    def takes_query(self) -> bool:
        return self.takes is not None and self.method not in BODY_METHODS

    def route(self) -> Route:
        # A bound method is what Starlette wraps as a request -> response endpoint.
        return Route(self.path, self.respond, methods=[self.method], name=self.handler.__name__)

    async def respond(self, request: Request) -> Response:
        principal = _authorize(request, self.access)
        raw_body = await read_json_object(request, optional=self.optional_body) if self.takes_body else None
        call = Call(request, principal, self._input(request, raw_body), raw_body)
        return self._answer(await self.handler(call))

    def _input(self, request: Request, raw_body: dict[str, Any] | None) -> Any:
        if self.takes is None or self.check_body_later:
            return None
        if self.takes_body:
            return parse(self.takes, raw_body)
        return parse(self.takes, dict(request.query_params))

    def _answer(self, result: object) -> Response:
        if isinstance(result, Response):
            return result
        status = self.status
        if isinstance(result, Reply):
            status, result = result.status, result.value
        if result is None:
            return Response(status_code=status)
        return Response(self._encoder.dump_json(result), status_code=status, media_type=JSON)

    @cached_property
    def _encoder(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.returns)


JSON = "application/json"


class Routes:
    """The declared routes of one resource, sharing a tag (their OpenAPI group) and an access rule."""

    def __init__(self, *, tag: str, access: Access, needs: frozenset[Dependency] = DATABASE) -> None:
        self.tag = tag
        self.access = access
        self.needs = needs
        self.operations: list[Operation] = []

    def add(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        takes: type[InputT] | None = None,
        returns: type[AnswerT] | None = None,
        status: int = 200,
        also: Mapping[int, str] | None = None,
        errors: tuple[int, ...] = (),
        optional_body: bool = False,
        check_body_later: bool = False,
        content: Mapping[str, dict[str, Any]] | None = None,
        parameters: Sequence[dict[str, Any]] = (),
        needs: frozenset[Dependency] | None = None,
    ) -> Callable[[Handler[InputT, AnswerT]], Handler[InputT, AnswerT]]:
        """Declare the decorated handler as ``method path``; ``needs`` defaults to the group's."""
        if takes is not None and not (isinstance(takes, type) and issubclass(takes, BaseModel)):
            raise TypeError(f"{method} {path}: takes must be a pydantic model")

        def declare(handler: Handler[InputT, AnswerT]) -> Handler[InputT, AnswerT]:
            self.operations.append(
                Operation(
                    method=method,
                    path=path,
                    summary=summary,
                    tag=self.tag,
                    access=self.access,
                    handler=handler,
                    takes=takes,
                    returns=returns,
                    status=status,
                    also=also or {},
                    errors=errors,
                    optional_body=optional_body,
                    check_body_later=check_body_later,
                    content=content or {},
                    parameters=parameters,
                    needs=self.needs if needs is None else needs,
                )
            )
            return handler

        return declare

    def routes(self) -> list[BaseRoute]:
        return [operation.route() for operation in self.operations]


def operation_of(route: BaseRoute) -> Operation | None:
    """The declaration behind a route of the app, if it is a declared REST route."""
    if isinstance(route, Route):
        owner = getattr(route.endpoint, "__self__", None)
        if isinstance(owner, Operation):
            return owner
    return None


def _authorize(request: Request, access: Access) -> Principal | None:
    if access is Access.PUBLIC:
        return None
    principal: Principal | None = request.scope.get("principal")
    if principal is None:
        raise Problem(401, "missing or invalid bearer token")
    if access is Access.ANY_TOKEN:
        return principal
    if access is Access.ADMIN:
        if not principal.is_admin:
            raise Problem(403, "this route needs the admin token")
        return principal
    if principal.tenant_id is None:
        raise Problem(403, "this route needs a tenant API key or tenant token")
    if access is Access.TENANT_API_KEY:
        # A JWT may not mint its successor: a leaked browser token must expire for good.
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if not token.startswith(API_KEY_PREFIX):
            raise Problem(403, "tokens are issued to API keys only")
    return principal


async def read_json_object(request: Request, *, optional: bool) -> dict[str, Any]:
    """The body as a JSON object: 400 when it is not JSON, 422 when it is not an object."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise Problem(400, "request body must be a JSON object")
    try:
        body = load_json(raw)
    except ValueError as exc:
        raise Problem(400, f"malformed JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body
