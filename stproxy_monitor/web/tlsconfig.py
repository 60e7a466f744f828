"""tls_server_config of the web config: its names, its frozen form and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field

from stproxy_monitor.validation import Checker

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


def parse_tls(check: Checker, value: object) -> TLSServerConfig | None:
    """tls_server_config; None when it configures nothing (exporter-toolkit: plain HTTP)."""
    if value is None or (value := check.mapping("tls_server_config", value)) is None:
        return None
    check.keys("tls_server_config", value, _TLS_KEYS)
    where = "tls_server_config"
    cert = check.optional_string(f"{where}.cert_file", value.get("cert_file"))
    key = check.optional_string(f"{where}.key_file", value.get("key_file"), secret=True)
    cert_text = check.optional_string(f"{where}.cert", value.get("cert"))
    key_text = check.optional_string(f"{where}.key", value.get("key"), secret=True)
    ca_file = check.optional_string(f"{where}.client_ca_file", value.get("client_ca_file"))
    ca_text = check.optional_string(f"{where}.client_ca", value.get("client_ca"))
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
        f"{where}.prefer_server_cipher_suites", value.get("prefer_server_cipher_suites", True), True
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
    return auth  # without a client CA, certificates are verified against the system's roots


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
    """curve_preferences: Go's curve names, in order of preference."""
    where = "tls_server_config.curve_preferences"
    names = check.strings(where, value)
    for index, name in enumerate(names):
        if name not in CURVES:
            check.fail(f"{where}[{index}]", f"must be one of {', '.join(CURVES)}", name)
    return tuple(dict.fromkeys(n for n in names if n in CURVES))
