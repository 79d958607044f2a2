"""Contacts check, read receipts and presence on the real engine, against the real Go core, offline.

The engine refuses each while it is not connected, naming its state, at once. Underneath,
each call reaches the neonize method it maps to with arguments the Go core accepts: the
core answers with its own refusal (no socket), which comes back as Relay's error, not a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.engines.conftest import RecordingReporter, make_context, running
from workers.engines.base import NotConnected
from workers.engines.whatsapp import WhatsAppEngine, chat_actions
from workers.engines.whatsapp.backoff import ReconnectPolicy
from workers.engines.whatsapp.runtime import RelayClient, close_client, open_client

pytestmark = pytest.mark.timeout(90)

# Each call is bounded: a Go call that never returned would fail the test here rather than hang it.
CALL_BOUND = 20


def reconnecting(reporter: RecordingReporter) -> bool:
    return "reconnecting" in reporter.statuses()


class RecordingClient:
    """The engine's real neonize client, noting which of its methods Relay calls and with what."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            return await method(*args, **kwargs)

        return call


async def _no_login_status(_status: str) -> None:
    """A client that never gets to log in has no login status to report."""


@contextlib.asynccontextmanager
async def offline_client(session_id: str, store: Path) -> AsyncIterator[RecordingClient]:
    """A real neonize client whose dial failed: the Go core holds it with no socket."""
    client = RelayClient(session_id, str(store), jid=None, new_device=False, on_login_status=_no_login_status)
    connect = await open_client(client)
    try:
        yield RecordingClient(client)
    finally:
        await close_client(client)
        with contextlib.suppress(Exception):
            await connect  # its dial failure was reported by the calls as their refusals' cause


async def test_an_offline_engine_refuses_each_call_at_once_naming_its_state(tmp_path: Path) -> None:
    policy = ReconnectPolicy(initial=0.05, maximum=0.2, jitter=0.02, preflight=False)
    reporter = RecordingReporter()
    engine = WhatsAppEngine(make_context(tmp_path), reporter, policy=policy)
    async with running(engine):
        await reporter.wait_for(reconnecting, timeout=20)  # DNS may take 5 s
        for call in (
            engine.check_contacts(["4915112345678"]),
            engine.mark_read("4915112345678", ["3EB0AA"], None),
            engine.send_presence("4915112345678@s.whatsapp.net", "typing"),
        ):
            with pytest.raises(NotConnected, match="not connected \\(it is reconnecting\\)"):
                await asyncio.wait_for(call, CALL_BOUND)


async def test_each_call_reaches_its_neonize_method_and_the_go_cores_refusal_comes_back(
    tmp_path: Path,
) -> None:
    async with offline_client("ses_chat_actions_offline", tmp_path / "store.db") as recording:
        calls = [
            chat_actions.check_contacts(recording, ["4915112345678"]),
            chat_actions.mark_read(
                recording, "120363025246125888@g.us", ["3EB0AA", "3EB0BB"], "4915112345678"
            ),
            *(
                chat_actions.send_presence(recording, "4915112345678", s)
                for s in ("typing", "recording", "paused")
            ),
        ]
        for call in calls:
            with pytest.raises(NotConnected, match="websocket not connected"):
                await asyncio.wait_for(call, CALL_BOUND)

    names = [name for name, _, _ in recording.calls]
    assert names == ["is_on_whatsapp", "mark_read"] + ["send_chat_presence"] * 3
    assert recording.calls[0][1] == ("+4915112345678",)  # whatsmeow wants the number with its +
    _, ids, read = recording.calls[1]
    assert ids == ("3EB0AA", "3EB0BB")
    assert (read["chat"].User, read["chat"].Server) == ("120363025246125888", "g.us")
    assert (read["sender"].User, read["sender"].Server) == ("4915112345678", "s.whatsapp.net")
    assert read["receipt"].name == "READ"
    presences = [(args[1].name, args[2].name) for _, args, _ in recording.calls[2:]]
    assert presences == [
        ("CHAT_PRESENCE_COMPOSING", "CHAT_PRESENCE_MEDIA_TEXT"),
        ("CHAT_PRESENCE_COMPOSING", "CHAT_PRESENCE_MEDIA_AUDIO"),
        ("CHAT_PRESENCE_PAUSED", "CHAT_PRESENCE_MEDIA_TEXT"),
    ]
