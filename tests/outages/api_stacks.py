"""What the API outage tests share: a Relay of their own on a database and a Redis they can take down,
and one call of every REST route, so a test can say what each answers while a dependency is down and
after it is back.

The suite's shared Postgres/Redis must stay up for every other test, so these stacks get a private
PostgreSQL cluster and a private Valkey (``tests.servers``) and their own ``relay serve`` and
``relay worker``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from relay.core.problems import Dependency
from relay.web.api.operations import operation_of
from tests.api.flows import PROBLEM_JSON, app_routes
from tests.helpers import create_tenant_key, wait_until
from tests.servers import PrivatePostgres, PrivateValkey
from tests.sessions import connected_sandbox_session, events_of, wait_for_status
from tests.stack import RelayStack

# A request waits at most this long for any answer: an outage must be answered, never waited out.
CALL_TIMEOUT = 20.0


@dataclass
class OutageStack:
    postgres: PrivatePostgres
    valkey: PrivateValkey
    relay: RelayStack
    admin: httpx.AsyncClient

    def replace_workers(self) -> None:
        """SIGKILL the worker and start a fresh one: these tests are about the web process, which lives
        through the outage; whether a worker does too is the worker outage tests' business."""
        for worker in self.relay.workers:
            self.relay.kill(worker)
        self.relay.workers.clear()
        self.relay.start_worker()


@asynccontextmanager
async def outage_stack(relay_env: dict[str, str], tmp_path: Path) -> AsyncIterator[OutageStack]:
    """A private Postgres and Valkey, migrated, with one web and one worker process on them."""
    postgres = PrivatePostgres()
    valkey = PrivateValkey(tmp_path / "valkey")
    relay: RelayStack | None = None
    try:
        postgres.start()
        postgres.create_database()
        valkey.start()
        env = {
            **relay_env,
            "DATABASE_URL": postgres.url,
            "REDIS_URL": valkey.url,
            "RELAY_DATA_DIR": str(tmp_path / "data"),
        }
        migrate = [sys.executable, "-m", "relay", "migrate"]
        await asyncio.to_thread(subprocess.run, migrate, env=env, check=True, capture_output=True, timeout=60)
        (tmp_path / "logs").mkdir()
        relay = RelayStack(env=env, log_dir=tmp_path / "logs")
        relay.start_web()
        relay.start_worker()
        headers = {"Authorization": f"Bearer {relay.admin_token}"}
        async with httpx.AsyncClient(base_url=relay.base_url, headers=headers, timeout=CALL_TIMEOUT) as admin:
            yield OutageStack(postgres, valkey, relay, admin)
    finally:
        if relay is not None:
            relay.stop_all()
        valkey.destroy()
        postgres.destroy()


async def wait_ready(client: httpx.AsyncClient, timeout: float = 30) -> None:
    """``/readyz`` answers 200 again (both dependencies reachable from the web process)."""

    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await wait_until(ready, timeout=timeout, interval=0.2, what="/readyz to answer 200")


