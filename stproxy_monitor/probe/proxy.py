"""Which HTTP proxy a probe goes through, chosen as curl chooses it (pure).

curl, for an https:// URL: the proxy given on the command line, else ``https_proxy`` /
``HTTPS_PROXY``, else ``all_proxy`` / ``ALL_PROXY``; a host that ``no_proxy`` / ``NO_PROXY``
names goes direct whatever the source of the proxy. ``no_proxy`` is a list separated by commas
or spaces: ``*`` matches every host, an entry matches its host and every name under it (a
leading dot is ignored), an IP address or CIDR range matches addresses. A proxy URL without a
scheme is http://, without a port it is port 1080.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

DEFAULT_PROXY_PORT = 1080  # curl's default for a proxy given without a port


@dataclass(frozen=True, slots=True, kw_only=True)
class Proxy:
    """An HTTP proxy for CONNECT; ``authorization`` (a Proxy-Authorization value) is secret."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """host:port, for messages (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """A Proxy from a URL such as ``http://user:pass@proxy:3128``; ValueError says what is wrong."""
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme.lower() != "http":
        raise ValueError(f"only http:// proxies (CONNECT) are supported, not {parts.scheme}://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the proxy's port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError("the proxy URL names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a proxy URL is scheme://[user:password@]host[:port], without a path")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Proxy(host=parts.hostname, port=port or DEFAULT_PROXY_PORT, authorization=authorization)


def proxy_url_for(host: str, explicit: str | None, environ: Mapping[str, str]) -> str | None:
    """The proxy URL to reach ``host`` through (curl's rules, module doc), None to go direct."""
    url = explicit or _first(environ, "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    if not url:
        return None
    if bypasses(host, _first(environ, "no_proxy", "NO_PROXY") or ""):
        return None
    return url


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set to a non-empty value."""
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def bypasses(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (curl's syntax, module doc) says to reach ``host`` directly."""
    name = host.strip("[]").rstrip(".").lower()
    address = _address(name)
    for entry in no_proxy.replace(",", " ").split():
        pattern = entry.strip().lower()
        if pattern == "*":
            return True
        if address is not None:
            if _address_matches(address, pattern):
                return True
            continue
        pattern = pattern.lstrip(".").rstrip(".")
        if pattern and (name == pattern or name.endswith(f".{pattern}")):
            return True
    return False


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _address_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address, pattern: str) -> bool:
    """An IP entry equal to the address, or a CIDR range holding it."""
    try:
        network = ipaddress.ip_network(pattern.strip("[]"), strict=False)
    except ValueError:
        return False
    return network.version == address.version and address in network
