"""Proxy URLs: what is accepted, and how one is shown and quoted without its password."""

from __future__ import annotations

import pytest

from relay.core.proxies import InvalidProxy, check_proxy, mask_proxy, parse_proxy, redact


def test_masking_keeps_everything_but_the_password() -> None:
    assert mask_proxy("http://alice:s3cret@proxy.example:3128") == "http://alice:***@proxy.example:3128"
    assert mask_proxy("socks5://proxy.example:1080") == "socks5://proxy.example:1080"
    assert mask_proxy("https://token@proxy.example:443") == "https://token@proxy.example:443"
    assert mask_proxy("http://a%40b:p%3Ass@[2001:db8::1]:8080") == "http://a%40b:***@[2001:db8::1]:8080"
    assert mask_proxy(None) is None


def test_credentials_are_decoded_once() -> None:
    address = parse_proxy("http://a%40b:p%3Ass@proxy.example:8080")
    assert (address.username, address.password, address.host, address.port) == (
        "a@b",
        "p:ss",
        "proxy.example",
        8080,
    )


def test_redact_hides_the_password_in_any_form_and_the_whole_url() -> None:
    proxy = "http://alice:p%2Fss@proxy.example:3128"
    text = f"dial {proxy} failed: p/ss and p%2Fss"
    redacted = redact(text, proxy)
    assert "p/ss" not in redacted and "p%2Fss" not in redacted
    assert "http://alice:***@proxy.example:3128" in redacted
    assert redact("no proxy here", None) == "no proxy here"


@pytest.mark.parametrize(
    "url", ["ftp://h:1", "http://h", "http://h:0", "http://h:1/x", "http://h:1?q", "http://:1", "http://h :1"]
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidProxy):
        parse_proxy(url)


async def test_private_hosts_are_refused_unless_allowed() -> None:
    for host in ("127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254", "[::1]"):
        with pytest.raises(InvalidProxy, match="non-public"):
            await check_proxy(f"http://{host}:3128", allow_private=False)
        assert (await check_proxy(f"http://{host}:3128", allow_private=True)).port == 3128
