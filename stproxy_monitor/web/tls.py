"""The server's SSLContext from a validated tls_server_config: policy, files, client checks."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Iterator

import structlog
from cryptography import x509

from stproxy_monitor.errors import ConfigError
from stproxy_monitor.web import openssl
from stproxy_monitor.web.config import CURVES, VERIFYING_CLIENT_AUTH_TYPES, TLSServerConfig

log = structlog.get_logger(__name__)

_CLIENT_AUTH_MODES = {
    # RequestClientCert: Go asks for a certificate and never checks it, so it carries no
    # authority; here it does not ask at all.
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# TLS 1.2 without cipher_suites: forward-secret AEAD suites only, in Go's order (no CBC, no
# RSA key exchange, no finite-field DHE). TLS 1.3 suites are all AEAD.
DEFAULT_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
# Without curve_preferences: Go's groups that this OpenSSL has (no ffdhe*, no X448).
DEFAULT_GROUPS = ("X25519", "CurveP256", "CurveP384")


def build_ssl_context(tls: TLSServerConfig, *, source: str) -> tuple[ssl.SSLContext, float]:
    """A server SSLContext and the leaf certificate's end of validity; ConfigError says why not.

    The private key goes straight from key_file (or an anonymous in-memory file for an inline
    key) into OpenSSL: it is never logged, and an encrypted key fails instead of prompting.
    """
    where = f"{source}: tls_server_config"
    problems: list[str] = []
    # A combined PEM (cert_file == key_file) is named by its key only: its path is a key path.
    shown = "" if tls.cert_file == tls.key_file else f" (got {tls.cert_file})"
    if tls.cert is not None:
        not_after = _not_after(tls.cert.encode(), f"{where}.cert", "", problems)
    else:
        not_after = _leaf_not_after(tls.cert_file, f"{where}.cert_file", shown, problems)
    if tls.key is None:
        try:
            with open(tls.key_file, "rb"):
                pass
        except OSError as exc:
            problems.append(f"{where}.key_file: cannot read: {exc.strerror or type(exc).__name__}")
    if problems:
        raise ConfigError(problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.maximum_version = _VERSIONS[tls.max_version]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if not tls.prefer_server_cipher_suites:  # Python's server contexts prefer their own order
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.set_ciphers(tls.openssl_ciphers or DEFAULT_CIPHERS)
    except ssl.SSLError:
        problems.append(f"{where}.cipher_suites: none is available in this Python's OpenSSL")
    _set_groups(context, tls.curve_preferences or DEFAULT_GROUPS, where, problems)
    context.set_alpn_protocols(["http/1.1"])
    _load_key_pair(context, tls, where, problems)
    _client_verification(context, tls, where, problems)
    if problems:
        raise ConfigError(problems)
    return context, not_after or 0.0


def _load_key_pair(
    context: ssl.SSLContext, tls: TLSServerConfig, where: str, problems: list[str]
) -> None:
    """The certificate chain and its key, from files or inline PEM."""
    key_key = "key" if tls.key is not None else "key_file"
    with _pem_file(tls.cert) as cert_path, _pem_file(tls.key) as key_path:
        try:
            context.load_cert_chain(
                cert_path or tls.cert_file, key_path or tls.key_file, password=_no_password
            )
        except ssl.SSLError as exc:
            problems.append(f"{where}.{key_key}: {_key_problem(exc, key_key)}")


def _client_verification(
    context: ssl.SSLContext, tls: TLSServerConfig, where: str, problems: list[str]
) -> None:
    """What is asked of a client certificate: the mode, trust anchors, allowed SANs."""
    context.verify_mode = _CLIENT_AUTH_MODES[tls.client_auth_type]
    if tls.client_auth_type in VERIFYING_CLIENT_AUTH_TYPES:
        if tls.client_ca_file or tls.client_ca:
            _load_client_cas(context, tls, where, problems)
        else:  # as Go: verified against the system's roots
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    if tls.client_allowed_sans:
        allowed = frozenset(tls.client_allowed_sans)
        if not openssl.set_leaf_check(context, lambda der: san_allowed(der, allowed)):
            problems.append(
                f"{where}.client_allowed_sans: this Python's ssl module gives no access to the "
                "handshake's certificate check (OpenSSL context not found)"
            )


def _set_groups(
    context: ssl.SSLContext, curves: tuple[str, ...], where: str, problems: list[str]
) -> None:
    """The key-exchange groups, in order; one curve with set_ecdh_curve where that is all."""
    if openssl.set_groups(context, [CURVES[c] for c in curves]):
        return
    if len(curves) == 1:
        context.set_ecdh_curve(CURVES[curves[0]])
    elif curves is DEFAULT_GROUPS:
        log.warning("tls_groups_not_restricted", detail="OpenSSL context not found")
    else:
        problems.append(
            f"{where}.curve_preferences: this Python's ssl module can set one curve only "
            "(OpenSSL context not found)"
        )


@contextlib.contextmanager
def _pem_file(text: str | None) -> Iterator[str | None]:
    """A path OpenSSL can read an inline PEM from: an anonymous in-memory file where the
    system has them (nothing reaches a disk), else a private temporary file; None for None."""
    if text is None:
        yield None
        return
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("stproxy-monitor-pem", os.MFD_CLOEXEC)
        try:
            os.write(fd, text.encode())
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as private:  # mode 0700
        path = os.path.join(private, "inline.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(text)
        yield path


def _no_password() -> bytes:
    """The key's password callback: keys must not be encrypted (as in exporter-toolkit)."""
    return b""


