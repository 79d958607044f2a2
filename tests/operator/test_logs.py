"""Logs an operator can ship: RELAY_LOG_FORMAT=json from every process, and never a secret at info."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import websockets
from standardwebhooks import Webhook

from tests.conftest import TenantHandle
from tests.helpers import wait_until, ws_receive
from tests.proxies import RefusingProxy
from tests.sessions import session_status
from tests.test_tour import test_qr_scan_inbound_send_and_acks_over_rest_and_websocket as tour
from tests.webhooks.receiver import Receiver
from tests.workers.private_stack import private_relay

PROXY_PASSWORD = "pr0xy-L0g-S3cret"
# What the tour's messages say (tests/test_tour.py).
MESSAGE_TEXTS = ("hi back", "from the socket")


def json_lines(log_dir: Path) -> list[dict[str, Any]]:
    """Every line every process wrote, each parsed as one JSON object (a line that is not fails)."""
    lines = []
    for log in sorted(log_dir.glob("*.log")):
        for number, text in enumerate(log.read_text(errors="replace").splitlines(), 1):
            try:
                line = json.loads(text)
            except ValueError:
                raise AssertionError(f"{log.name}:{number} is not JSON: {text!r}") from None
            assert isinstance(line, dict), text
            assert {"timestamp", "level", "logger", "message"} <= line.keys(), text
            lines.append(line)
    return lines


async def test_the_tour_with_json_logs_at_info_writes_json_and_no_secret(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    receiver = Receiver()
    await receiver.start()
    secrets: dict[str, str] = {"proxy password": PROXY_PASSWORD}
    async with (
        RefusingProxy() as proxy,
        private_relay(
            relay_env, tmp_path, name="logs", RELAY_LOG_FORMAT="json", RELAY_LOG_LEVEL="info"
        ) as stack,
    ):
        try:
            relay = stack.relay
            api_key = stack.tenant.headers["Authorization"].removeprefix("Bearer ")
            secrets.update({"admin token": relay.admin_token, "API key": api_key})
            me = (await stack.tenant.get("/v1/sessions")).raise_for_status()
            jwt = (await stack.tenant.post("/v1/auth/token", json={})).raise_for_status().json()["token"]
            secrets["JWT"] = jwt
            endpoint = await stack.tenant.post(
                "/v1/webhooks", json={"url": receiver.url("hook"), "events": ["*"]}
            )
            secrets["webhook secret"] = endpoint.json()["secret"]

            # A client's own request id is used and echoed; the feed opened with the JWT in its URL.
            echoed = await stack.tenant.get("/v1/sessions", headers={"X-Request-ID": "req-from-client-1"})
            assert echoed.headers["x-request-id"] == "req-from-client-1"
            # A key pasted into a query string where no route reads it: uvicorn's access line masks it.
            assert (await stack.tenant.get("/v1/events", params={"token": api_key})).status_code == 200
            assert len(me.headers["x-request-id"]) == 26  # a ULID when the client sends none
            async with websockets.connect(f"{relay.ws_url}?token={jwt}") as ws:
                assert (await ws_receive(ws))["type"] == "ready"
                assert ws.response is not None
                feed_request_id = ws.response.headers["x-request-id"]

            # A WhatsApp session behind a proxy with a password: its engine host logs too.
            behind = await stack.tenant.post(
                "/v1/sessions",
                json={"name": "proxied", "proxy": proxy.url(user="alice", password=PROXY_PASSWORD)},
            )
            assert behind.status_code == 201, behind.text
            await proxy.wait_for_request(timeout=30)

            async def reconnecting() -> bool:
                return (await session_status(stack.tenant, behind.json()["id"]))["status"] == "reconnecting"

            await wait_until(reconnecting, timeout=30, what="the proxied session to report the refusal")
            await stack.tenant.post(f"/v1/sessions/{behind.json()['id']}/stop")

            # The tour reads the handle's key and client, not its id.
            await tour(relay, TenantHandle(id="", api_key=api_key, client=stack.tenant))
            delivered = await receiver.wait_for("hook", 3)
            verified = Webhook(secrets["webhook secret"]).verify(delivered[0].body, delivered[0].headers)
            assert verified["type"]
        finally:
            await receiver.stop()
    # The stack has stopped: every process has written its last line.
    lines = json_lines(tmp_path / "logs")
    assert {line["level"] for line in lines} <= {"debug", "info", "warning", "error", "critical"}
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.access", "relay.worker", "relay.engine_host"} <= loggers, loggers
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert all("request_id" in line for line in access)
    assert any(line.get("request_id") == "req-from-client-1" for line in access)
    handshake = [line for line in lines if line.get("request_id") == feed_request_id]
    assert any("WebSocket /v1/ws" in line["message"] for line in handshake), handshake
    assert any("session_id" in line and "tenant_id" in line for line in lines)
    assert any("tenant_id" in line and "/v1/sessions" in line["message"] for line in access)
    assert any("session_id" in line and "/sandbox/scan" in line["message"] for line in access)
    everything = "\n".join(json.dumps(line) for line in lines)
    for what, secret in secrets.items():
        assert secret not in everything, f"the {what} is in the logs"
    for text in MESSAGE_TEXTS:
        assert text not in everything, f"the message text {text!r} is in the logs"
    assert "/v1/ws?token=redacted" in everything  # the feed's ?token= in uvicorn's line, masked
    assert "/v1/events?token=redacted" in everything
