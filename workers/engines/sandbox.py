"""The sandbox engine: a simulated phone for building against Relay without one.

It is a product feature, not a test double: it runs through the same runner,
supervisor, ledger, webhooks and WebSocket feed as the real engine. Its
"credentials" are the JID on the session row, so a linked sandbox session
resumes after any restart without a new scan, exactly like a real one.

Handy behaviours for integrators:
- the QR refreshes every ``RELAY_SANDBOX_QR_INTERVAL`` seconds until scanned, and a
  session left unscanned (or with an unused pairing code) for ``RELAY_SANDBOX_QR_TIMEOUT``
  seconds stops with reason ``qr_timeout``, as a real one does when WhatsApp's QR window ends;
- a sent message is acknowledged ``delivered`` then ``read`` a moment later;
- sending to a number that starts with ``000`` fails ("not on WhatsApp"), so
  ``message.failed`` handling can be exercised too;
- a number whose last digit is ``0`` is not on WhatsApp (``contacts/check``); any
  other is, at ``<digits>@s.whatsapp.net``;
- read receipts, presence (typing, recording, paused) and sent messages emit no event
  (on a real phone only the contact sees them); the sandbox keeps the last
  ``CHAT_ACTIVITY_KEPT`` of them, oldest first, and ``sandbox/seen`` shows them;
- a contact may send an image, video, audio (``ptt``: a voice note) or document with
  ``sandbox/inbound`` (``workers.engines.sandbox_media``): it goes through the same
  media store, events and limits as a real one;
- a media message's ``media.url`` is fetched exactly as the real engine fetches
  it (``workers.engines.media``: behind the SSRF guard, size-capped), so a URL
  the real engine would refuse fails here with the same reason;
- groups are simulated in memory (``workers.engines.sandbox_groups``);
- ``sandbox/drop`` breaks the connection for ``seconds`` (default 1); messages contacts
  write meanwhile wait on the "server" and arrive on reconnect with ``offline: true``,
  followed by ``session.synced``, as WhatsApp's offline catch-up does.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from relay.core.enums import (
    MEDIA_MESSAGE_TYPES,
    SETTLED_STATUSES,
    AckStatus,
    CommandKind,
    GroupAction,
    SessionStatus,
)
from relay.core.times import isoformat
from workers.engines import sandbox_media
from workers.engines.base import (
    PRESENCE_STATES,
    QR_TIMEOUT_REASON,
    ContactCheck,
    EngineContext,
    EngineError,
    EngineReporter,
    NotConnected,
    OutgoingMessage,
    SendReceipt,
    UnsupportedCommand,
    sandbox_action,
)
from workers.engines.media import load_media
from workers.engines.sandbox_groups import SandboxGroups

DELIVERED_AFTER = 0.3
READ_AFTER = 0.6
RECONNECT_AFTER = 1.0
MAX_INBOUND_BURST = 1000
# Messages held for a dropped session until it reconnects (WhatsApp keeps them for weeks; a test needs few).
MAX_OFFLINE_QUEUE = 10_000
FAILING_NUMBER_PREFIX = "000"
# Contacts whose number ends in this digit are not on WhatsApp.
NOT_ON_WHATSAPP_LAST_DIGIT = "0"
# How many read receipts and presence changes the sandbox remembers (for tests and debugging).
CHAT_ACTIVITY_KEPT = 100


def made_up_phone() -> str:
    """A number in the North American fictional 555-01xx range."""
    return f"1555010{secrets.randbelow(10_000):04d}"


def jid_of(phone: str) -> str:
    return f"{phone}@s.whatsapp.net"


def user_of(address: str) -> str:
    return address.split("@", 1)[0].lstrip("+")


def on_whatsapp(address: str) -> bool:
    """The sandbox's one rule for who has WhatsApp: a number not ending in ``0``."""
    return not user_of(address).endswith(NOT_ON_WHATSAPP_LAST_DIGIT)


