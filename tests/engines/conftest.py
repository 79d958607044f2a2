"""Helpers for engine tests: a recording reporter, contexts, and neonize's own callback path.

``feed`` pushes a serialized neonize protobuf through the same ctypes trampoline
(``Event.execute``) that the Go core calls, from a foreign thread as Go does; only
the network connect is replaced, since WhatsApp cannot be reached from here.
"""

from __future__ import annotations

import asyncio
import ctypes
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from relay.core.config import Settings

# The stack's database and Redis opened in the test process (shared with the webhook tests).
from tests.webhooks.conftest import ledger  # noqa: F401
from workers.engines.base import Engine, EngineContext


@dataclass
class RecordingReporter:
    """Our own ``EngineReporter`` protocol, recording what the engine said and in what order."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def status(
        self, status: str, reason: str | None = None, *, phone: str | None = None, jid: str | None = None
    ) -> None:
        self.calls.append(("status", {"status": status, "reason": reason, "phone": phone, "jid": jid}))

    async def qr(self, code: str, expires_at: datetime) -> None:
        self.calls.append(("qr", {"code": code, "expires_at": expires_at}))

    async def pair_code(self, code: str) -> None:
        self.calls.append(("pair_code", {"code": code}))

    async def message_received(self, data: dict[str, Any]) -> None:
        self.calls.append(("message_received", data))

    async def message_ack(self, data: dict[str, Any]) -> None:
        self.calls.append(("message_ack", data))

    async def group_event(self, type: str, data: dict[str, Any]) -> None:
        self.calls.append(("group_event", {"type": str(type), "data": data}))

    async def synced(self, count: int) -> None:
        self.calls.append(("synced", {"count": count}))

    async def flush(self) -> bool:
        return True  # every call above is "recorded" the moment it is made

    def of(self, kind: str) -> list[Any]:
        return [payload for name, payload in self.calls if name == kind]

    def statuses(self) -> list[str]:
        return [payload["status"] for payload in self.of("status")]

    async def wait_for(self, probe: Callable[[RecordingReporter], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe(self)
            if found:
                return found
            await asyncio.sleep(0.01)
        raise AssertionError(f"reporter never satisfied {probe}; calls={self.calls!r}")


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=f"sqlite://{data_dir / 'relay.db'}",
        redis_url=None,
        jwt_secret="x" * 48,
        **{"sandbox_qr_interval": 0.2, **overrides},
    )


def make_context(
    data_dir: Path,
    *,
    jid: str | None = None,
    phone: str | None = None,
    session_id: str | None = None,
    tenant_id: str = "ten_test",
    proxy: str | None = None,
    **settings: Any,
) -> EngineContext:
    return EngineContext(
        session_id=session_id or "ses_" + uuid.uuid4().hex[:12],
        tenant_id=tenant_id,
        name="test",
        phone=phone,
        jid=jid,
        data_dir=data_dir,
        settings=make_settings(data_dir, **settings),
        proxy=proxy,
    )


def fill_required(message: Any) -> Any:
    """proto2: every required field must be set or (de)serialisation fails."""
    for descriptor in message.DESCRIPTOR.fields:
        if not descriptor.is_required:
            if descriptor.message_type and not descriptor.is_repeated and message.HasField(descriptor.name):
                fill_required(getattr(message, descriptor.name))
            if descriptor.message_type and descriptor.is_repeated:
                for item in getattr(message, descriptor.name):
                    fill_required(item)
            continue
        if descriptor.message_type:
            fill_required(getattr(message, descriptor.name))
            getattr(message, descriptor.name).SetInParent()
        elif not message.HasField(descriptor.name):
            value = (
                descriptor.enum_type.values[0].number if descriptor.enum_type else descriptor.default_value
            )
            setattr(message, descriptor.name, value)
    return message


def feed(client: Any, event: Any) -> None:
    """What the Go core does for every event: call ``Event.execute`` through ctypes."""
    from neonize._binder import func_callback_bytes
    from neonize.events import EVENT_TO_INT

    data = fill_required(event).SerializeToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    func_callback_bytes(client.event.execute)(
        client.uuid, ctypes.addressof(buffer), len(data), EVENT_TO_INT[type(event)]
    )


def feed_qr(client: Any, code: bytes) -> None:
    """What the Go core does for each QR code: call the client's ``__onQr`` through ctypes."""
    from neonize._binder import func_string

    buffer = ctypes.create_string_buffer(code)
    func_string(client._NewAClient__onQr)(None, ctypes.addressof(buffer))


def feed_login_status(client: Any, status: bytes) -> None:
    """The QR flow's end ("timeout", "success", "err-…"), through the login-status trampoline."""
    from neonize._binder import func_string

    buffer = ctypes.create_string_buffer(status)
    func_string(client._NewAClient__onLoginStatus)(None, ctypes.addressof(buffer))


@dataclass
class LiveEngine:
    engine: Any
    reporter: RecordingReporter
    clients: list[Any]
    task: asyncio.Task[None]

    @property
    def client(self) -> Any:
        return self.clients[-1]

    async def feed(self, *events: Any) -> None:
        for event in events:
            await asyncio.to_thread(feed, self.client, event)

    async def feed_qr(self, code: bytes) -> None:
        await asyncio.to_thread(feed_qr, self.client, code)

    async def feed_login_status(self, status: bytes) -> None:
        await asyncio.to_thread(feed_login_status, self.client, status)


@asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[asyncio.Task[None]]:
    """The engine's ``run()`` as a task for the block; stopped, and its end awaited, on the way out."""
    task = asyncio.create_task(engine.run())
    try:
        yield task
    finally:
        await engine.stop()
        await asyncio.wait_for(task, 10)


async def start_fed_engine(context: EngineContext, reporter: Any = None, **engine_options: Any) -> LiveEngine:
    """A real ``WhatsAppEngine`` whose client is "connected" without a network.

    The connector stands in for the network dial only: it returns a future that stays
    pending like neonize's connect task does while a client is live.
    """
    from workers.engines.whatsapp import WhatsAppEngine

    clients: list[Any] = []
    created = asyncio.Event()

    async def connect_without_network(client: Any) -> asyncio.Future[None]:
        clients.append(client)
        created.set()
        return asyncio.get_running_loop().create_future()

    reporter = reporter or RecordingReporter()
    engine = WhatsAppEngine(context, reporter, connector=connect_without_network, **engine_options)
    task = asyncio.create_task(engine.run())
    try:
        await asyncio.wait_for(created.wait(), 5)
    except TimeoutError:
        raise AssertionError(f"the engine never created a client (run: {task})") from None
    return LiveEngine(engine, reporter, clients, task)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveEngine]:
    handle = await start_fed_engine(make_context(tmp_path))
    try:
        yield handle
    finally:
        await handle.engine.stop()
        await asyncio.wait_for(handle.task, 10)
