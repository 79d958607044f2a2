"""What a connection event means, and how a connection ended.

``transition_for`` maps neonize's connection events to session states, each with a
reason a person can act on; a ``ConnectionEnd`` tells the connecting loop what next.

whatsmeow semantics that shape the mapping:
- ``Disconnected`` is only sent for unexpected drops and whatsmeow reconnects by itself;
- ``LoggedOut`` means whatsmeow already deleted the device from its store;
- ``StreamReplaced``, bans and an outdated client are not retried;
- a ``ConnectFailure`` that is none of those ends the connection without a retry, so we retry.

``route_problem`` is the cheap check before a connection attempt: the session's first hop
(its proxy, or WhatsApp itself) must be allowed and must answer on TCP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, auto

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

from relay.core.enums import SessionStatus
from relay.core.proxies import InvalidProxy, parse_proxy
from relay.core.url_guard import UnsafeURL, check_host
from workers.engines.whatsapp.backoff import probe_through_proxy, probe_whatsapp

# Proxies the probe can ask for WhatsApp's tunnel itself (python-socks speaks no TLS to a proxy).
TUNNEL_PROBE_SCHEMES = ("http", "socks5")


class Action(Enum):
    """What the engine does about a connection event."""

    WAIT = auto()  # whatsmeow is reconnecting by itself; we watch it
    RESTART = auto()  # the connection is over; start a new one after a backoff
    TERMINAL = auto()  # do not retry (the state says why)
    RESUMED = auto()  # whatsmeow's own reconnect worked


class EndKind(Enum):
    STOPPED = auto()  # stop() was called
    FINISHED = auto()  # for good: a terminal state, a logout, or the QR window closed
    RESTART = auto()  # retry with a new connection after a backoff


@dataclass(frozen=True, slots=True)
class ConnectionEnd:
    """How one client connection ended, as far as the connecting loop needs to know."""

    kind: EndKind
    reason: str = ""
    erase: bool = False  # the credentials are void: erase them
    was_connected: bool = False  # it had been up, so the next one starts with a fresh backoff


@dataclass(frozen=True, slots=True)
class Transition:
    status: SessionStatus
    reason: str
    action: Action
    erase_credentials: bool = False


_LOGOUT_REASONS = {
    ConnectFailureReason.LOGGED_OUT: "the phone unlinked this device",
    ConnectFailureReason.MAIN_DEVICE_GONE: "the phone's WhatsApp account is gone",
    ConnectFailureReason.UNKNOWN_LOGOUT: "WhatsApp ended this device's link",
}


def _reason_name(value: int) -> str:
    try:
        return str(ConnectFailureReason.Name(value)).lower()
    except ValueError:
        return f"reason_{value}"


def _ban_name(value: int) -> str:
    try:
        return str(TemporaryBan.TempBanReason.Name(value)).lower()
    except ValueError:
        return f"code_{value}"


def logged_out(event: LoggedOut) -> Transition:
    if event.OnConnect:
        why = _LOGOUT_REASONS.get(event.Reason, "WhatsApp refused the stored credentials")
        reason = f"logged_out: {why} (refused at connect: {_reason_name(event.Reason)})"
    else:
        reason = f"logged_out: {_LOGOUT_REASONS.get(event.Reason, 'the phone unlinked this device')}"
    return Transition(SessionStatus.LOGGED_OUT, reason, Action.TERMINAL, erase_credentials=True)


def temporary_ban(event: TemporaryBan) -> Transition:
    until = datetime.now(UTC).timestamp() + event.Expire
    expires = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Transition(
        SessionStatus.FAILED,
        f"temporary_ban: {_ban_name(event.Code)}, lifted around {expires}",
        Action.TERMINAL,
    )


def connect_failure(event: ConnectFailure) -> Transition:
    name = _reason_name(event.Reason)
    detail = f" ({event.Message})" if event.Message else ""
    if event.Reason in _LOGOUT_REASONS:
        return Transition(
            SessionStatus.LOGGED_OUT, f"logged_out: {_LOGOUT_REASONS[event.Reason]}", Action.TERMINAL, True
        )
    if event.Reason == ConnectFailureReason.TEMP_BANNED:
        return Transition(
            SessionStatus.FAILED, f"temporary_ban: WhatsApp refused the connection{detail}", Action.TERMINAL
        )
    if event.Reason in (ConnectFailureReason.CLIENT_OUTDATED, ConnectFailureReason.BAD_USER_AGENT):
        return Transition(
            SessionStatus.FAILED,
            f"client_outdated: WhatsApp refused this client version ({name}){detail}",
            Action.TERMINAL,
        )
    return Transition(SessionStatus.RECONNECTING, f"connect_failure: {name}{detail}", Action.RESTART)


def transition_for(event: object) -> Transition | None:
    """The state change a neonize connection event means, or ``None`` if it is not one."""
    if isinstance(event, Disconnected):
        return Transition(SessionStatus.RECONNECTING, "connection lost; reconnecting", Action.WAIT)
    if isinstance(event, KeepAliveTimeout):
        return Transition(
            SessionStatus.RECONNECTING,
            f"keepalive timeout: WhatsApp stopped answering ({event.ErrorCount} missed)",
            Action.WAIT,
        )
    if isinstance(event, KeepAliveRestored):
        return Transition(SessionStatus.CONNECTED, "keepalive restored", Action.RESUMED)
    if isinstance(event, LoggedOut):
        return logged_out(event)
    if isinstance(event, StreamReplaced):
        return Transition(
            SessionStatus.FAILED,
            "stream_replaced: another client connected with this session's credentials",
            Action.TERMINAL,
        )
    if isinstance(event, TemporaryBan):
        return temporary_ban(event)
    if isinstance(event, ConnectFailure):
        return connect_failure(event)
    if isinstance(event, ClientOutdated):
        return Transition(
            SessionStatus.FAILED,
            "client_outdated: WhatsApp refused this client version; upgrade Relay",
            Action.TERMINAL,
        )
    if isinstance(event, StreamError):
        return Transition(
            SessionStatus.RECONNECTING, f"stream_error: code {event.Code or 'unknown'}", Action.WAIT
        )
    return None


async def route_problem(proxy: str | None, *, allow_private: bool, timeout: float, probe: bool) -> str | None:
    """Why a connection attempt cannot reach its first hop now, or ``None``.

    With a proxy, the first hop is the proxy: its host is checked against the private-address
    rules on every attempt (what it resolves to may have changed since it was saved) and, when
    ``probe`` is set, it must open the tunnel to WhatsApp the core would ask it for (an
    ``https://`` proxy: accept a TCP connection). Without one, ``probe`` dials WhatsApp.
    The proxy's password never appears in the answer.
    """
    if proxy is None:
        return await probe_whatsapp(timeout) if probe else None
    try:
        address = parse_proxy(proxy)
    except InvalidProxy as exc:
        return f"proxy: {exc}"
    where = f"proxy {address.host}:{address.port}"
    try:
        await asyncio.wait_for(check_host(address.host, address.port, allow_private=allow_private), timeout)
    except TimeoutError:
        return f"{where}: its host did not resolve within {timeout:g}s"
    except UnsafeURL as exc:
        return f"{where} refused: {exc} (RELAY_PROXY_ALLOW_PRIVATE allows it)"
    if not probe:
        return None
    # First that the proxy answers at all (its own words when it does not), then, except for an
    # https:// proxy, that it opens WhatsApp's tunnel.
    problem = await probe_whatsapp(timeout, address.host, address.port)
    if problem is None and address.scheme in TUNNEL_PROBE_SCHEMES:
        problem = await probe_through_proxy(proxy, timeout)
    return f"{where}: {problem}" if problem else None
