"""The exporter-toolkit web config (web-config.yml): read, validated all at once, frozen."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from stproxy_monitor.config import read_yaml
from stproxy_monitor.errors import ConfigError

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
# Go accepts these too, but they ask for a client certificate without verifying it: Python's ssl
# module verifies every certificate it asks for, so they cannot be honoured.
UNVERIFIED_CLIENT_AUTH_TYPES = ("RequireAnyClientCert", "RequireClientCert")
VERIFYING_CLIENT_AUTH_TYPES = ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
TLS_VERSIONS = ("TLS12", "TLS13")
# Go's tls.CipherSuites() names -> OpenSSL names. None: a TLS 1.3 suite, which neither Go nor
# Python's ssl module lets a server configure (they are accepted and have no effect, as in Go).
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
# Go's tls.InsecureCipherSuites(): exporter-toolkit refuses them, and so do we.
INSECURE_CIPHER_SUITES = frozenset(
    {
        "TLS_RSA_WITH_RC4_128_SHA",
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    }
)
CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
# exporter-toolkit's list; None: any single-line value.
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
_TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "cert",
        "key",
        "client_auth_type",
        "client_ca_file",
        "client_ca",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "curve_preferences",
        "prefer_server_cipher_suites",
    }
)
_HTTP_KEYS = frozenset({"http2", "headers"})
_RATE_KEYS = frozenset({"interval", "burst"})
# Prometheus' duration syntax (model.Duration), as exporter-toolkit reads rate_limit.interval.
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_NO_VALUE = object()
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSServerConfig:
    """tls_server_config: the server certificate and what is asked of clients."""

    cert_file: str = ""
    key_file: str = field(default="", repr=False)
    cert: str | None = field(default=None, repr=False)  # inline PEM instead of cert_file
    key: str | None = field(default=None, repr=False)  # inline PEM instead of key_file
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    client_ca: str | None = field(default=None, repr=False)
    client_allowed_sans: tuple[str, ...] = ()
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True

    @property
    def openssl_ciphers(self) -> str | None:
        """The TLS 1.2 cipher string for SSLContext.set_ciphers, None for OpenSSL's default."""
        names = [CIPHER_SUITES[name] for name in self.cipher_suites]
        return ":".join(n for n in names if n) or None

    @property
    def files(self) -> tuple[str, ...]:
        """The files this section reads (watched for changes)."""
        names = (
            None if self.cert is not None else self.cert_file,
            None if self.key is not None else self.key_file,
            self.client_ca_file,
        )
        return tuple(f for f in names if f)


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
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: must be a mapping of keys (got {_kind(data)})"])
    check = _Checker(source)
    check.keys("", data, _TOP_KEYS)
    values: dict[str, Any] = {"source": source}
    values["tls"] = _tls(check, data.get("tls_server_config"))
    values["users"] = _users(check, data.get("basic_auth_users"))
    http = data.get("http_server_config")
    if http is not None and check.mapping("http_server_config", http):
        check.keys("http_server_config.", http, _HTTP_KEYS)
        values["http2"] = check.boolean("http_server_config.http2", http.get("http2", True))
        values["headers"] = _headers(check, http.get("headers"))
    if "auth_excluded_paths" in data:
        values["auth_excluded_paths"] = _paths(check, data["auth_excluded_paths"])
    values["rate_limit"] = _rate_limit(check, data.get("rate_limit"))
    if check.problems:
        raise ConfigError(check.problems)
    return WebConfig(**values)


def _kind(value: object) -> str:
    """A short description of a YAML value for messages."""
    return f"{type(value).__name__} {value!r}"[:80]