def _key_problem(exc: ssl.SSLError, key: str) -> str:
    """What went wrong loading the key (without its path or any of its content)."""
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"does not belong to the certificate in {key.replace('key', 'cert')}"
    detail = f" (OpenSSL: {exc.reason})" if exc.reason else ""
    return f"is not a usable private key: it must be an unencrypted PEM key{detail}"


def _leaf_not_after(path: str, where: str, shown: str, problems: list[str]) -> float | None:
    """The first certificate's notAfter from a PEM file; problems say why not."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1024 * 1024)
    except OSError as exc:
        problems.append(f"{where}: cannot read: {exc.strerror or type(exc).__name__}{shown}")
        return None
    return _not_after(data, where, shown, problems)


def _not_after(data: bytes, where: str, shown: str, problems: list[str]) -> float | None:
    """The first certificate's notAfter from PEM bytes; problems say why not."""
    try:
        leaf = x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        problems.append(f"{where}: holds no PEM certificate{shown}")
        return None
    return leaf.not_valid_after_utc.timestamp()


def _load_client_cas(
    context: ssl.SSLContext, tls: TLSServerConfig, where: str, problems: list[str]
) -> None:
    """Trust anchors for client certificates, from client_ca_file or inline client_ca."""
    key = "client_ca_file" if tls.client_ca_file else "client_ca"
    try:
        if tls.client_ca_file:
            context.load_verify_locations(cafile=tls.client_ca_file)
        else:
            context.load_verify_locations(cadata=tls.client_ca)
    except FileNotFoundError as exc:
        problems.append(f"{where}.{key}: cannot read: {exc.strerror} (got {tls.client_ca_file})")
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "unreadable"
        problems.append(f"{where}.{key}: holds no usable PEM CA certificate ({reason})")


def san_allowed(der: bytes, allowed: frozenset[str]) -> bool:
    """Whether a certificate names one of the allowed SANs: DNS, e-mail, URI as written, IP
    addresses compared as addresses (exporter-toolkit's client_allowed_sans)."""
    try:
        sans = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except (ValueError, x509.ExtensionNotFound):
        return False
    names = {str(value) for value in sans.value.get_values_for_type(x509.DNSName)}
    names |= {str(v) for v in sans.value.get_values_for_type(x509.RFC822Name)}
    names |= {str(v) for v in sans.value.get_values_for_type(x509.UniformResourceIdentifier)}
    ips = set(sans.value.get_values_for_type(x509.IPAddress))
    return bool(names & allowed) or bool(ips & _ips(allowed))


def _ips(values: frozenset[str]) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The values that are IP addresses, parsed."""
    out = set()
    for value in values:
        try:
            out.add(ipaddress.ip_address(value))
        except ValueError:
            continue
    return out
