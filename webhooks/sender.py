"""One HTTP attempt: sign, POST, time it, keep the start of the answer.

aiohttp rather than plain httpx: httpx's connection pool collapses under
concurrency (encode/httpx#3215: ~100 POST/s at 200 in flight on this class of
machine), aiohttp holds 10k+/s. Redirects are never followed (a 3xx is a
failure, and following it would bypass the address check). Connections go
through ``GuardedResolver``, so the address check runs on the resolved
addresses the socket actually uses.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from relay.core.url_guard import GuardedResolver, RefusedHost, UnsafeURL, connect_time_check
from webhooks.constants import RESPONSE_EXCERPT_BYTES
from webhooks.retry import parse_retry_after
from webhooks.signing import WebhookSigner

USER_AGENT = "Relay-Webhooks/1"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


class WebhookSender:
    """A shared aiohttp session with the connect-time SSRF guard built in."""

    def __init__(self, *, timeout: float, allow_private: bool) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(allow_private=self.allow_private),
            limit=0,  # concurrency is bounded by the delivery lanes, not the pool
            ttl_dns_cache=10,
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"user-agent": USER_AGENT, "content-type": "application/json"},
            auto_decompress=True,
            skip_auto_headers=("Accept-Encoding",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> WebhookSender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, url: str, signer: WebhookSigner, msg_id: str, body: bytes) -> AttemptResult:
        """Never raises for delivery problems: every outcome becomes an ``AttemptResult``."""
        assert self._session is not None, "WebhookSender.start() first"
        at = datetime.now(UTC)
        started = time.perf_counter()
        status: int | None = None
        excerpt: str | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            connect_time_check(urlsplit(url).hostname or "", allow_private=self.allow_private)
            headers = signer.headers(msg_id, int(time.time()), body)
            # A keep-alive connection the receiver closed while idle fails at once;
            # one immediate retry on a fresh connection hides that without a scheduled retry.
            # (A plain loop: a retry library's bookkeeping on every request is measurable here.)
            for immediate_retry in (False, True):
                try:
                    async with self._session.post(
                        url, data=body, headers=headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        raw = await response.content.read(RESPONSE_EXCERPT_BYTES)
                        excerpt = raw.decode("utf-8", errors="replace")
                        if not 200 <= status < 300:
                            retry_after = parse_retry_after(response.headers.get("retry-after"))
                    break
                except aiohttp.ServerDisconnectedError:
                    if immediate_retry:
                        raise
        except UnsafeURL as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = f"timeout after {self.timeout:g}s"
        except aiohttp.ClientConnectorDNSError as exc:
            refused = isinstance(exc.os_error, RefusedHost)
            error = f"refused: {exc.os_error}" if refused else f"dns: {exc.os_error}"
        except aiohttp.ClientConnectorError as exc:
            error = f"connect: {exc.os_error.strerror or exc.os_error}"
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = round((time.perf_counter() - started) * 1000)
        if error is None and status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        return AttemptResult(
            at=at,
            status_code=status,
            duration_ms=duration_ms,
            error=error,
            response_excerpt=excerpt,
            retry_after=retry_after,
        )