def assert_unavailable(response: httpx.Response, dependency: Dependency) -> dict[str, Any]:
    """A 503 problem+json naming ``dependency``, with a Retry-After in whole seconds."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == 503, (where, response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), where
    assert int(response.headers["retry-after"]) > 0, where
    problem: dict[str, Any] = response.json()
    assert problem["status"] == 503 and dependency in problem["detail"], (where, problem)
    return problem


@dataclass(frozen=True)
class RouteCall:
    """One call of a declared route, and what it answers when everything is up."""

    method: str
    route: str  # the declared path, e.g. "/v1/sessions/{session_id}"
    path: str  # the path called
    ok: frozenset[int]
    admin: bool = False
    body: dict[str, Any] | None = None

    async def call(self, tenant: httpx.AsyncClient, admin: httpx.AsyncClient) -> httpx.Response:
        client = admin if self.admin else tenant
        return await client.request(self.method, self.path, json=self.body)


def declared_needs() -> dict[tuple[str, str], frozenset[Dependency]]:
    """Every declared REST route and what it says it needs (``operations.Routes``)."""
    return {
        (operation.method, operation.path): operation.needs
        for route in app_routes()
        if (operation := operation_of(route)) is not None
    }


@dataclass
class Tenancy:
    """A tenant set up so that one call of every route succeeds, in ``route_calls`` order.

    Objects a call destroys or moves on (a deleted key, a logged-out session) are made afresh by
    ``prepare`` for each round of calls.
    """

    admin: httpx.AsyncClient
    tenant_id: str = ""
    api_key: str = ""
    client: httpx.AsyncClient = field(init=False)
    ids: dict[str, str] = field(default_factory=dict)

    async def create(self, base_url: str) -> None:
        created = await create_tenant_key(self.admin, "outages", key_name="tests")
        self.tenant_id, self.api_key = created.tenant_id, created.api_key
        headers = {"Authorization": f"Bearer {self.api_key}"}
        self.client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=CALL_TIMEOUT)
        self.ids["connected"] = (await connected_sandbox_session(self.client, "connected"))["id"]
        endpoint = {"url": "http://127.0.0.1:9/hook", "events": ["webhook.test"]}
        self.ids["webhook"] = (await self._post("/v1/webhooks", endpoint))["id"]
        self.ids["message"] = (await self._post(self._send_path(), self._message()))["id"]
        self.ids["delivery"] = (await self._post(f"/v1/webhooks/{self.ids['webhook']}/test", {}))["delivery"][
            "id"
        ]
        self.ids["media"] = await self._stored_media()

    async def close(self) -> None:
        await self.client.aclose()

    async def prepare(self) -> None:
        """Fresh objects for the calls that destroy or move on theirs; the connected session connected."""
        other = (await self.admin.post("/v1/tenants", json={"name": "doomed"})).raise_for_status().json()
        self.ids["doomed_tenant"] = other["id"]
        key = await self.admin.post(f"/v1/tenants/{self.tenant_id}/api-keys", json={"name": "doomed"})
        self.ids["doomed_key"] = key.raise_for_status().json()["id"]
        self.ids["doomed_session"] = (await self._post("/v1/sessions", self._session(start=False)))["id"]
        self.ids["stopped"] = (await self._post("/v1/sessions", self._session(start=False)))["id"]
        waiting = (await self._post("/v1/sessions", self._session(start=True)))["id"]
        self.ids["waiting"] = waiting
        endpoint = {"url": "http://127.0.0.1:9/doomed", "events": ["webhook.test"]}
        self.ids["doomed_webhook"] = (await self._post("/v1/webhooks", endpoint))["id"]
        self.ids["unlinking"] = (await connected_sandbox_session(self.client, "unlinking"))["id"]
        await wait_for_status(self.client, waiting, "qr")
        await wait_for_status(self.client, self.ids["connected"], "connected")
        # A group of the connected session: the group routes read, change and finally leave it.
        group = await self._post(f"/v1/sessions/{self.ids['connected']}/groups", {"subject": "outages"})
        self.ids["group"] = group["jid"]

    async def _stored_media(self) -> str:
        """The id of a photo a contact sent, once its bytes are stored (GET /v1/media/{id} serves it)."""
        photo = {"from": "15550004321", "type": "image", "media": {"base64": "iVBORw0KGgo="}}
        await self._post(f"/v1/sessions/{self.ids['connected']}/sandbox/inbound", photo)

        async def stored() -> str | None:
            events = await events_of(self.client, self.ids["connected"], "message.media")
            return next((str(e["data"]["media"]["id"]) for e in events), None)

        return await wait_until(stored, timeout=20, what="the photo's media stored")

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(path, json=body)
        assert response.status_code in (200, 201, 202), (path, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    def _send_path(self) -> str:
        return f"/v1/sessions/{self.ids['connected']}/messages"

    @staticmethod
    def _message() -> dict[str, Any]:
        return {"to": "15550001234", "type": "text", "text": "hello"}

    @staticmethod
    def _session(*, start: bool) -> dict[str, Any]:
        return {"name": "outages", "engine": "sandbox", "start": start}

    def route_calls(self) -> list[RouteCall]:
        """One call of every declared route except the probes, in an order where each succeeds."""
        ids = self.ids
        tenant, key, doomed = self.tenant_id, ids["doomed_key"], ids["doomed_tenant"]
        connected, waiting, stopped = ids["connected"], ids["waiting"], ids["stopped"]
        webhook, delivery = ids["webhook"], ids["delivery"]

        def call(method: str, route: str, ok: int | tuple[int, ...], **params: Any) -> RouteCall:
            body = params.pop("body", None)
            admin = params.pop("admin", False)
            statuses = frozenset(ok if isinstance(ok, tuple) else (ok,))
            return RouteCall(method, route, route.format(**params), statuses, admin, body)

        sandbox = "/v1/sessions/{session_id}/sandbox/"
        group_path = "/v1/sessions/{session_id}/groups/{group_jid}"
        return [
            call("POST", "/v1/tenants", 201, admin=True, body={"name": "more"}),
            call("GET", "/v1/tenants", 200, admin=True),
            call("GET", "/v1/tenants/{tenant_id}", 200, admin=True, tenant_id=tenant),
            call(
                "PATCH",
                "/v1/tenants/{tenant_id}",
                200,
                admin=True,
                tenant_id=tenant,
                body={"max_webhooks": None},
            ),
            call("POST", "/v1/tenants/{tenant_id}/api-keys", 201, admin=True, tenant_id=tenant, body={}),
            call("GET", "/v1/tenants/{tenant_id}/api-keys", 200, admin=True, tenant_id=tenant),
            call("GET", "/v1/tenants/{tenant_id}/sessions", 200, admin=True, tenant_id=tenant),
            call("GET", "/v1/stats", 200),
            call("GET", "/v1/tenant", 200),
            call(
                "DELETE",
                "/v1/tenants/{tenant_id}/api-keys/{key_id}",
                204,
                admin=True,
                tenant_id=tenant,
                key_id=key,
            ),
            call("DELETE", "/v1/tenants/{tenant_id}", 204, admin=True, tenant_id=doomed),
            call("POST", "/v1/auth/token", 201, body={}),
            call("POST", "/v1/sessions", 201, body=self._session(start=False)),
            call("GET", "/v1/sessions", 200),
            call("GET", "/v1/sessions/{session_id}", 200, session_id=connected),
            call("PATCH", "/v1/sessions/{session_id}", 200, session_id=connected, body={"name": "renamed"}),
            call("DELETE", "/v1/sessions/{session_id}", 204, session_id=ids["doomed_session"]),
            call("POST", "/v1/sessions/{session_id}/start", 202, session_id=stopped),
            call("POST", "/v1/sessions/{session_id}/stop", 202, session_id=stopped),
            call("POST", "/v1/sessions/{session_id}/logout", 202, session_id=stopped),
            call("GET", "/v1/sessions/{session_id}/qr", 200, session_id=waiting),
            call(
                "POST",
                "/v1/sessions/{session_id}/pair-code",
                200,
                session_id=waiting,
                body={"phone": "15550009999"},
            ),
            call("POST", sandbox + "scan", 202, session_id=waiting, body={}),
            call("POST", sandbox + "logout", 202, session_id=ids["unlinking"]),
            # 201 when the worker answers within RELAY_SEND_WAIT, else 202 (queued): both are accepted sends.
            call(
                "POST",
                "/v1/sessions/{session_id}/messages",
                (201, 202),
                session_id=connected,
                body=self._message(),
            ),
            call("GET", "/v1/sessions/{session_id}/messages", 200, session_id=connected),
            call("GET", "/v1/messages/{message_id}", 200, message_id=ids["message"]),
            call(
                "POST",
                sandbox + "inbound",
                202,
                session_id=connected,
                body={"from": "15550004321", "text": "hi"},
            ),
            call(
                "POST",
                "/v1/sessions/{session_id}/contacts/check",
                200,
                session_id=connected,
                body={"phones": ["15550004321"]},
            ),
            call(
                "POST",
                "/v1/sessions/{session_id}/read",
                200,
                session_id=connected,
                body={"chat": "15550004321", "message_ids": ["3EB0AA"]},
            ),
            call(
                "POST",
                "/v1/sessions/{session_id}/presence",
                200,
                session_id=connected,
                body={"chat": "15550004321", "state": "typing"},
            ),
            call("POST", sandbox + "seen", 202, session_id=connected),
            call(
                "POST",
                sandbox + "join-group",
                202,
                session_id=connected,
                body={"from": "15550004321", "subject": "Theirs"},
            ),
            call("GET", "/v1/sessions/{session_id}/groups", 200, session_id=connected),
            call(
                "POST",
                "/v1/sessions/{session_id}/groups",
                201,
                session_id=connected,
                body={"subject": "More"},
            ),
            call("GET", group_path, 200, session_id=connected, group_jid=ids["group"]),
            call(
                "PATCH",
                group_path,
                200,
                session_id=connected,
                group_jid=ids["group"],
                body={"subject": "New"},
            ),
            call(
                "POST",
                group_path + "/participants",
                200,
                session_id=connected,
                group_jid=ids["group"],
                body={"add": ["15550004321"]},
            ),
            call("GET", group_path + "/invite-link", 200, session_id=connected, group_jid=ids["group"]),
            call("POST", group_path + "/leave", 200, session_id=connected, group_jid=ids["group"]),
            call("GET", "/v1/media/{media_id}", 200, media_id=ids["media"]),
            call("POST", sandbox + "drop", 202, session_id=connected),
            call("GET", "/v1/events", 200),
            call(
                "POST",
                "/v1/webhooks",
                201,
                body={"url": "http://127.0.0.1:9/more", "events": ["webhook.test"]},
            ),
            call("GET", "/v1/webhooks", 200),
            call("GET", "/v1/webhooks/{webhook_id}", 200, webhook_id=webhook),
            call(
                "PATCH", "/v1/webhooks/{webhook_id}", 200, webhook_id=webhook, body={"description": "patched"}
            ),
            call("POST", "/v1/webhooks/{webhook_id}/rotate-secret", 200, webhook_id=webhook, body={}),
            call("POST", "/v1/webhooks/{webhook_id}/test", 202, webhook_id=webhook, body={}),
            call("GET", "/v1/webhooks/{webhook_id}/deliveries", 200, webhook_id=webhook),
            call(
                "POST",
                "/v1/webhooks/{webhook_id}/replay",
                202,
                webhook_id=webhook,
                body={"since": "2020-01-01T00:00:00Z"},
            ),
            call("GET", "/v1/deliveries/{delivery_id}", 200, delivery_id=delivery),
            call("POST", "/v1/deliveries/{delivery_id}/retry", 202, delivery_id=delivery),
            call("DELETE", "/v1/webhooks/{webhook_id}", 204, webhook_id=ids["doomed_webhook"]),
        ]

    async def call_all(self) -> list[tuple[RouteCall, httpx.Response]]:
        return [(call, await call.call(self.client, self.admin)) for call in self.route_calls()]


async def the_inbound_message_reached_the_ledger(tenancy: Tenancy) -> None:
    """The one inbound text of the route calls (sent after the outage) is in the ledger, once."""

    async def received() -> list[str] | None:
        events = await events_of(tenancy.client, tenancy.ids["connected"], "message.received")
        texts = [event["data"]["text"] for event in events if event["data"]["type"] == "text"]
        return texts or None

    assert await wait_until(received, timeout=20, what="the inbound message in the ledger") == ["hi"]


def assert_covers_every_route(calls: list[RouteCall]) -> None:
    """The calls exercise every declared route that needs a dependency (a new route joins the table)."""
    needing = {route for route, needs in declared_needs().items() if needs} - {("GET", "/readyz")}
    assert needing - {(call.method, call.route) for call in calls} == set()