class _Checker:
    """Validators that record problems instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(
        self, where: str, rule: str, value: object = _NO_VALUE, *, secret: bool = False
    ) -> None:
        """Record one problem: place, rule and (unless secret) the value received."""
        if value is _NO_VALUE:
            got = ""
        else:
            got = " (value not shown)" if secret else f" (got {_kind(value)})"
        self.problems.append(f"{self.source}: {where}: {rule}{got}")

    def keys(self, prefix: str, data: dict[Any, Any], known: frozenset[str]) -> None:
        """Unknown keys, and exporter-toolkit keys that stproxy-monitor cannot honour."""
        for key in sorted(set(data) - known, key=str):
            where = f"{prefix}{key}"
            self.problems.append(f"{self.source}: {where}: unknown key")

    def mapping(self, where: str, value: object) -> bool:
        """A mapping (YAML dict)."""
        if isinstance(value, dict):
            return True
        self.fail(where, "must be a mapping", value)
        return False

    def string(self, where: str, value: object, *, secret: bool = False) -> str | None:
        """A non-empty string; None (a YAML null) counts as absent."""
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        self.fail(where, "must be a non-empty string", value, secret=secret)
        return None

    def boolean(self, where: str, value: object) -> bool:
        """true or false."""
        if isinstance(value, bool):
            return value
        self.fail(where, "must be true or false", value)
        return True

    def strings(self, where: str, value: object) -> tuple[str, ...]:
        """A list of non-empty strings."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(where, "must be a list of strings", value)
            return ()
        out = []
        for index, item in enumerate(value):
            if isinstance(item, str) and item.strip():
                out.append(item)
            else:
                self.fail(f"{where}[{index}]", "must be a non-empty string", item)
        return tuple(out)

    def choice(self, where: str, value: object, choices: tuple[str, ...], default: str) -> str:
        """One of fixed names."""
        if value is None:
            return default
        if value in choices:
            return str(value)
        self.fail(where, f"must be one of {', '.join(choices)}", value)
        return default


def _tls(check: _Checker, value: object) -> TLSServerConfig | None:
    """tls_server_config; None when it configures nothing (exporter-toolkit: plain HTTP)."""
    if value is None or not check.mapping("tls_server_config", value):
        return None
    assert isinstance(value, dict)  # noqa: S101 - narrowed by check.mapping
    check.keys("tls_server_config.", value, _TLS_KEYS)
    where = "tls_server_config"
    cert = check.string(f"{where}.cert_file", value.get("cert_file"))
    key = check.string(f"{where}.key_file", value.get("key_file"), secret=True)
    cert_text = check.string(f"{where}.cert", value.get("cert"))
    key_text = check.string(f"{where}.key", value.get("key"), secret=True)
    ca_file = check.string(f"{where}.client_ca_file", value.get("client_ca_file"))
    ca_text = check.string(f"{where}.client_ca", value.get("client_ca"))
    auth = value.get("client_auth_type")
    enabled = any(value.get(k) for k in ("cert_file", "key_file", "cert", "key", "client_ca_file"))
    if not enabled and not auth and not value.get("client_ca"):
        return None
    for name in ("cert", "key"):
        given = [k for k in (f"{name}_file", name) if value.get(k) is not None]
        if not given:
            check.fail(f"{where}.{name}_file", "is required to serve TLS")
        elif len(given) == 2:
            check.fail(where, f"give {name}_file or {name}, not both", "both")
    has_ca = bool(ca_file or ca_text or value.get("client_ca"))
    client_auth = _client_auth(check, auth, has_ca=has_ca)
    sans = check.strings(f"{where}.client_allowed_sans", value.get("client_allowed_sans"))
    if sans and client_auth != "RequireAndVerifyClientCert":
        check.fail(
            f"{where}.client_allowed_sans",
            "needs client_auth_type RequireAndVerifyClientCert",
            client_auth,
        )
    versions = [
        _version(check, f"{where}.{k}", value.get(k), default)
        for k, default in (("min_version", "TLS12"), ("max_version", "TLS13"))
    ]
    if versions == ["TLS13", "TLS12"]:
        check.fail(f"{where}.min_version", "must not be above max_version", "TLS13 > TLS12")
    if ca_file and ca_text:
        check.fail(where, "give client_ca_file or client_ca, not both", "both")
    prefer = check.boolean(
        f"{where}.prefer_server_cipher_suites", value.get("prefer_server_cipher_suites", True)
    )
    return TLSServerConfig(
        cert_file=cert or "",
        key_file=key or "",
        cert=cert_text,
        key=key_text,
        client_auth_type=client_auth,
        client_ca_file=ca_file,
        client_ca=ca_text,
        client_allowed_sans=sans,
        min_version=versions[0],
        max_version=versions[1],
        cipher_suites=_ciphers(check, value.get("cipher_suites")),
        curve_preferences=_curves(check, value.get("curve_preferences")),
        prefer_server_cipher_suites=prefer,
    )


