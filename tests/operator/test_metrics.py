"""What Prometheus scrapes: a worker's own /metrics and the web's cluster-wide gauges."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

from tests.helpers import wait_until
from tests.operator.scrape import family_names, sample, scrape
from tests.proxies import RefusingProxy
from tests.sessions import connected_sandbox_session
from tests.stack import free_port, wait_http_ok
from tests.webhooks.receiver import Receiver, Reply
from tests.workers.private_stack import private_relay


async def test_one_story_shows_on_the_worker_and_web_metrics(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    worker_metrics = f"http://127.0.0.1:{port}/metrics"
    receiver = Receiver()
    receiver.script("failing", then=Reply(status=500))
    await receiver.start()
    # A failed first attempt waits ten minutes for its retry: the delivery stays pending meanwhile.
    async with private_relay(
        relay_env,
        tmp_path,
        name="metrics",
        RELAY_WORKER_METRICS_PORT=str(port),
        RELAY_WEBHOOK_RETRY_SCHEDULE="0,600",
    ) as stack:
        try:
            client, web_metrics = stack.tenant, f"{stack.relay.base_url}/metrics"
            ok = (await client.post("/v1/webhooks", json={"url": receiver.url("ok"), "events": ["*"]})).json()
            session = await connected_sandbox_session(client)
            sid = session["id"]
            inbound = {"from": "15557654321", "text": "hello"}
            assert (await client.post(f"/v1/sessions/{sid}/sandbox/inbound", json=inbound)).status_code == 202
            sent = await client.post(
                f"/v1/sessions/{sid}/messages", json={"to": "15557654321", "type": "text", "text": "hi"}
            )
            assert sent.status_code == 201 and sent.json()["status"] == "sent", sent.text
            await receiver.wait_for("ok", 5)  # two statuses, the inbound message, the sent one and its acks

            async def delivered() -> str | None:
                text = await scrape(worker_metrics)
                succeeded = sample(text, "relay_webhook_attempts_total", outcome="success") or 0
                return text if succeeded >= 5 else None

            worker = await wait_until(delivered, timeout=20, what="the attempts on the worker's /metrics")
            assert (sample(worker, "relay_webhook_attempt_seconds_count") or 0) >= 5
            assert sample(worker, "relay_session_links_total", outcome="scanned") == 1
            assert sample(worker, "relay_messages_total", direction="inbound") == 1
            assert sample(worker, "relay_messages_total", direction="outbound") == 1
            assert (sample(worker, "relay_events_published_total", type="message.received") or 0) == 1
            assert sample(worker, "relay_worker_sessions", status="connected") == 1
            assert sample(worker, "relay_worker_sessions", status="qr") == 0
            assert sample(worker, "relay_command_seconds_count", kind="send") == 1
            assert sample(worker, "relay_engine_hosts") == 0  # sandbox sessions run in the worker

            await client.delete(f"/v1/webhooks/{ok['id']}")
            failing = await client.post(
                "/v1/webhooks", json={"url": receiver.url("failing"), "events": ["*"]}
            )
            assert (await client.post(f"/v1/webhooks/{failing.json()['id']}/test")).status_code in (200, 202)
            await receiver.wait_for("failing", 1)

            async def pending() -> str | None:
                text = await scrape(web_metrics)
                # The test event at least; late acks of the message may be pending beside it.
                return text if (sample(text, "relay_webhook_deliveries_pending") or 0) >= 1 else None

            web = await wait_until(pending, timeout=20, what="the pending gauge on the web's /metrics")
            assert (sample(web, "relay_webhook_oldest_pending_seconds") or 0) > 0
            assert sample(web, "relay_sessions", status="connected") == 1
            assert sample(web, "relay_sessions", status="failed") == 0
            assert sample(web, "relay_ws_connections") == 0
            assert sample(web, "relay_ws_slow_consumer_closes_total") == 0
            worker = await scrape(worker_metrics)
            assert (sample(worker, "relay_webhook_attempts_total", outcome="failure") or 0) >= 1
        finally:
            await receiver.stop()


async def test_an_expired_qr_counts_as_an_expired_link(relay_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    async with private_relay(
        relay_env, tmp_path, name="links", RELAY_WORKER_METRICS_PORT=str(port), RELAY_SANDBOX_QR_TIMEOUT="1"
    ) as stack:
        await asyncio.to_thread(wait_http_ok, f"http://127.0.0.1:{port}/metrics", stack.relay.workers[0])
        created = await stack.tenant.post("/v1/sessions", json={"name": "unscanned", "engine": "sandbox"})
        assert created.status_code == 201

        async def expired() -> float | None:
            text = await scrape(f"http://127.0.0.1:{port}/metrics")
            return sample(text, "relay_session_links_total", outcome="expired")

        assert await wait_until(expired, timeout=20, what="the expired link on /metrics") == 1


async def test_engine_hosts_show_their_sessions_descriptors_and_memory(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    async with (
        RefusingProxy() as proxy,
        private_relay(relay_env, tmp_path, name="hosts", RELAY_WORKER_METRICS_PORT=str(port)) as stack,
    ):
        # A real WhatsApp session, offline: its engine host dials through a proxy that refuses.
        created = await stack.tenant.post(
            "/v1/sessions", json={"name": "real", "engine": "whatsapp", "proxy": proxy.url()}
        )
        assert created.status_code == 201, created.text
        await proxy.wait_for_request(timeout=30)
        text = await scrape(f"http://127.0.0.1:{port}/metrics")
        assert sample(text, "relay_engine_hosts") == 1
        assert sample(text, "relay_engine_host_sessions") == 1
        assert (sample(text, "relay_engine_host_open_fds") or 0) > 3
        assert (sample(text, "relay_engine_host_resident_bytes") or 0) > 10 * 2**20
        assert sample(text, "relay_worker_sessions", status="connected") == 0
        await stack.tenant.post(f"/v1/sessions/{created.json()['id']}/stop")


async def test_a_taken_metrics_port_leaves_the_worker_working(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with private_relay(
            relay_env, tmp_path, name="taken", RELAY_WORKER_METRICS_PORT=str(port)
        ) as stack:
            session = await connected_sandbox_session(stack.tenant)
            assert session["status"] == "connected"
            worker_log = stack.relay.workers[0].log_path.read_text()  # type: ignore[attr-defined]
            assert f"worker metrics not served: cannot listen on 127.0.0.1:{port}" in worker_log


DASHBOARD = Path(__file__).parents[2] / "infra" / "grafana" / "relay-dashboard.json"


def panel_queries(dashboard: dict[str, object]) -> list[str]:
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


async def test_every_grafana_panel_queries_a_series_relay_serves(
    relay_env: dict[str, str], tmp_path: Path
) -> None:
    queries = panel_queries(json.loads(DASHBOARD.read_text()))
    assert len(queries) >= 15
    port = free_port()
    async with private_relay(
        relay_env, tmp_path, name="grafana", RELAY_WORKER_METRICS_PORT=str(port)
    ) as stack:
        worker_url = f"http://127.0.0.1:{port}/metrics"
        await asyncio.to_thread(wait_http_ok, worker_url, stack.relay.workers[0])
        served = family_names(await scrape(f"{stack.relay.base_url}/metrics")) | family_names(
            await scrape(worker_url)
        )
    for query in queries:
        names = set(re.findall(r"\brelay_[a-z_]+", query))
        assert names, query
        assert names <= served, f"{query}: {names - served} served by no process"
