"""neonize's connection events → session states, each with a reason a person can act on.

whatsmeow semantics that shape this table (libraries.md §1.6):
- ``Disconnected`` is only sent for unexpected drops and whatsmeow reconnects by itself;
- ``LoggedOut`` means whatsmeow already deleted the device from its store;
- ``StreamReplaced``, bans and an outdated client are not retried;
- a ``ConnectFailure`` that is none of those ends the connection without a retry, so we retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from neonize.proto.Neonize_pb2 import (
    ClientOutdated,
    ConnectFailure,
    ConnectFailureReason,
    Disconnected,
    KeepAliveRestored,
    KeepAliveTimeout,
    LoggedOut,
    StreamError,
    StreamReplaced,
    TemporaryBan,
)

from workers.engines.base import CONNECTED, FAILED, LOGGED_OUT, RECONNECTING

# Retry now, keep waiting, or stop for good.
WAIT = "wait"  # whatsmeow is reconnecting by itself; we watch it
RESTART = "restart"  # the connection is over; start a new one after a backoff
TERMINAL = "terminal"  # do not retry (the state says why)
RESUMED = "resumed"


@dataclass(frozen=True, slots=True)
class Transition:
    status: str
    reason: str
    action: str
    erase_credentials: bool = False


_LOGOUT_REASONS = {
    ConnectFailureReason.LOGGED_OUT: "the phone unlinked this device",
    ConnectFailureReason.MAIN_DEVICE_GONE: "the phone's WhatsApp account is gone",
    ConnectFailureReason.UNKNOWN_LOGOUT: "WhatsApp ended this device's link",
}


def _reason_name(value: int) -> str:
    try:
        return ConnectFailureReason.Name(value).lower()
    except ValueError:
        return f"reason_{value}"


def _ban_name(value: int) -> str:
    try:
        return TemporaryBan.TempBanReason.Name(value).lower()
    except ValueError:
        return f"code_{value}"


def logged_out(event: LoggedOut) -> Transition:
    if event.OnConnect:
        why = _LOGOUT_REASONS.get(event.Reason, "WhatsApp refused the stored credentials")
        reason = f"logged_out: {why} (refused at connect: {_reason_name(event.Reason)})"
    else:
        reason = f"logged_out: {_LOGOUT_REASONS.get(event.Reason, 'the phone unlinked this device')}"
    return Transition(LOGGED_OUT, reason, TERMINAL, erase_credentials=True)


def temporary_ban(event: TemporaryBan) -> Transition:
    until = datetime.now(UTC).timestamp() + event.Expire
    expires = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Transition(FAILED, f"temporary_ban: {_ban_name(event.Code)}, lifted around {expires}", TERMINAL)


def connect_failure(event: ConnectFailure) -> Transition:
    name = _reason_name(event.Reason)
    detail = f" ({event.Message})" if event.Message else ""
    if event.Reason in _LOGOUT_REASONS:
        return Transition(LOGGED_OUT, f"logged_out: {_LOGOUT_REASONS[event.Reason]}", TERMINAL, True)
    if event.Reason == ConnectFailureReason.TEMP_BANNED:
        return Transition(FAILED, f"temporary_ban: WhatsApp refused the connection{detail}", TERMINAL)
    if event.Reason in (ConnectFailureReason.CLIENT_OUTDATED, ConnectFailureReason.BAD_USER_AGENT):
        return Transition(
            FAILED, f"client_outdated: WhatsApp refused this client version ({name}){detail}", TERMINAL
        )
    return Transition(RECONNECTING, f"connect_failure: {name}{detail}", RESTART)


def transition_for(event: object) -> Transition | None:
    """The state change a neonize connection event means, or ``None`` if it is not one."""
    if isinstance(event, Disconnected):
        return Transition(RECONNECTING, "connection lost; reconnecting", WAIT)
    if isinstance(event, KeepAliveTimeout):
        return Transition(
            RECONNECTING,
            f"keepalive timeout: WhatsApp stopped answering ({event.ErrorCount} missed)",
            WAIT,
        )
    if isinstance(event, KeepAliveRestored):
        return Transition(CONNECTED, "keepalive restored", RESUMED)
    if isinstance(event, LoggedOut):
        return logged_out(event)
    if isinstance(event, StreamReplaced):
        return Transition(
            FAILED,
            "stream_replaced: another client connected with this session's credentials",
            TERMINAL,
        )
    if isinstance(event, TemporaryBan):
        return temporary_ban(event)
    if isinstance(event, ConnectFailure):
        return connect_failure(event)
    if isinstance(event, ClientOutdated):
        return Transition(
            FAILED, "client_outdated: WhatsApp refused this client version; upgrade Relay", TERMINAL
        )
    if isinstance(event, StreamError):
        return Transition(RECONNECTING, f"stream_error: code {event.Code or 'unknown'}", WAIT)
    return None