def _version(check: _Checker, where: str, value: object, default: str) -> str:
    """TLS12 or TLS13; Go's TLS10/TLS11 are refused with their own reason."""
    if value in ("TLS10", "TLS11"):
        check.fail(where, "TLS 1.0 and 1.1 are not accepted (deprecated, RFC 8996)", value)
        return default
    return check.choice(where, value, TLS_VERSIONS, default)


def _client_auth(check: _Checker, value: object, *, has_ca: bool) -> str:
    """client_auth_type and its consistency with the client CA."""
    where = "tls_server_config.client_auth_type"
    if value in UNVERIFIED_CLIENT_AUTH_TYPES:
        check.fail(
            where,
            "is not supported: Python's ssl module verifies every client certificate it asks "
            "for; use RequireAndVerifyClientCert with client_ca_file",
            value,
        )
        return "RequireAndVerifyClientCert"
    auth = check.choice(where, value or None, CLIENT_AUTH_TYPES, "NoClientCert")
    if has_ca and auth == "NoClientCert":
        check.fail(
            "tls_server_config.client_ca_file",
            "client CAs are configured without a client_auth_type that asks for a certificate",
            auth,
        )
    return auth  # without a client CA, certificates are verified against the system's roots


def _ciphers(check: _Checker, value: object) -> tuple[str, ...]:
    """cipher_suites: Go's names of its secure suites."""
    where = "tls_server_config.cipher_suites"
    names = check.strings(where, value)
    for index, name in enumerate(names):
        if name in INSECURE_CIPHER_SUITES:
            check.fail(f"{where}[{index}]", "is an insecure cipher suite and not accepted", name)
        elif name not in CIPHER_SUITES:
            check.fail(
                f"{where}[{index}]",
                "must be a Go cipher suite name such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                name,
            )
    return tuple(n for n in names if n in CIPHER_SUITES)


def _curves(check: _Checker, value: object) -> tuple[str, ...]:
    """curve_preferences: Go's curve names, in order of preference."""
    where = "tls_server_config.curve_preferences"
    names = check.strings(where, value)
    for index, name in enumerate(names):
        if name not in CURVES:
            check.fail(f"{where}[{index}]", f"must be one of {', '.join(CURVES)}", name)
    return tuple(dict.fromkeys(n for n in names if n in CURVES))


def _users(check: _Checker, value: object) -> tuple[tuple[str, bytes], ...]:
    """basic_auth_users: user -> bcrypt hash; entries are named by position, never by content."""
    if value is None or not check.mapping("basic_auth_users", value):
        return ()
    assert isinstance(value, dict)  # noqa: S101 - narrowed by check.mapping
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


def _headers(check: _Checker, value: object) -> tuple[tuple[str, str], ...]:
    """http_server_config.headers: exporter-toolkit's security headers only."""
    where = "http_server_config.headers"
    if value is None or not check.mapping(where, value):
        return ()
    assert isinstance(value, dict)  # noqa: S101 - narrowed by check.mapping
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


def _paths(check: _Checker, value: object) -> frozenset[str]:
    """auth_excluded_paths: exact URL paths served without authentication."""
    paths = check.strings("auth_excluded_paths", value)
    for index, path in enumerate(paths):
        if not path.startswith("/") or "?" in path:
            check.fail(
                f"auth_excluded_paths[{index}]", "must be a URL path such as /-/healthy", path
            )
    return frozenset(paths)


def _rate_limit(check: _Checker, value: object) -> tuple[float, int] | None:
    """rate_limit: {interval, burst} as exporter-toolkit; interval 0 (or none) means no limit."""
    if value is None or not check.mapping("rate_limit", value):
        return None
    assert isinstance(value, dict)  # noqa: S101 - narrowed by check.mapping
    check.keys("rate_limit.", value, _RATE_KEYS)
    interval = _duration(check, "rate_limit.interval", value.get("interval", 0))
    burst = value.get("burst", 0)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        check.fail("rate_limit.burst", "must be a whole number, 0 or more", burst)
        return None
    return (interval, burst) if interval else None


def _duration(check: _Checker, where: str, value: object) -> float:
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
