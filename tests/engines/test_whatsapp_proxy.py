"""The real engine and Go core behind a session proxy, on a machine that cannot reach WhatsApp."""

from __future__ import annotations

from pathlib import Path

from tests.engines.conftest import RecordingReporter, make_context, running
from tests.proxies import RefusingProxy
from tests.stack import free_port
from workers.engines.whatsapp import WhatsAppEngine
from workers.engines.whatsapp.backoff import ReconnectPolicy

PASSWORD = "hunter2-proxy"
FAST = ReconnectPolicy(initial=0.01, maximum=0.05, jitter=0)


def reasons(reporter: RecordingReporter) -> list[str]:
    return [status["reason"] or "" for status in reporter.of("status")]


async def run_until_refused(tmp_path: Path, proxy_url: str, refusal: str) -> RecordingReporter:
    reporter = RecordingReporter()
    context = make_context(tmp_path, proxy=proxy_url, proxy_allow_private=True)
    engine = WhatsAppEngine(context, reporter, policy=FAST)
    async with running(engine):
        await reporter.wait_for(lambda r: any(refusal in reason for reason in reasons(r)), timeout=20)
    assert reporter.statuses()[:2] == ["starting", "reconnecting"]
    assert all(PASSWORD not in reason for reason in reasons(reporter))
    return reporter


async def test_an_http_proxy_gets_the_cores_connect_and_its_refusal_is_the_reason(tmp_path: Path) -> None:
    async with RefusingProxy() as proxy:
        await run_until_refused(tmp_path, proxy.url(user="alice", password=PASSWORD), "Forbidden")
    assert proxy.requests[0].line == "CONNECT web.whatsapp.com:443 HTTP/1.1"
    assert proxy.requests[0].authorization is not None


async def test_a_socks5_proxy_gets_the_cores_dial(tmp_path: Path) -> None:
    async with RefusingProxy() as proxy:
        url = proxy.url(scheme="socks5", user="alice", password=PASSWORD)
        await run_until_refused(tmp_path, url, "network: failed to dial")
        await proxy.wait_for_connection()
    # A SOCKS5 greeting is binary: the refusing proxy reads no HTTP request from it.
    assert proxy.connections >= 1 and not any("CONNECT" in r.line for r in proxy.requests)


async def test_after_a_failure_the_pre_check_dials_the_proxy_not_whatsapp(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    reporter = RecordingReporter()
    context = make_context(
        tmp_path, proxy=f"http://alice:{PASSWORD}@127.0.0.1:{port}", proxy_allow_private=True
    )
    engine = WhatsAppEngine(context, reporter, policy=FAST)
    async with running(engine):
        await reporter.wait_for(lambda _: engine.connect_attempts >= 4, timeout=30)
    # Only the first attempt reached the core; the retries found the proxy down before calling it.
    assert engine.core_attempts == 1
    assert reasons(reporter)[-1].startswith(
        f"network: proxy 127.0.0.1:{port}: failed to dial 127.0.0.1:{port}"
    )
    assert all(PASSWORD not in reason for reason in reasons(reporter))


async def test_retries_through_a_proxy_that_refuses_the_tunnel_never_reach_the_core(tmp_path: Path) -> None:
    # The proxy answers but refuses every CONNECT: each retry's pre-check asks it for WhatsApp's
    # tunnel itself and stops there, so the core (which leaks a store per call) is called once.
    reporter = RecordingReporter()
    async with RefusingProxy() as proxy:
        port = proxy.port
        context = make_context(
            tmp_path, proxy=proxy.url(user="alice", password=PASSWORD), proxy_allow_private=True
        )
        engine = WhatsAppEngine(context, reporter, policy=FAST)
        async with running(engine):
            await reporter.wait_for(lambda _: engine.connect_attempts >= 4, timeout=30)
    assert engine.core_attempts == 1
    # Every attempt asked the proxy for the same tunnel: the core once, the pre-check after it.
    connects = [r for r in proxy.requests if r.line == "CONNECT web.whatsapp.com:443 HTTP/1.1"]
    assert len(connects) >= 4 and all(r.authorization is not None for r in connects)
    assert reasons(reporter)[-1].startswith(
        f"network: proxy 127.0.0.1:{port}: no tunnel to web.whatsapp.com:443"
    )
    assert "403" in reasons(reporter)[-1]
    assert all(PASSWORD not in reason for reason in reasons(reporter))


async def test_a_private_proxy_is_refused_by_the_worker_too_before_the_core_is_called(
    tmp_path: Path,
) -> None:
    # The web checks the host when the proxy is saved; what it resolves to may change afterwards.
    reporter = RecordingReporter()
    context = make_context(tmp_path, proxy=f"http://alice:{PASSWORD}@localhost:3128")
    engine = WhatsAppEngine(context, reporter, policy=FAST)
    async with running(engine):
        await reporter.wait_for(lambda _: engine.connect_attempts >= 2, timeout=15)
    assert engine.core_attempts == 0
    assert "network: proxy localhost:3128 refused" in reasons(reporter)[-1]
    assert "RELAY_PROXY_ALLOW_PRIVATE" in reasons(reporter)[-1]


def test_an_engine_context_never_shows_its_proxy(tmp_path: Path) -> None:
    context = make_context(tmp_path, proxy=f"http://alice:{PASSWORD}@proxy.example:3128")
    assert PASSWORD not in repr(context) and "proxy.example" not in str(context)
