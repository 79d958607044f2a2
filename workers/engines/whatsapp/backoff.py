"""How often a session that cannot reach WhatsApp tries again.

Exponential with jitter (tenacity), capped, plus a hard ceiling of attempts per minute.
After the first failure each retry first checks that WhatsApp's host answers on TCP (through
the session's proxy when it has one: ``probe_through_proxy``):
every neonize connect attempt opens a whatsmeow store container that the Go core never
closes (one file descriptor and ~200 KB per attempt, measured), so an offline session
must not call into the core once a minute for days.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError
from python_socks.async_.asyncio import Proxy
from tenacity import wait_exponential_jitter

from relay.core.proxies import redact

WHATSAPP_HOST = "web.whatsapp.com"
WHATSAPP_PORT = 443


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconnectPolicy:
    initial: float = 1.0
    maximum: float = 60.0
    jitter: float = 1.0
    max_attempts_per_minute: int = 10
    # Disconnected/keepalive trouble: how long whatsmeow gets to reconnect by itself.
    reconnect_grace: float = 60.0
    # Connected but nothing heard for this long: ping WhatsApp, and reconnect if it does not answer.
    silence_limit: float = 600.0
    ping_timeout: float = 20.0
    preflight: bool = True
    preflight_timeout: float = 5.0

    def wait(self) -> wait_exponential_jitter:
        return wait_exponential_jitter(multiplier=self.initial, max=self.maximum, jitter=self.jitter)


class AttemptLimiter:
    """At most ``per_minute`` attempts in any sliding 60 s window."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._times: deque[float] = deque()

    def delay(self) -> float:
        """Seconds to wait before the next attempt may start."""
        now = time.monotonic()
        while self._times and now - self._times[0] >= 60.0:
            self._times.popleft()
        if len(self._times) < self.per_minute:
            return 0.0
        return 60.0 - (now - self._times[0])

    def record(self) -> None:
        self._times.append(time.monotonic())


async def probe_whatsapp(timeout: float, host: str = WHATSAPP_HOST, port: int = WHATSAPP_PORT) -> str | None:
    """``None`` when WhatsApp's host accepts a TCP connection, else why not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return f"failed to dial {host}:{port}: no answer within {timeout:g}s"
    except OSError as exc:
        return f"failed to dial {host}:{port}: {exc.strerror or exc}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return None


async def probe_through_proxy(proxy: str, timeout: float) -> str | None:
    """``None`` when the proxy opens a tunnel to WhatsApp's host, else why not (password masked).

    A retry must not reach the Go core unless it can get somewhere: every ``connect()`` into
    the core leaks a store (docs/whatsapp-engine.md). Checking only that the proxy accepts TCP
    let a proxy that answers but refuses the tunnel send every backoff retry into the core, and
    its host into recycling again and again. So the probe asks the proxy for the very tunnel the
    core would ask for (``CONNECT web.whatsapp.com:443``, or its SOCKS5 equivalent) and closes it.
    """
    try:
        # rdns: the proxy resolves WhatsApp's name, as the Go core's dialer has it do.
        tunnel = await Proxy.from_url(proxy, rdns=True).connect(WHATSAPP_HOST, WHATSAPP_PORT, timeout=timeout)
    except ProxyTimeoutError:
        return f"no tunnel to {WHATSAPP_HOST}:{WHATSAPP_PORT} within {timeout:g}s"
    except (ProxyError, ProxyConnectionError, OSError) as exc:
        return redact(f"no tunnel to {WHATSAPP_HOST}:{WHATSAPP_PORT}: {exc}", proxy)
    tunnel.close()
    return None
