"""The silence watchdog: a session that says it is connected but hears nothing heals itself.

Keep-alive timeouts and their recovery are ``session.status`` changes of their own
(``test_whatsapp_events``). The client here is the real neonize client, fed events
through the Go core's own callback path (``tests.engines.conftest``); only the network
dial is left out, so the real ping asks the real Go core, which knows its websocket is
not open: exactly a deaf connection.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from neonize.proto.Neonize_pb2 import JID, Connected, Device

from tests.engines.conftest import LiveEngine, make_context, start_fed_engine
from workers.engines.whatsapp.backoff import ReconnectPolicy

ME = JID(User="15550100001", Server="s.whatsapp.net", Device=7)
QUIET = ReconnectPolicy(silence_limit=0.3, ping_timeout=2, preflight=False, initial=0.01, jitter=0)


async def connect(live: LiveEngine) -> None:
    await live.feed(Device(JID=ME, PushName="Relay"), Connected(status=True))
    await live.reporter.wait_for(lambda r: "connected" in r.statuses())


async def stop(live: LiveEngine) -> None:
    await live.engine.stop()
    await asyncio.wait_for(live.task, 5)


async def test_a_deaf_connection_is_reported_and_started_over(tmp_path: Path) -> None:
    live = await start_fed_engine(make_context(tmp_path, jid="15550100001:7@s.whatsapp.net"), policy=QUIET)
    try:
        await connect(live)
        # Nothing is heard; the ping asks the Go core, whose websocket is not open.
        await live.reporter.wait_for(lambda _: len(live.clients) == 2, timeout=15)
        status = next(s for s in live.reporter.of("status") if (s["reason"] or "").startswith("watchdog"))
        assert status["status"] == "reconnecting"
        assert status["reason"] == (
            "watchdog: nothing heard from WhatsApp for 0.3s and the WhatsApp core says its websocket "
            "is closed; reconnecting"
        )
        # The new connection is a normal one: once it is up, the session is connected again
        # (and, as deaf as the first, is started over again: the watchdog keeps watching).
        await live.feed(Connected(status=True))
        await live.reporter.wait_for(lambda r: r.statuses().count("connected") == 2)
        await live.reporter.wait_for(lambda _: len(live.clients) == 3, timeout=15)
    finally:
        await stop(live)


async def test_a_quiet_connection_that_answers_the_ping_is_left_alone(tmp_path: Path) -> None:
    pings: list[Any] = []

    async def whatsapp_answers(client: Any, timeout: float) -> str | None:
        pings.append(client)
        return None

    live = await start_fed_engine(make_context(tmp_path), policy=QUIET, pinger=whatsapp_answers)
    try:
        await connect(live)
        await live.reporter.wait_for(lambda _: len(pings) >= 3, timeout=15)
        assert len(live.clients) == 1 and live.engine.connected
        assert all(client is live.client for client in pings)
        assert live.reporter.statuses()[-1] == "connected"
    finally:
        await stop(live)
