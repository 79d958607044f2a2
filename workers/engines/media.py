"""The bytes of an outgoing message's ``media``: a URL fetched behind the SSRF guard, or base64.

Both engines load media here, so a sandbox session meets exactly the errors a
real one would. A tenant chooses ``media.url``, so the fetch is guarded like a
webhook delivery (``relay.core.url_guard``): every hop of a redirect chain is
parsed and checked before it is requested, host names connect only to the
public addresses they resolve to, and proxies from the environment are ignored
(a proxy would connect on our behalf, past the check). ``RELAY_MEDIA_ALLOW_PRIVATE``
lifts the address check for deployments that serve media from their own network.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from relay.core.url_guard import GuardedResolver, RefusedHost, UnsafeURL, connect_time_check, parse_url
from workers.engines.base import EngineError

MAX_MEDIA_BYTES = 16 * 1024 * 1024
MEDIA_FETCH_TIMEOUT = 30.0
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Relay-Media/1"


def _too_large(limit: int) -> EngineError:
    return EngineError(f"media is larger than {limit // (1024 * 1024)} MB")


def _checked_hop(url: str, *, allow_private: bool, first: bool) -> None:
    """Refuse a URL before any request leaves; a redirect's target is named as such."""
    where = "media.url" if first else f"media.url redirects to {url!r}, which"
    try:
        parse_url(url)
        connect_time_check(urlsplit(url).hostname or "", allow_private=allow_private)
    except UnsafeURL as exc:
        raise EngineError(f"{where} is refused: it {exc}") from exc


async def fetch_media(
    url: str, *, allow_private: bool, limit: int = MAX_MEDIA_BYTES, timeout: float = MEDIA_FETCH_TIMEOUT
) -> bytes:
    """GET ``url`` with a size cap, following at most ``MAX_REDIRECTS`` redirects, each one checked."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=allow_private))
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"user-agent": USER_AGENT},
        trust_env=False,
    ) as http:
        try:
            for hop in range(MAX_REDIRECTS + 1):
                _checked_hop(url, allow_private=allow_private, first=hop == 0)
                async with http.get(url, allow_redirects=False) as response:
                    location = response.headers.get("location")
                    if response.status in REDIRECT_STATUSES and location:
                        url = urljoin(url, location)
                        continue
                    if response.status >= 400:
                        raise EngineError(f"fetching media failed: HTTP {response.status}")
                    if (response.content_length or 0) > limit:
                        raise _too_large(limit)
                    buffer = io.BytesIO()
                    async for chunk in response.content.iter_chunked(64 * 1024):
                        buffer.write(chunk)
                        if buffer.tell() > limit:
                            raise _too_large(limit)
                    return buffer.getvalue()
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, RefusedHost):
                raise EngineError(f"media.url is refused: {exc.os_error}") from exc
            raise EngineError(f"fetching media failed: cannot resolve {exc.host!r}") from exc
        except TimeoutError as exc:
            raise EngineError(f"fetching media failed: no answer within {timeout:g}s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise EngineError(f"fetching media failed: {exc.__class__.__name__}: {exc}") from exc
    raise EngineError(f"fetching media failed: more than {MAX_REDIRECTS} redirects")


def decode_media(encoded: str, *, limit: int = MAX_MEDIA_BYTES) -> bytes:
    """``media.base64``, with or without a ``data:`` URL prefix."""
    if "," in encoded and encoded.startswith("data:"):
        encoded = encoded.split(",", 1)[1]
    if len(encoded) * 3 // 4 > limit + 3:
        raise _too_large(limit)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EngineError("media.base64 is not valid base64") from exc


async def load_media(
    spec: Any,
    *,
    allow_private: bool = False,
    limit: int = MAX_MEDIA_BYTES,
    timeout: float = MEDIA_FETCH_TIMEOUT,
) -> bytes:
    """The bytes of ``{"url": …}`` (http/https, guarded, size-capped) or ``{"base64": …}``."""
    if not isinstance(spec, dict) or not (spec.get("url") or spec.get("base64")):
        raise EngineError("media needs 'media': {'url': …} or {'base64': …}")
    if spec.get("base64"):
        return decode_media(str(spec["base64"]), limit=limit)
    url = str(spec["url"])
    if not url.startswith(("http://", "https://")):
        raise EngineError("media.url must be an http(s) URL")
    return await fetch_media(url, allow_private=allow_private, limit=limit, timeout=timeout)
