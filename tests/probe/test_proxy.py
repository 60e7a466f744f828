"""The probe chooses its proxy as curl does: flag, https_proxy, all_proxy; no_proxy wins."""

from __future__ import annotations

import base64

import pytest

from stproxy_monitor.probe.proxy import bypasses, parse_proxy, proxy_url_for


@pytest.mark.parametrize(
    ("environ", "explicit", "expected"),
    [
        ({}, None, None),
        ({"HTTPS_PROXY": "http://p:3128"}, None, "http://p:3128"),
        ({"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}, None, "http://low:1"),
        ({"ALL_PROXY": "http://all:3"}, None, "http://all:3"),
        ({"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://all:3"}, None, "http://p:1"),
        ({"HTTP_PROXY": "http://plain:8080"}, None, None),  # not for https://, as curl
        ({"HTTPS_PROXY": "http://p:1"}, "http://flag:9", "http://flag:9"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "apple.com"}, None, None),
        ({"NO_PROXY": "*"}, "http://flag:9", None),
        ({"HTTPS_PROXY": "", "ALL_PROXY": "http://all:3"}, None, "http://all:3"),
    ],
)
def test_proxy_url_for(environ: dict[str, str], explicit: str | None, expected: str | None) -> None:
    """The sources in curl's order; NO_PROXY applies to a proxy from any source."""
    assert proxy_url_for("api.push.apple.com", explicit, environ) == expected


@pytest.mark.parametrize(
    ("host", "no_proxy", "expected"),
    [
        ("api.push.apple.com", "apple.com", True),
        ("api.push.apple.com", ".apple.com", True),
        ("api.push.apple.com", "push.apple.com, example.org", True),
        ("api.push.apple.com", "example.org api.push.apple.com", True),
        ("api.push.apple.com", "APPLE.COM", True),
        ("api.push.apple.com.", "apple.com", True),
        ("notapple.com", "apple.com", False),
        ("apple.com.evil", "apple.com", False),
        ("api.push.apple.com", "", False),
        ("api.push.apple.com", "*", True),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("10.1.2.3", "10.1.2.3", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("::1", "::1", True),
        ("[::1]", "::/0", True),
        ("10.1.2.3", "10.1.2", False),
    ],
)
def test_bypasses(host: str, no_proxy: str, expected: bool) -> None:
    """no_proxy entries match the host and names under it, addresses and CIDR ranges."""
    assert bypasses(host, no_proxy) is expected


def test_parse_proxy_defaults_and_credentials() -> None:
    """No scheme means http://, no port means 1080; user:password become Basic credentials."""
    plain = parse_proxy("proxy.example.com")
    assert (plain.host, plain.port, plain.authorization) == ("proxy.example.com", 1080, None)
    secret = parse_proxy("http://us%40er:p%3Ass@proxy:3128/")
    assert (secret.host, secret.port) == ("proxy", 3128)
    assert secret.authorization == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    assert "p:ss" not in repr(secret) and "cDpzcw" not in repr(secret)
    assert secret.address == "proxy:3128"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://proxy:3128", "only http://"),
        ("socks5://proxy:1080", "only http://"),
        ("http://proxy:99999", "port"),
        ("http://:3128", "no host"),
        ("http://proxy:3128/path", "without a path"),
    ],
)
def test_parse_proxy_refuses(url: str, problem: str) -> None:
    """Unsupported schemes and malformed URLs are refused with the reason."""
    with pytest.raises(ValueError, match=problem):
        parse_proxy(url)
