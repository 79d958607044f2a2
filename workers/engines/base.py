"""The one small protocol every engine speaks.

The session runner (``workers.runner``) drives an engine; its ``SessionReporter``
turns what the engine reports into ledger events and session state. Nothing
outside an engine module imports neonize. Engines report through an
``EngineReporter`` instead of returning events so the real engine can call it
from neonize's callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from relay.core.config import Settings
from relay.core.enums import EngineKind, EventType, GroupAction, SessionStatus

# A sandbox command's kind is this prefix and the action ``Engine.sandbox`` carries out.
SANDBOX_COMMAND_PREFIX = "sandbox."
# Why a session that was never scanned stopped; both engines end their QR window with it.
QR_TIMEOUT_REASON = "qr_timeout: no scan within the QR window"


def sandbox_action(kind: str) -> str:
    """The ``Engine.sandbox`` action a sandbox command asks for: ``sandbox.scan`` → ``scan``."""
    return kind.removeprefix(SANDBOX_COMMAND_PREFIX)


# What ``Engine.send_presence`` may show in a chat: typing, recording a voice note, or neither.
PRESENCE_STATES = ("typing", "recording", "paused")

# An inbound ``media`` description carries, under this key, what the engine needs to fetch the
# bytes later (``Engine.download_media``); the worker keeps it on the media row, never in events.
MEDIA_REFERENCE = "reference"


class EngineError(Exception):
    """A command the engine could not carry out; the message is shown to the API caller."""


class NotConnected(EngineError):
    """The session has no live connection right now."""


class UnsupportedCommand(EngineError):
    """This engine does not do that (e.g. sandbox actions on a real session)."""


class GroupNotFound(EngineError):
    """The group does not exist, or the session is not (or no longer) in it: the API says 404."""


@dataclass(frozen=True, slots=True)
class EngineContext:
    """What an engine knows about the session it drives."""

    session_id: str
    tenant_id: str
    name: str
    phone: str | None
    jid: str | None
    data_dir: Path
    settings: Settings
    # The proxy URL the session connects through; None: direct. It may carry a password, so it is
    # left out of the context's repr: logging a context never writes it.
    proxy: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    id: str
    to: str
    type: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContactCheck:
    """Whether one number has a WhatsApp account, and the JID to write to it at."""

    phone: str
    on_whatsapp: bool
    jid: str | None


@dataclass(frozen=True, slots=True)
class SendReceipt:
    whatsapp_id: str
    timestamp: datetime


class EngineReporter(Protocol):
    """How an engine tells the runner what happened. Every call is awaited in order.

    A report returns once the event is safe on the worker's disk, not once it is in
    the ledger: an engine never waits for the database. ``flush`` waits for the ledger.
    """

    async def status(
        self,
        status: SessionStatus,
        reason: str | None = None,
        *,
        phone: str | None = None,
        jid: str | None = None,
    ) -> None: ...

    async def qr(self, code: str, expires_at: datetime) -> None: ...

    async def pair_code(self, code: str) -> None: ...

    async def message_received(self, data: dict[str, Any]) -> None: ...

    async def message_ack(self, data: dict[str, Any]) -> None: ...

    async def group_event(self, type: EventType, data: dict[str, Any]) -> None:
        """``group.joined``, ``group.updated`` or ``group.participants`` (``GROUP_EVENT_TYPES``)."""
        ...

    async def synced(self, count: int) -> None:
        """The catch-up after a reconnect is over: ``session.synced`` with what WhatsApp delivered."""
        ...

    async def flush(self) -> bool:
        """Wait until everything reported so far is in the ledger (``False``: it never will be).

        An engine calls it before answering a command (a pairing code, a sandbox action), so
        the caller's answer comes after the events the command caused, as it always has.
        """
        ...


class Engine(Protocol):
    async def run(self) -> None:
        """Connect and keep the session alive until ``stop`` or a terminal state; then return."""

    async def stop(self) -> None:
        """Disconnect and release resources, keeping credentials."""

    async def logout(self) -> None:
        """Unlink the device and erase its credentials."""

    async def erase_credentials(self) -> None:
        """Delete stored credentials (the session is being deleted)."""

    async def pair_phone(self, phone: str) -> str:
        """Ask for a pairing code for ``phone`` (digits, no +)."""

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        """Send a message; raises ``EngineError`` with a user-readable reason on failure."""

    async def check_contacts(self, phones: list[str]) -> list[ContactCheck]:
        """Which of ``phones`` (digits, no +) have a WhatsApp account, in the order given."""

    async def mark_read(self, chat: str, message_ids: list[str], sender: str | None) -> None:
        """Send read receipts for ``message_ids`` in ``chat`` (``sender``: who wrote them in a group)."""

    async def send_presence(self, chat: str, state: str) -> None:
        """Show ``state`` (one of ``PRESENCE_STATES``) to ``chat``."""

    async def groups(self, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
        """One group call (``workers.engines.groups`` says each one's params and answer).

        One method for the family: the answers are JSON shapes the web validates, so the
        engine hosts and the commands carry them through unchanged. Raises ``GroupNotFound``
        for a group the session is not in.
        """

    async def sandbox(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Sandbox-only actions (scan, inbound, drop, logout)."""

    async def download_media(self, reference: dict[str, Any], destination: Path) -> None:
        """Write the bytes of inbound media (its ``MEDIA_REFERENCE``) to ``destination``.

        A file rather than bytes: an engine host writes it under the data dir itself, so large
        media never cross the host's JSON frames. ``EngineError`` says why it cannot.
        """

    @property
    def connected(self) -> bool: ...


def create_engine(engine: str, context: EngineContext, reporter: EngineReporter) -> Engine:
    """The sandbox runs in the worker; a WhatsApp session's Go client runs in an engine host.

    Engines are imported lazily: the sandbox must work where neonize cannot load, and the
    worker itself never loads neonize (workers/engines/host).
    """
    if engine == EngineKind.SANDBOX:
        from workers.engines.sandbox import SandboxEngine

        return SandboxEngine(context, reporter)
    if engine == EngineKind.WHATSAPP:
        from workers.engines.host import RemoteEngine

        return RemoteEngine(context, reporter)
    raise ValueError(f"unknown engine {engine!r}")
