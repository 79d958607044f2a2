"""Process-wide neonize plumbing: logging, the dispatch loop, one Go key per session."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from neonize.aioze import events as neonize_events

from workers.engines.whatsapp import runtime


def test_importing_the_engine_leaves_the_root_logger_alone() -> None:
    script = (
        "import logging\n"
        "handler = logging.NullHandler()\n"
        "logging.basicConfig(level=logging.WARNING, handlers=[handler])\n"
        "import workers.engines.whatsapp\n"
        "root = logging.getLogger()\n"
        "assert root.handlers == [handler], root.handlers\n"
        "assert root.level == logging.WARNING, root.level\n"
        "assert logging.getLogger('neonize.utils.log').level == logging.INFO\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "jid",
    ["15550100001@s.whatsapp.net", "15550100001:7@s.whatsapp.net", "15550100001.1:2@lid", "120363001@g.us"],
)
def test_jids_round_trip(jid: str) -> None:
    assert runtime.format_jid(runtime.parse_jid(jid)) == jid


async def _ignore(_status: str) -> None:
    return None


def test_a_resumed_client_is_keyed_by_session_not_by_phone() -> None:
    # neonize would key this client by "15550100001"; two sessions of one phone would collide.
    jid = runtime.parse_jid("15550100001:7@s.whatsapp.net")
    client = runtime.RelayClient(
        "ses_one", "postgres://unused", jid=jid, new_device=False, on_login_status=_ignore
    )
    assert client.uuid == b"ses_one"
    assert client.contact.uuid == b"ses_one"
    assert client._stop_finalizer.alive and client._stop_finalizer.peek()[2][0] == b"ses_one"
    client._stop_finalizer.detach()


async def test_the_dispatch_loop_is_this_loop() -> None:
    runtime.bind_event_loop()
    assert neonize_events.event_global_loop is asyncio.get_running_loop()


async def test_a_second_live_loop_is_refused() -> None:
    other = asyncio.new_event_loop()
    try:
        previous, neonize_events.event_global_loop = neonize_events.event_global_loop, other
        with pytest.raises(RuntimeError, match="one event loop per process"):
            runtime.bind_event_loop()
    finally:
        neonize_events.event_global_loop = previous
        other.close()
