"""Linking a session to a phone: the current QR code, or a pairing code by phone number."""

from __future__ import annotations

import io
from dataclasses import dataclass

import segno
from redis.asyncio import Redis

from relay.core.commands import submit_command
from relay.core.enums import CommandKind, DesiredState, SessionStatus
from relay.core.problems import Problem
from relay.web.schemas.sessions import PairCode, Qr
from relay.web.services.session_lookup import visible_session

QR_FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
# Big enough modules to scan from a laptop screen; the quiet zone is the QR spec's minimum.
QR_SCALE = 8
QR_BORDER = 4
# The worker asks WhatsApp for the code; that round trip can take a while on a slow link.
PAIR_CODE_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class QrImage:
    content: bytes
    media_type: str


async def current_qr(tenant_id: str, session_id: str) -> Qr:
    """The code the worker last received; 409 when the session is not waiting for a scan."""
    session = await visible_session(tenant_id, session_id)
    if session.status != SessionStatus.QR or not session.qr:
        raise Problem(409, f"session is {session.status}, not waiting for a QR scan")
    return Qr(qr=session.qr, expires_at=session.qr_expires_at)


def render_qr(code: str, image_format: str) -> QrImage:
    # make_qr, not make: segno would otherwise pick a Micro QR for short inputs, which phones refuse.
    buffer = io.BytesIO()
    segno.make_qr(code).save(buffer, kind=image_format, scale=QR_SCALE, border=QR_BORDER)
    return QrImage(buffer.getvalue(), QR_FORMATS[image_format])


async def request_pair_code(redis: Redis, tenant_id: str, session_id: str, phone: str) -> PairCode:
    session = await visible_session(tenant_id, session_id)
    if session.desired_state != DesiredState.RUNNING:
        raise Problem(409, f"session is {session.desired_state}; start it before pairing")
    result = await submit_command(
        redis, session.id, CommandKind.PAIR_CODE, {"phone": phone}, wait=PAIR_CODE_WAIT
    )
    if result is None:
        raise Problem(504, "the session's worker did not answer in time; retry")
    if not result.ok:
        raise Problem(409, result.error or "pairing code refused")
    return PairCode(code=result.data["code"])
