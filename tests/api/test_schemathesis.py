"""schemathesis against ``/openapi.json``: every route, real auth, no 5xx, every answer as documented.

Each operation gets ``EXAMPLES`` generated requests (schemathesis' own
positive and negative data), with the token its access needs: the admin token
for admin routes, a tenant API key for tenant routes. Every other request uses
real ids of objects made for the run (a session, a webhook endpoint, a
delivery, a throwaway tenant and key for the admin routes), so the handlers
behind the 404 are exercised too; the rest keep schemathesis' own ids.

Bounded: the example count per operation, no shrinking, and ``BUDGET_SECONDS``
for the whole run (operations left when it runs out are reported as skipped,
not passed: the test fails, so a slow run is seen rather than hidden).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from relay.core.url_guard import UnsafeURL, parse_url
from relay.web.schemas.messages import MAX_URL
from relay.web.schemas.sandbox import MAX_INBOUND_BURST
from relay.web.ws.protocol import SESSION_ID
from tests.stack import RelayStack, free_port

EXAMPLES = 30
BUDGET_SECONDS = 150
# Where generated URLs go instead: a loopback port nobody listens on, so no request leaves the machine.
CLOSED = f"http://127.0.0.1:{free_port()}"
# A sandbox burst is exercised in test_sandbox; generated ones would flood the shared worker.
MAX_BURST = 3
# Rules between fields that a JSON schema cannot state: their 422 to schema-valid input is right.
CROSS_FIELD_RULES = {
    "POST /v1/webhooks/{webhook_id}/replay": "since must not be after until (which defaults to now)",
    "PATCH /v1/sessions/{session_id}/groups/{group_jid}": "subject, description or both must be sent",
    "POST /v1/sessions/{session_id}/groups/{group_jid}/participants": "1 to 50 numbers over the four lists",
    "GET /v1/media/{media_id}": "a Range starting past the end of the file is a 416",
}


@dataclass
class Fixture:
    """The objects whose real ids replace generated ones, and the tokens per access."""

    admin_token: str
    tenant_key: str
    tenant_paths: dict[str, str]
    admin_paths: dict[str, str]


# The fixture's clients sit idle while schemathesis runs; a kept-alive connection the server
# closed meanwhile would reset the next request.
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


def _check(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def objects(stack: RelayStack) -> Iterator[Fixture]:
    admin = httpx.Client(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=30,
        limits=NO_KEEPALIVE,
    )
    tenant = _check(admin.post("/v1/tenants", json={"name": "schemathesis"}))
    key = _check(admin.post(f"/v1/tenants/{tenant['id']}/api-keys", json={"name": "fuzz"}))
    # Admin routes act on a tenant of their own: deleting it must not cut the fuzzing key.
    victim = _check(admin.post("/v1/tenants", json={"name": "victim"}))
    victim_key = _check(admin.post(f"/v1/tenants/{victim['id']}/api-keys", json={}))
    client = httpx.Client(
        base_url=stack.base_url,
        headers={"Authorization": f"Bearer {key['key']}"},
        timeout=30,
        limits=NO_KEEPALIVE,
    )
    session = _check(client.post("/v1/sessions", json={"name": "s", "engine": "sandbox", "start": False}))
    # Named in webhook filters, never in a path: it outlives the run's DELETE /v1/sessions/{id}.
    kept = _check(client.post("/v1/sessions", json={"name": "kept", "engine": "sandbox", "start": False}))
    endpoint = _check(client.post("/v1/webhooks", json={"url": f"{CLOSED}/hook"}))
    delivery = _check(client.post(f"/v1/webhooks/{endpoint['id']}/test"))["delivery"]
    media_id = _stored_media(client)
    try:
        yield Fixture(
            admin_token=stack.admin_token,
            tenant_key=key["key"],
            tenant_paths={
                "session_id": session["id"],
                "webhook_id": endpoint["id"],
                "media_id": media_id,
                "delivery_id": delivery["id"],
                "filtered_session_id": kept["id"],
            },
            admin_paths={"tenant_id": victim["id"], "key_id": victim_key["id"]},
        )
    finally:
        for tenant_id in [tenant["id"], victim["id"]]:
            admin.delete(f"/v1/tenants/{tenant_id}")
        client.close()
        admin.close()


def _poll(what: str, probe: Callable[[], Any]) -> Any:
    for _ in range(200):  # 20 s
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stored_media(client: httpx.Client) -> str:
    """The id of a photo a sandbox contact sent, once stored: GET /v1/media/{media_id} serves it."""
    session = _check(client.post("/v1/sessions", json={"name": "media", "engine": "sandbox"}))
    path = f"/v1/sessions/{session['id']}"
    _poll("a QR", lambda: client.get(path).json()["status"] == "qr")
    _check(client.post(f"{path}/sandbox/scan", json={}))
    _poll("the scan", lambda: client.get(path).json()["status"] == "connected")
    photo = {"from": "15550100002", "type": "image", "media": {"base64": "iVBORw0KGgo="}}
    _check(client.post(f"{path}/sandbox/inbound", json=photo))
    params = {"session_id": session["id"], "type": "message.media"}
    event = _poll("the stored photo", lambda: client.get("/v1/events", params=params).json()["data"])
    return str(event[0]["data"]["media"]["id"])


def _tame(case: Any, real_ids: dict[str, str], use_real_ids: bool) -> None:
    """Real ids on every other request; sendable URLs pointed at loopback; bursts kept small.

    Only what is valid is changed, into something equally valid: a negative case stays negative.
    """
    if use_real_ids and case.path_parameters:
        case.path_parameters = {
            name: real_ids.get(name, value) for name, value in case.path_parameters.items()
        }
    body = case.body
    if not isinstance(body, dict):
        return
    if _sendable(body.get("url")):
        body["url"] = f"{CLOSED}/generated"
    media = body.get("media")
    if isinstance(media, dict) and _sendable(media.get("url")):
        media["url"] = f"{CLOSED}/media"
    if isinstance(body.get("session_ids"), list):
        # A filter may only name the tenant's sessions (else a 422 no schema can express).
        body["session_ids"] = [
            real_ids["filtered_session_id"] if isinstance(item, str) and SESSION_ID.match(item) else item
            for item in body["session_ids"]
        ]
    count = body.get("count")
    if case.path.endswith("/sandbox/inbound") and isinstance(count, int) and 1 <= count <= MAX_INBOUND_BURST:
        body["count"] = min(count, MAX_BURST)


def _sendable(url: Any) -> bool:
    """A URL Relay would fetch or deliver to (the shape both checks share)."""
    if not isinstance(url, str) or len(url) > MAX_URL:
        return False
    try:
        parse_url(url)
    except UnsafeURL:
        return False
    return True


def _fuzz(operation: Any, token: str, real_ids: dict[str, str], excluded: list[Any]) -> None:
    """``EXAMPLES`` positive and negative requests for one operation; raises what schemathesis found."""
    alternate = itertools.cycle([True, False])
    strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        _tame(case, real_ids, next(alternate))
        case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, timeout=40, excluded_checks=excluded
        )

    run()


def test_every_route_answers_as_documented(stack: RelayStack, objects: Fixture) -> None:
    """No 5xx and every answer (status, content type, body) matches /openapi.json, on this backend."""
    # Documented strings hold no NUL (test_unsafe_text sends them on purpose); unknown query
    # parameters are ignored, as documented; the tokens are the test's own.
    config = SchemathesisConfig.from_dict(
        {
            "generation": {
                "allow-x00": False,
                "allow-extra-parameters": False,
                "with-security-parameters": False,
            }
        }
    )
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/openapi.json", config=config)
    deadline = time.monotonic() + BUDGET_SECONDS
    failures: list[str] = []
    skipped: list[str] = []
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/ws":
            continue  # a WebSocket upgrade, fuzzed by tests/fuzz
        if time.monotonic() > deadline:
            skipped.append(operation.label)
            continue
        admin_route = operation.path.startswith("/v1/tenants")
        token = objects.admin_token if admin_route else objects.tenant_key
        real_ids = objects.admin_paths if admin_route else objects.tenant_paths
        excluded = [positive_data_acceptance] if operation.label in CROSS_FIELD_RULES else []
        tried += 1
        try:
            _fuzz(operation, token, real_ids, excluded)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc!r}"[:8000])
    assert tried > 20, "the document lists too few operations"
    assert not failures, "\n\n".join(failures)
    assert not skipped, f"budget of {BUDGET_SECONDS}s ran out before: {skipped}"
