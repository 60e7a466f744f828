"""The config's ``probe:`` section (off without it): validated all at once into a ProbeConfig.

Pure: the checker records every problem with its place, rule and value. Paths are resolved
against the config file's directory by config.relative_to, as every other path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

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


class Checker(Protocol):
    """What the section needs of the config's checker: record a problem (place, rule, value)."""

    def fail(self, where: str, rule: str, value: object) -> None:
        """Record one problem."""


_STRINGS = ("certificate", "password_file", "password_env", "topic", "ca_file")


def parse_probe(value: object, check: Checker, *, where: str = "probe") -> ProbeConfig | None:
    """The section (an empty ``probe:`` means every default); None when it has problems."""
    if value is None:
        return ProbeConfig()
    if not isinstance(value, dict):
        check.fail(where, "must be a mapping of probe settings", value)
        return None
    problems = _Counter(check)
    for key in sorted(set(value) - PROBE_KEYS, key=str):
        problems.fail(f"{where}.{key}", "unknown key", key)
    found: dict[str, Any] = {}
    for key in _STRINGS:
        if key in value:
            found[key] = _string(problems, f"{where}.{key}", value[key])
    if found.get("password_file") and found.get("password_env"):
        problems.fail(where, "give password_file or password_env, not both", "both")
    if "endpoint" in value:
        found["endpoint"] = _endpoint(problems, f"{where}.endpoint", value["endpoint"])
    if "proxy" in value:
        found["proxy"] = _proxy(problems, f"{where}.proxy", value["proxy"])
    if "interval" in value:
        found["interval"] = _seconds(
            problems, f"{where}.interval", value["interval"], low=MIN_INTERVAL, high=None
        )
    if "timeout" in value:
        found["timeout"] = _seconds(
            problems, f"{where}.timeout", value["timeout"], low=None, high=MAX_TIMEOUT
        )
    if problems.count:
        return None
    return ProbeConfig(**{k: v for k, v in found.items() if v is not None})


class _Counter:
    """Passes problems on to the checker and counts them."""

    def __init__(self, check: Checker) -> None:
        self.check = check
        self.count = 0

    def fail(self, where: str, rule: str, value: object) -> None:
        self.count += 1
        self.check.fail(where, rule, value)


def _string(check: _Counter, where: str, value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    check.fail(where, "must be a non-empty string", value)
    return None


def _endpoint(check: _Counter, where: str, value: object) -> str | None:
    text = _string(check, where, value)
    if text is None:
        return None
    try:
        parse_endpoint(text)
    except ValueError as exc:
        check.fail(where, str(exc), value)
        return None
    return text.strip()


def _proxy(check: _Counter, where: str, value: object) -> str | None:
    """An http:// proxy URL (or host:port); the value is never shown: it may hold a password."""
    if not isinstance(value, str) or not value.strip():
        check.fail(where, "must be a non-empty string such as http://proxy:3128", type(value))
        return None
    scheme = value.partition("://")[0].lower() if "://" in value else "http"
    if scheme != "http":
        check.fail(where, "must be an http:// proxy (CONNECT)", f"{scheme}://...")
        return None
    return value.strip()


def _seconds(
    check: _Counter, where: str, value: object, *, low: float | None, high: float | None
) -> float | None:
    """A finite number of seconds > 0, at least ``low`` and at most ``high`` when given."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        check.fail(where, "must be a number of seconds", value)
        return None
    try:
        number = float(value) if math.isfinite(value) else math.nan
    except OverflowError:  # an int beyond any float
        number = math.nan
    if not number > 0:
        check.fail(where, "must be a finite number greater than 0", value)
        return None
    if low is not None and number < low:
        rule = f"must be at least {low:g} seconds: Apple treats frequent connections as abuse"
        check.fail(where, rule, value)
        return None
    if high is not None and number > high:
        check.fail(where, f"must be at most {high:g} seconds", value)
        return None
    return number
