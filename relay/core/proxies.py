"""Session proxies: which proxy URLs a session may use, and how one is shown without its password.

Users run each WhatsApp number behind its own HTTP or SOCKS5 proxy, so a
session carries a proxy URL (credentials allowed). The password is a secret:
the URL is stored encrypted (``relay.core.crypto``), reads show it masked
(``http://user:***@host:port``) and any text that may quote it (an error from
the WhatsApp core) goes through ``redact`` before it is logged or reported.

A proxy is a host Relay connects to on a tenant's word, so the SSRF rules of
``relay.core.url_guard`` apply: a host that is, or resolves to, a private,
loopback, link-local or metadata address is refused unless
``RELAY_PROXY_ALLOW_PRIVATE`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from relay.core.url_guard import UnsafeURL, check_host, split_url

PROXY_SCHEMES = ("http", "https", "socks5")
MASK = "***"


class InvalidProxy(ValueError):
    """The proxy URL is malformed, of another scheme, or points where Relay must not connect."""


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def masked(self) -> str:
        """The URL as reads show it: the password replaced by ``***``."""
        credentials = ""
        if self.username is not None:
            credentials = quote(self.username, safe="")
            if self.password is not None:
                credentials += f":{MASK}"
            credentials += "@"
        return f"{self.scheme}://{credentials}{_netloc_host(self.host)}:{self.port}"


def _netloc_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_proxy(url: str) -> ProxyAddress:
    """Check the proxy URL's shape; raises ``InvalidProxy`` saying what is wrong."""
    try:
        parts, port = split_url(url)
    except UnsafeURL as exc:
        raise InvalidProxy(str(exc)) from exc
    if parts.scheme not in PROXY_SCHEMES:
        raise InvalidProxy("must be an http://, https:// or socks5:// URL")
    if not parts.hostname:
        raise InvalidProxy("must have a host")
    if port is None:
        raise InvalidProxy("must name the proxy's port (e.g. http://proxy.example:3128)")
    if port == 0:
        raise InvalidProxy("port must be between 1 and 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidProxy("must be scheme://[user:password@]host:port, without a path, query or fragment")
    return ProxyAddress(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


async def check_proxy(url: str, *, allow_private: bool) -> ProxyAddress:
    """The shape, then where the host resolves now (unless private hosts are allowed)."""
    address = parse_proxy(url)
    try:
        await check_host(address.host, address.port, allow_private=allow_private)
    except UnsafeURL as exc:
        raise InvalidProxy(str(exc)) from exc
    return address


def mask_proxy(url: str | None) -> str | None:
    """``url`` with its password masked; a URL that no longer parses is shown as a bare mask."""
    if url is None:
        return None
    try:
        return parse_proxy(url).masked
    except InvalidProxy:
        return MASK


def redact(text: str, proxy: str | None) -> str:
    """``text`` with the proxy's password (as given and URL-decoded) and its URL replaced by masks."""
    if not proxy:
        return text
    redacted = text.replace(proxy, mask_proxy(proxy) or MASK)
    try:
        password = parse_proxy(proxy).password
    except InvalidProxy:
        return redacted
    if password:
        for form in {password, quote(password, safe="")}:
            redacted = redacted.replace(form, MASK)
    return redacted


__all__ = [
    "MASK",
    "PROXY_SCHEMES",
    "InvalidProxy",
    "ProxyAddress",
    "check_proxy",
    "mask_proxy",
    "parse_proxy",
    "redact",
]
