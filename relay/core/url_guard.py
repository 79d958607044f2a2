"""Where Relay's own outbound HTTP may go: the SSRF guard for webhooks and media.

A tenant chooses the URLs Relay fetches (a webhook endpoint, a message's
``media.url``); without a guard a tenant could make a worker reach the cloud
metadata service or the private network. One guard serves both:

- the URL's shape (``parse_url``), and where its host resolves now
  (``check_url``): a webhook is checked so when it is registered;
- at connect time, on the addresses the connection will actually use: aiohttp
  connectors get a ``GuardedResolver``, which drops non-public answers, and
  IP literals (which aiohttp never resolves) go through ``connect_time_check``.
  This is what defeats DNS rebinding: a name that resolved to a public address
  at registration and to 127.0.0.1 now is refused, because the connection is
  made only to what passed the filter, never resolving twice. A client that
  follows redirects must check every hop the same way (``media`` fetches do;
  webhook deliveries never follow redirects).

Each caller has its own switch to allow private addresses
(``RELAY_WEBHOOK_ALLOW_PRIVATE``, ``RELAY_MEDIA_ALLOW_PRIVATE``,
``RELAY_PROXY_ALLOW_PRIVATE``); a session proxy's host goes through ``check_host``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Longer URLs are refused by most servers anyway, and are where oddities hide.
URL_MAX_LENGTH = 2048
NON_PUBLIC = "points to a private, loopback or otherwise non-public address"

# Ranges that ``is_global`` lets through in some Python versions or that embed
# another address we cannot vouch for (NAT64, 6to4), plus ones named by the spec.
_BLOCKED_NETWORKS = [
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
]


class UnsafeURL(ValueError):
    """The URL is malformed or points somewhere Relay must not connect to."""


class RefusedHost(OSError):
    """Raised by ``GuardedResolver`` (aiohttp wraps it in ``ClientConnectorDNSError.os_error``)."""


def is_forbidden_address(address: IPAddress | str) -> bool:
    """True for every address that is not plainly on the public Internet."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and the deprecated ::10.0.0.1 reach the embedded IPv4 address.
        embedded = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if int(ip) >> 32 == 0 and int(ip) > 1 else None
        )
        if embedded is not None:
            return is_forbidden_address(embedded)
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip.is_link_local:
        return True
    if any(ip in network for network in _BLOCKED_NETWORKS if network.version == ip.version):
        return True
    return not ip.is_global


def split_url(url: str) -> tuple[SplitResult, int | None]:
    """The URL's parts and port, once its length, whitespace and syntax are sound.

    Every URL a tenant gives Relay to connect to (webhooks, media, session proxies) passes
    here first, so all of them are refused for the same reasons in the same words.
    Raises ``UnsafeURL``.
    """
    if len(url) > URL_MAX_LENGTH:
        raise UnsafeURL(f"must be at most {URL_MAX_LENGTH} characters")
    if any(ch.isspace() for ch in url):
        raise UnsafeURL("must not contain whitespace")
    try:
        parts = urlsplit(url)
        return parts, parts.port
    except ValueError as exc:
        raise UnsafeURL(f"is not a valid URL ({exc})") from exc


def parse_url(url: str) -> tuple[str, str, int]:
    """Check the URL's shape; returns (scheme, host, port). Raises ``UnsafeURL``."""
    parts, port = split_url(url)
    if parts.scheme not in {"http", "https"}:
        raise UnsafeURL("must be an http or https URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL("must not contain credentials")
    host = parts.hostname
    if not host:
        raise UnsafeURL("must have a host")
    if parts.fragment:
        raise UnsafeURL("must not contain a fragment")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def check_url(url: str, *, allow_private: bool) -> None:
    """The shape always, then every address the host resolves to now, unless private ones are allowed."""
    _, host, port = parse_url(url)
    await check_host(host, port, allow_private=allow_private)


async def check_host(host: str, port: int, *, allow_private: bool) -> None:
    """Every address ``host`` resolves to now must be public, unless private ones are allowed."""
    if allow_private:
        return
    literal = literal_address(host)
    if literal is not None:
        if is_forbidden_address(literal):
            raise UnsafeURL(NON_PUBLIC)
        return
    if host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
        raise UnsafeURL(NON_PUBLIC)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeURL(f"host {host!r} does not resolve") from exc
    for info in infos:
        if is_forbidden_address(str(info[4][0]).split("%")[0]):
            raise UnsafeURL(f"host {host!r} resolves to a non-public address")


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops non-public answers, so connections use only what passed.

    aiohttp does not call the resolver for IP literals; the sender checks those itself.
    """

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        if self.allow_private:
            return answers
        allowed = [answer for answer in answers if not is_forbidden_address(answer["host"])]
        if not allowed:
            raise RefusedHost(f"host {host!r} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def connect_time_check(host: str, *, allow_private: bool) -> None:
    """IP-literal hosts never reach the resolver, so they are checked here before connecting."""
    if allow_private:
        return
    literal = literal_address(host)
    if literal is not None and is_forbidden_address(literal):
        raise UnsafeURL(NON_PUBLIC)


__all__ = [
    "URL_MAX_LENGTH",
    "GuardedResolver",
    "RefusedHost",
    "UnsafeURL",
    "check_host",
    "check_url",
    "connect_time_check",
    "is_forbidden_address",
    "parse_url",
]
