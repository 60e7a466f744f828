"""The exporter-toolkit web config (web-config.yml): read, validated all at once, frozen."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

from stproxy_monitor.validation import Checker, read_yaml
from stproxy_monitor.web.tlsconfig import (
    CIPHER_SUITES,
    CLIENT_AUTH_TYPES,
    CURVES,
    INSECURE_CIPHER_SUITES,
    TLS_VERSIONS,
    UNVERIFIED_CLIENT_AUTH_TYPES,
    VERIFYING_CLIENT_AUTH_TYPES,
    TLSServerConfig,
    parse_tls,
)

__all__ = [
    "CIPHER_SUITES",
    "CLIENT_AUTH_TYPES",
    "CURVES",
    "DEFAULT_AUTH_EXCLUDED_PATHS",
    "HEADER_VALUES",
    "INSECURE_CIPHER_SUITES",
    "TLS_VERSIONS",
    "UNVERIFIED_CLIENT_AUTH_TYPES",
    "VERIFYING_CLIENT_AUTH_TYPES",
    "TLSServerConfig",
    "WebConfig",
    "load_web_config",
    "parse_web_config",
    "relative_to",
]

HEADER_VALUES: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
DEFAULT_AUTH_EXCLUDED_PATHS = frozenset({"/-/healthy"})
_TOP_KEYS = frozenset(
    {
        "tls_server_config",
        "http_server_config",
        "basic_auth_users",
        "auth_excluded_paths",
        "rate_limit",
    }
)
_HTTP_KEYS = frozenset({"http2", "headers"})
_RATE_KEYS = frozenset({"interval", "burst"})
# Prometheus' duration syntax (model.Duration), as exporter-toolkit reads rate_limit.interval.
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WebConfig:
    """The whole web config; users' bcrypt hashes never appear in a repr."""

    source: str = "web config"
    tls: TLSServerConfig | None = None
    users: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = True
    auth_excluded_paths: frozenset[str] = DEFAULT_AUTH_EXCLUDED_PATHS
    rate_limit: tuple[float, int] | None = None  # (interval seconds, burst); None: no limit

    @property
    def files(self) -> tuple[str, ...]:
        """The files besides the web config itself that it reads."""
        return self.tls.files if self.tls else ()


def load_web_config(path: str) -> WebConfig:
    """Read and validate a web config file; relative file names are relative to it."""
    data = read_yaml(path)
    config = parse_web_config({} if data is None else data, source=path)
    return relative_to(config, os.path.dirname(os.path.abspath(path)))


def relative_to(config: WebConfig, base: str) -> WebConfig:
    """Resolve relative file names against `base` (exporter-toolkit's SetDirectory)."""
    if config.tls is None:
        return config

    def fix(value: str | None) -> str | None:
        return value if value is None or os.path.isabs(value) else os.path.join(base, value)

    tls = config.tls
    return replace(
        config,
        tls=replace(
            tls,
            cert_file=(fix(tls.cert_file) or "") if tls.cert_file else "",
            key_file=(fix(tls.key_file) or "") if tls.key_file else "",
            client_ca_file=fix(tls.client_ca_file),
        ),
    )


def parse_web_config(data: object, *, source: str = "web config") -> WebConfig:
    """Validate a decoded web-config.yml document (pure); ConfigError lists every problem."""
    check = Checker(source)
    doc = check.document(data)
    check.keys("", doc, _TOP_KEYS)
    tls = parse_tls(check, doc.get("tls_server_config"))
    users = _users(check, doc.get("basic_auth_users"))
    http2 = True
    headers: tuple[tuple[str, str], ...] = ()
    http = doc.get("http_server_config")
    if http is not None and (http := check.mapping("http_server_config", http)) is not None:
        check.keys("http_server_config", http, _HTTP_KEYS)
        http2 = check.boolean("http_server_config.http2", http.get("http2", True), True)
        headers = _headers(check, http.get("headers"))
    excluded = DEFAULT_AUTH_EXCLUDED_PATHS
    if "auth_excluded_paths" in doc:
        excluded = _paths(check, doc["auth_excluded_paths"])
    rate_limit = _rate_limit(check, doc.get("rate_limit"))
    check.done()
    return WebConfig(
        source=source,
        tls=tls,
        users=users,
        headers=headers,
        http2=http2,
        auth_excluded_paths=excluded,
        rate_limit=rate_limit,
    )


def _users(check: Checker, value: object) -> tuple[tuple[str, bytes], ...]:
    """basic_auth_users: user -> bcrypt hash; entries are named by position, never by content."""
    if value is None or (value := check.mapping("basic_auth_users", value)) is None:
        return ()
    users = []
    for index, (user, hashed) in enumerate(value.items(), start=1):
        where = f"basic_auth_users (entry {index})"
        if not isinstance(user, str) or not user:
            check.fail(where, "the user name must be a non-empty string", user, secret=True)
            continue
        if ":" in user:
            check.fail(
                where, "the user name must not contain ':' (HTTP basic auth)", user, secret=True
            )
            continue
        if not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
            check.fail(
                where,
                "must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 60 characters)",
                hashed,
                secret=True,
            )
            continue
        users.append((user, hashed.encode("ascii")))
    return tuple(users)


def _headers(check: Checker, value: object) -> tuple[tuple[str, str], ...]:
    """http_server_config.headers: exporter-toolkit's security headers only."""
    where = "http_server_config.headers"
    if value is None or (value := check.mapping(where, value)) is None:
        return ()
    out = []
    for name, given in value.items():
        place = f"{where}.{name}"
        if name not in HEADER_VALUES:
            check.fail(place, f"cannot be configured; allowed: {', '.join(HEADER_VALUES)}")
            continue
        allowed = HEADER_VALUES[name]
        text = _scalar_text(given)
        if not isinstance(text, str) or not text or any(ord(c) < 32 for c in text):
            check.fail(place, "must be a non-empty single-line string", text)
        elif allowed is not None and text not in allowed:
            check.fail(place, f"must be one of {', '.join(allowed)}", text)
        else:
            out.append((str(name), text))
    return tuple(out)


def _paths(check: Checker, value: object) -> frozenset[str]:
    """auth_excluded_paths: exact URL paths served without authentication."""
    paths = check.strings("auth_excluded_paths", value)
    for index, path in enumerate(paths):
        if not path.startswith("/") or "?" in path:
            check.fail(
                f"auth_excluded_paths[{index}]", "must be a URL path such as /-/healthy", path
            )
    return frozenset(paths)


def _rate_limit(check: Checker, value: object) -> tuple[float, int] | None:
    """rate_limit: {interval, burst} as exporter-toolkit; interval 0 (or none) means no limit."""
    if value is None or (value := check.mapping("rate_limit", value)) is None:
        return None
    check.keys("rate_limit", value, _RATE_KEYS)
    interval = _duration(check, "rate_limit.interval", value.get("interval", 0))
    burst = value.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        check.fail("rate_limit.burst", "must be a whole number, 0 or more", burst)
        return None
    return (interval, burst) if interval else None


def _duration(check: Checker, where: str, value: object) -> float:
    """A Prometheus duration ("1s", "500ms", "1m30s") or 0, in seconds."""
    if value == 0 and not isinstance(value, bool):
        return 0.0
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if match is None:
        check.fail(where, 'must be a duration such as "1s", "500ms" or 0', value)
        return 0.0
    return sum(int(n) * unit for n, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if n)


def _scalar_text(value: object) -> object:
    """A YAML scalar as the string Go's map[string]string gets (1 -> "1", true -> "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
