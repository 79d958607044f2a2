"""Contacts check, read receipts and presence: commands to the session's owning worker.

Each needs a live connection, so the session's recorded status is checked first: a
session that is not ``connected`` is refused at once with a 409 naming its status,
rather than a command that would wait for a worker that can do nothing with it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from relay.core.commands import CommandResult, submit_command
from relay.core.enums import CommandKind, SessionStatus
from relay.core.problems import Problem
from relay.web.schemas.chats import ContactsCheck, ContactStatus
from relay.web.services.session_lookup import visible_session

# A WhatsApp round trip (usync query, receipt, presence stanza); past this the caller is told to retry.
CHAT_COMMAND_WAIT = 20.0
_NAMES = {
    CommandKind.CONTACTS_CHECK: "a contacts check",
    CommandKind.READ: "read receipts",
    CommandKind.PRESENCE: "presence",
}


async def _run(
    redis: Redis, tenant_id: str, session_id: str, kind: CommandKind, params: dict[str, Any]
) -> CommandResult:
    session = await visible_session(tenant_id, session_id)
    name = _NAMES[kind]
    if session.status != SessionStatus.CONNECTED:
        raise Problem(409, f"session is {session.status}; {name} needs it connected")
    result = await submit_command(redis, session.id, kind, params, wait=CHAT_COMMAND_WAIT)
    if result is None:
        raise Problem(504, f"the session's worker did not answer {name} in time; retry")
    if result.ok:
        return result
    if result.data.get("not_connected"):
        raise Problem(409, f"session is not connected: {result.error}")
    raise Problem(502, f"WhatsApp refused {name}: {result.error}")


async def check_contacts(redis: Redis, tenant_id: str, session_id: str, phones: list[str]) -> ContactsCheck:
    # The same number twice is asked once; the answer keeps the caller's order and repeats.
    unique = list(dict.fromkeys(phones))
    result = await _run(redis, tenant_id, session_id, CommandKind.CONTACTS_CHECK, {"phones": unique})
    found = {str(item["phone"]): item for item in result.data.get("contacts", [])}
    return ContactsCheck(
        data=[
            ContactStatus(
                phone=phone,
                on_whatsapp=bool(found.get(phone, {}).get("on_whatsapp")),
                jid=found.get(phone, {}).get("jid"),
            )
            for phone in phones
        ]
    )


async def mark_read(
    redis: Redis, tenant_id: str, session_id: str, chat: str, message_ids: list[str], sender: str | None
) -> None:
    params: dict[str, Any] = {"chat": chat, "message_ids": message_ids, "sender": sender}
    await _run(redis, tenant_id, session_id, CommandKind.READ, params)


async def send_presence(redis: Redis, tenant_id: str, session_id: str, chat: str, state: str) -> None:
    await _run(redis, tenant_id, session_id, CommandKind.PRESENCE, {"chat": chat, "state": state})
