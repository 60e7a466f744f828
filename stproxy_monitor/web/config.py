"""The exporter-toolkit web config (web-config.yml): read, validated all at once, frozen."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

from stproxy_monitor.validation import Checker, read_yaml

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
    {"tls_server_config", "http_server_config", "basic_auth_users", "auth_excluded_paths"}
)
_TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
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
_UNSUPPORTED = {
    "rate_limit": "is not supported by stproxy-monitor (remove it)",
    "tls_server_config.cert": (
        "inline certificates are not supported: Python's ssl module loads them from files; "
        "use cert_file"
    ),
    "tls_server_config.key": (
        "inline private keys are not supported: Python's ssl module loads them from files; "
        "use key_file"
    ),
}
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSServerConfig:
    """tls_server_config: the server certificate and what is asked of clients."""

    cert_file: str
    key_file: str = field(repr=False)
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
        return tuple(f for f in (self.cert_file, self.key_file, self.client_ca_file) if f)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebConfig:
    """The whole web config; users' bcrypt hashes never appear in a repr."""

    source: str = "web config"
    tls: TLSServerConfig | None = None
    users: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = True
    auth_excluded_paths: frozenset[str] = DEFAULT_AUTH_EXCLUDED_PATHS

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
            cert_file=fix(tls.cert_file) or tls.cert_file,
            key_file=fix(tls.key_file) or tls.key_file,
            client_ca_file=fix(tls.client_ca_file),
        ),
    )


def parse_web_config(data: object, *, source: str = "web config") -> WebConfig:
    """Validate a decoded web-config.yml document (pure); ConfigError lists every problem."""
    check = Checker(source)
    doc = check.document(data)
    check.keys("", doc, _TOP_KEYS, _UNSUPPORTED)
    tls = _tls(check, doc.get("tls_server_config"))
    users = _users(check, doc.get("basic_auth_users"))
    http2 = True
    headers: tuple[tuple[str, str], ...] = ()
    http = doc.get("http_server_config")
    if http is not None and (http := check.mapping("http_server_config", http)) is not None:
        check.keys("http_server_config", http, _HTTP_KEYS, _UNSUPPORTED)
        http2 = check.boolean("http_server_config.http2", http.get("http2", True), True)
        headers = _headers(check, http.get("headers"))
    excluded = DEFAULT_AUTH_EXCLUDED_PATHS
    if "auth_excluded_paths" in doc:
        excluded = _paths(check, doc["auth_excluded_paths"])
    check.done()
    return WebConfig(
        source=source,
        tls=tls,
        users=users,
        headers=headers,
        http2=http2,
        auth_excluded_paths=excluded,
    )


def _tls(check: Checker, value: object) -> TLSServerConfig | None:
    """tls_server_config; None when it configures nothing (exporter-toolkit: plain HTTP)."""
    if value is None or (value := check.mapping("tls_server_config", value)) is None:
        return None
    check.keys("tls_server_config", value, _TLS_KEYS, _UNSUPPORTED)
    where = "tls_server_config"
    cert = check.optional_string(f"{where}.cert_file", value.get("cert_file"))
    key = check.optional_string(f"{where}.key_file", value.get("key_file"), secret=True)
    ca_file = check.optional_string(f"{where}.client_ca_file", value.get("client_ca_file"))
    ca_text = check.optional_string(f"{where}.client_ca", value.get("client_ca"))
    auth = value.get("client_auth_type")
    enabled = any(value.get(k) for k in ("cert_file", "key_file", "client_ca_file", "client_ca"))
    if not enabled and not auth:
        return None
    for name in ("cert_file", "key_file"):
        if value.get(name) is None:
            check.fail(f"{where}.{name}", "is required to serve TLS")
    client_auth = _client_auth(check, auth, has_ca=bool(ca_file or ca_text))
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
        f"{where}.prefer_server_cipher_suites", value.get("prefer_server_cipher_suites", True), True
    )
    return TLSServerConfig(
        cert_file=cert or "",
        key_file=key or "",
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


def _version(check: Checker, where: str, value: object, default: str) -> str:
    """TLS12 or TLS13; Go's TLS10/TLS11 are refused with their own reason."""
    if value in ("TLS10", "TLS11"):
        check.fail(where, "TLS 1.0 and 1.1 are not accepted (deprecated, RFC 8996)", value)
        return default
    return check.choice(where, value, TLS_VERSIONS, default)


def _client_auth(check: Checker, value: object, *, has_ca: bool) -> str:
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
    if not has_ca and auth in VERIFYING_CLIENT_AUTH_TYPES:
        check.fail(where, f"{auth} needs client_ca_file (or client_ca) to verify against")
    return auth


def _ciphers(check: Checker, value: object) -> tuple[str, ...]:
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


def _curves(check: Checker, value: object) -> tuple[str, ...]:
    """curve_preferences: Python's ssl module can restrict the server to one curve only."""
    where = "tls_server_config.curve_preferences"
    names = check.strings(where, value)
    for index, name in enumerate(names):
        if name not in CURVES:
            check.fail(f"{where}[{index}]", f"must be one of {', '.join(CURVES)}", name)
    if len(names) > 1:
        check.fail(
            where,
            "can name one curve only: Python's ssl module cannot set a preference list",
            value,
        )
    return tuple(n for n in names if n in CURVES)[:1]


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
    for name, text in value.items():
        place = f"{where}.{name}"
        if name not in HEADER_VALUES:
            check.fail(place, f"cannot be configured; allowed: {', '.join(HEADER_VALUES)}")
            continue
        allowed = HEADER_VALUES[name]
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