def chat_of(to: str) -> str:
    """A recipient as its chat's JID: a JID stays, a number becomes ``<digits>@s.whatsapp.net``."""
    return to if "@" in to else jid_of(user_of(to))


def whatsapp_message_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


class SandboxEngine:
    def __init__(self, context: EngineContext, reporter: EngineReporter) -> None:
        self._context = context
        self._reporter = reporter
        self._jid = context.jid
        self._phone = context.phone
        self._state: SessionStatus = SessionStatus.STARTING
        self._stopped = False
        self._changed = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        # What the contacts saw, oldest first: {"kind": "read"|"presence"|"message", "chat", ...}.
        self._seen: collections.deque[dict[str, Any]] = collections.deque(maxlen=CHAT_ACTIVITY_KEPT)
        self._groups = SandboxGroups(reporter, on_whatsapp)
        # While dropped: how long the connection stays down, and what contacts wrote meanwhile.
        self._down_for = RECONNECT_AFTER
        self._offline: list[dict[str, Any]] = []

    @property
    def connected(self) -> bool:
        return self._state == SessionStatus.CONNECTED and not self._stopped

    def _set(self, state: SessionStatus) -> None:
        self._state = state
        self._changed.set()

    async def _wait_for_change(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)
        self._changed.clear()

    async def run(self) -> None:
        await self._reporter.status(SessionStatus.STARTING)
        if self._jid:
            await self._connect("resumed with stored credentials")
        else:
            self._set(SessionStatus.QR)
            await self._reporter.status(SessionStatus.QR, "waiting for a scan")
        # Our own transitions above are not news for the loop below.
        self._changed.clear()
        loop = asyncio.get_running_loop()
        qr_window_ends = loop.time() + self._context.settings.sandbox_qr_timeout
        try:
            while not self._stopped and self._state not in SETTLED_STATUSES:
                waiting_for_scan = self._state in {SessionStatus.QR, SessionStatus.PAIRING}
                left = qr_window_ends - loop.time()
                if waiting_for_scan and left <= 0:
                    await self._close_qr_window()
                elif self._state == SessionStatus.QR:
                    interval = min(self._context.settings.sandbox_qr_interval, left)
                    expires_at = datetime.now(UTC) + timedelta(seconds=interval)
                    await self._reporter.qr(self._new_qr_code(), expires_at)
                    await self._wait_for_change(interval)
                elif self._state == SessionStatus.PAIRING:
                    await self._wait_for_change(left)
                elif self._state == SessionStatus.RECONNECTING:
                    await self._wait_for_change(self._down_for)
                    if self._state == SessionStatus.RECONNECTING and not self._stopped:
                        await self._connect("connection restored")
                        await self._catch_up()
                else:
                    await self._wait_for_change(None)
        finally:
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _close_qr_window(self) -> None:
        """End the run as the real engine does: stopped, and the runner stops wanting it to run."""
        self._set(SessionStatus.STOPPED)
        await self._reporter.status(SessionStatus.STOPPED, QR_TIMEOUT_REASON)

    def _new_qr_code(self) -> str:
        # Shaped like WhatsApp's: "2@<ref>,<noise key>,<identity key>,<adv secret>".
        parts = [base64.b64encode(os.urandom(n)).decode() for n in (24, 32, 32, 32)]
        return "2@" + ",".join(parts)

    async def _connect(self, reason: str) -> None:
        self._set(SessionStatus.CONNECTED)
        await self._reporter.status(SessionStatus.CONNECTED, reason, phone=self._phone, jid=self._jid)

    async def stop(self) -> None:
        self._stopped = True
        self._changed.set()

    async def logout(self) -> None:
        await self._unlink("logged out through the API")

    async def erase_credentials(self) -> None:
        # The sandbox keeps its link on the session row, which the runner clears.
        self._jid = None
        self._phone = None
        # The contacts' files it held for the session's media go with the device.
        await sandbox_media.forget(self._context)

    async def _unlink(self, reason: str) -> None:
        self._jid = None
        self._phone = None
        self._set(SessionStatus.LOGGED_OUT)
        await self._reporter.status(SessionStatus.LOGGED_OUT, reason)

    async def pair_phone(self, phone: str) -> str:
        if self._state not in {SessionStatus.QR, SessionStatus.PAIRING}:
            raise EngineError("a pairing code can only be requested while the session waits for a scan")
        alphabet = "ABCDEFGHJKLMNPQRSTVWXYZ0123456789"
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        code = f"{code[:4]}-{code[4:]}"
        self._phone = phone
        self._set(SessionStatus.PAIRING)
        await self._reporter.status(SessionStatus.PAIRING, f"pairing code issued for +{phone}")
        await self._reporter.pair_code(code)
        await self._reporter.flush()
        return code

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        if not self.connected:
            raise NotConnected("the session is not connected")
        if user_of(message.to).startswith(FAILING_NUMBER_PREFIX):
            raise EngineError(f"sandbox: {message.to} is not on WhatsApp")
        if message.type in MEDIA_MESSAGE_TYPES:
            # Loaded and dropped: the simulated phone has nowhere to upload it.
            allow_private = self._context.settings.media_allow_private
            await load_media(message.payload.get("media"), allow_private=allow_private)
        receipt = SendReceipt(whatsapp_id=whatsapp_message_id(), timestamp=datetime.now(UTC))
        self._seen.append(
            {"kind": "message", "chat": chat_of(message.to), "whatsapp_id": receipt.whatsapp_id}
        )
        self._spawn(self._acknowledge(receipt.whatsapp_id, message.to))
        return receipt

    async def check_contacts(self, phones: list[str]) -> list[ContactCheck]:
        if not self.connected:
            raise NotConnected("the session is not connected")
        return [
            ContactCheck(phone=phone, on_whatsapp=True, jid=jid_of(phone))
            if not phone.endswith(NOT_ON_WHATSAPP_LAST_DIGIT)
            else ContactCheck(phone=phone, on_whatsapp=False, jid=None)
            for phone in phones
        ]

    async def mark_read(self, chat: str, message_ids: list[str], sender: str | None) -> None:
        if not self.connected:
            raise NotConnected("the session is not connected")
        self._seen.append({"kind": "read", "chat": chat_of(chat), "message_ids": list(message_ids)})

    async def send_presence(self, chat: str, state: str) -> None:
        if not self.connected:
            raise NotConnected("the session is not connected")
        if state not in PRESENCE_STATES:
            raise EngineError(f"unknown presence state {state!r}")
        self._seen.append({"kind": "presence", "chat": chat_of(chat), "state": state})

    async def groups(self, action: GroupAction, params: dict[str, Any]) -> dict[str, Any]:
        if not self.connected or self._jid is None:
            raise NotConnected("the session is not connected")
        answer = await self._groups.call(self._jid, GroupAction(action), params)
        await self._reporter.flush()  # the caller's answer comes after the events it caused
        return answer

    async def _catch_up(self) -> None:
        """Deliver what contacts wrote while the connection was down, then say the catch-up is over."""
        held, self._offline = self._offline, []
        for data in held:
            await self._reporter.message_received(data)
        await self._reporter.synced(len(held))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _acknowledge(self, whatsapp_id: str, to: str) -> None:
        chat = chat_of(to)
        for delay, status in (
            (DELIVERED_AFTER, AckStatus.DELIVERED),
            (READ_AFTER - DELIVERED_AFTER, AckStatus.READ),
        ):
            await asyncio.sleep(delay)
            if self._stopped:
                return
            await self._reporter.message_ack(
                {
                    "whatsapp_ids": [whatsapp_id],
                    "chat": chat,
                    "status": status,
                    "timestamp": isoformat(datetime.now(UTC)),
                }
            )

    async def sandbox(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = {
            sandbox_action(CommandKind.SANDBOX_SCAN): self._scan,
            sandbox_action(CommandKind.SANDBOX_INBOUND): self._inbound,
            sandbox_action(CommandKind.SANDBOX_DROP): self._drop,
            sandbox_action(CommandKind.SANDBOX_LOGOUT): self._phone_logout,
            sandbox_action(CommandKind.SANDBOX_SEEN): self._what_contacts_saw,
            sandbox_action(CommandKind.SANDBOX_JOIN_GROUP): self._join_group,
        }.get(action)
        if handler is None:
            raise UnsupportedCommand(f"unknown sandbox action {action!r}")
        result = await handler(params)
        if action != sandbox_action(CommandKind.SANDBOX_INBOUND):
            # The phone's own moves (scan, drop, unlink) answer once the status they caused is
            # recorded. A contact's messages arrive on their own, as on a real phone: that answer
            # only says Relay has them (journaled), and they reach the ledger right after.
            await self._reporter.flush()
        return result

    async def _scan(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._state not in {SessionStatus.QR, SessionStatus.PAIRING}:
            raise EngineError("the session is not waiting for a scan")
        phone = str(params.get("phone") or self._phone or made_up_phone()).lstrip("+")
        self._phone, self._jid = phone, jid_of(phone)
        await self._connect("linked by scanning the QR code")
        return {"phone": phone, "jid": self._jid}

    async def _inbound(self, params: dict[str, Any]) -> dict[str, Any]:
        dropped = self._state == SessionStatus.RECONNECTING and not self._stopped
        if not self.connected and not dropped:
            raise NotConnected("the session is not connected")
        sender = user_of(str(params["from"]))
        count = max(1, min(int(params.get("count") or 1), MAX_INBOUND_BURST))
        if dropped and len(self._offline) + count > MAX_OFFLINE_QUEUE:
            raise EngineError(f"the sandbox holds at most {MAX_OFFLINE_QUEUE} messages for a dropped session")
        kind = str(params.get("type") or "text")
        ids = []
        for _ in range(count):
            whatsapp_id = whatsapp_message_id()
            ids.append(whatsapp_id)
            message: dict[str, Any] = {
                "whatsapp_id": whatsapp_id,
                "chat": jid_of(sender),
                "from": jid_of(sender),
                "from_me": False,
                "push_name": params.get("push_name") or "Sandbox Contact",
                "timestamp": isoformat(datetime.now(UTC)),
                "type": "text",
                "text": str(params.get("text") or ""),
                "is_group": False,
            }
            if kind in sandbox_media.SANDBOX_MEDIA_TYPES:
                media = await sandbox_media.receive(self._context, kind, params)
                message.update(type=kind, text=media["caption"], media=media)
            if dropped:
                # The contact's phone sent it; WhatsApp holds it until the session is back.
                self._offline.append({**message, "offline": True})
            else:
                await self._reporter.message_received(message)
        return {"whatsapp_ids": ids}

    async def download_media(self, reference: dict[str, Any], destination: Path) -> None:
        await sandbox_media.download(self._context, reference, destination)

    async def _drop(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.connected:
            raise NotConnected("the session is not connected")
        self._down_for = float(params.get("seconds") or RECONNECT_AFTER)
        self._set(SessionStatus.RECONNECTING)
        await self._reporter.status(SessionStatus.RECONNECTING, "sandbox: the connection dropped")
        return {}

    async def _join_group(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.connected or self._jid is None:
            raise NotConnected("the session is not connected")
        return await self._groups.added_by(self._jid, params)

    async def _what_contacts_saw(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"seen": list(self._seen)}

    async def _phone_logout(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.connected:
            raise NotConnected("the session is not connected")
        await self._unlink("the phone unlinked this device")
        return {}
