"""The config's ``probe:`` section (off without it): validated all at once into a ProbeConfig.

Pure: the checker records every problem with its place, rule and value. Paths are resolved
against the config file's directory by config.relative_to, as every other path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from stproxy_monitor.validation import Checker

PRODUCTION_ENDPOINT = "api.push.apple.com:443"
SANDBOX_ENDPOINT = "api.sandbox.push.apple.com:443"
MIN_INTERVAL = 300.0  # Apple treats frequent connections as abuse (DOMAIN.md)
DEFAULT_INTERVAL = 3600.0
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 300.0
PROBE_KEYS = frozenset(
    {"interval", "endpoint", "certificate", "password_file", "password_env", "topic", "proxy",
     "ca_file", "timeout"}
)  # fmt: skip
_ENDPOINT = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>\d{1,5})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeConfig:
    """How the daemon probes APNs. None means: the first ``certificates`` entry's path and
    password source, the certificate's UID as topic, HTTPS_PROXY/NO_PROXY, the system's trust."""

    interval: float = DEFAULT_INTERVAL
    endpoint: str = PRODUCTION_ENDPOINT
    certificate: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    topic: str | None = None
    proxy: str | None = field(default=None, repr=False)  # may hold user:password
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def with_paths(self, fix: Callable[[str | None], str | None]) -> ProbeConfig:
        """The same section with its paths passed through ``fix`` (made absolute)."""
        return replace(
            self,
            certificate=fix(self.certificate),
            password_file=fix(self.password_file),
            ca_file=fix(self.ca_file),
        )


def parse_endpoint(text: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' into (host, port); ValueError says what is wrong."""
    match = _ENDPOINT.fullmatch(text.strip())
    if match is None:
        raise ValueError("must be HOST:PORT, e.g. api.push.apple.com:443")
    port = int(match["port"])
    if not 0 < port <= 65535:
        raise ValueError("the port must be from 1 to 65535")
    return match["v6"] or match["host"], port


_STRINGS = ("certificate", "password_file", "password_env", "topic", "ca_file")


def parse_probe(value: object, check: Checker, *, where: str = "probe") -> ProbeConfig | None:
    """The section (an empty ``probe:`` means every default); None when it has problems.

    Every problem goes to ``check`` (the config's checker), which raises them all at once.
    """
    if value is None:
        return ProbeConfig()
    section = check.mapping(where, value)
    if section is None:
        return None
    before = len(check.problems)
    check.keys(where, section, PROBE_KEYS)
    found: dict[str, Any] = {
        key: check.string(f"{where}.{key}", section[key]) for key in _STRINGS if key in section
    }
    if found.get("password_file") and found.get("password_env"):
        check.problem(where, "give password_file or password_env, not both")
    if "endpoint" in section:
        found["endpoint"] = _endpoint(check, f"{where}.endpoint", section["endpoint"])
    if "proxy" in section:
        found["proxy"] = _proxy(check, f"{where}.proxy", section["proxy"])
    if "interval" in section:
        found["interval"] = _interval(check, f"{where}.interval", section["interval"])
    if "timeout" in section:
        found["timeout"] = _timeout(check, f"{where}.timeout", section["timeout"])
    if len(check.problems) > before:
        return None
    return ProbeConfig(**{k: v for k, v in found.items() if v is not None})


def _endpoint(check: Checker, where: str, value: object) -> str | None:
    text = check.string(where, value)
    if text is None:
        return None
    try:
        parse_endpoint(text)
    except ValueError as exc:
        check.fail(where, str(exc), value)
        return None
    return text.strip()


def _proxy(check: Checker, where: str, value: object) -> str | None:
    """An http:// proxy URL (or host:port); never shown: it may hold a password."""
    text = check.string(where, value, secret=True)
    if text is None:
        return None
    scheme = text.partition("://")[0].lower() if "://" in text else "http"
    if scheme != "http":
        check.fail(where, f"must be an http:// proxy (CONNECT), not {scheme}://", secret=True)
        return None
    return text.strip()


def _interval(check: Checker, where: str, value: object) -> float | None:
    """Seconds between probes, at least MIN_INTERVAL."""
    seconds = check.number(where, value, positive=True)
    if seconds is not None and seconds < MIN_INTERVAL:
        rule = (
            f"must be at least {MIN_INTERVAL:g} seconds: Apple treats frequent connections as abuse"
        )
        check.fail(where, rule, value)
        return None
    return seconds


def _timeout(check: Checker, where: str, value: object) -> float | None:
    """Seconds for the whole probe, at most MAX_TIMEOUT."""
    seconds = check.number(where, value, positive=True)
    if seconds is not None and seconds > MAX_TIMEOUT:
        check.fail(where, f"must be at most {MAX_TIMEOUT:g} seconds", value)
        return None
    return seconds
