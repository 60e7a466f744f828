"""The probe's TLS client context: the PKCS#12's key and certificate, loaded through files that
exist for a moment only.

Python's ``ssl`` loads a client key from a file and nothing else. The key is written, encrypted
with a random one-time password, into a fresh directory of mode 0700 (``tempfile.mkdtemp``),
loaded into the context, and the directory is removed before this module returns, whatever
happens. The key, its password and the PKCS#12 password never reach a log, a label or a message.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from stproxy_monitor.certs import apple
from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.errors import CertificateError

_BER_WARNING = "PKCS#12 bundle could not be parsed as DER"
MakeTempDir = Callable[[], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientCertificate:
    """What the probe tells about its own certificate: subject, UID (the default topic)."""

    subject: str
    uid: str | None
    environment: str  # production, sandbox, both or unknown (Apple's extensions)
    not_after: float


@dataclass(frozen=True, slots=True)
class Identity:
    """A private key, its certificate and the rest of the PKCS#12's certificates; repr shows no
    key."""

    key: PrivateKeyTypes = field(repr=False)
    cert: x509.Certificate
    extra: tuple[x509.Certificate, ...] = ()


def load_identity(
    path: str, password: PasswordSource | None, *, environ: Mapping[str, str]
) -> Identity:
    """The key and certificates of a PKCS#12 file; CertificateError (reason as `certificates`:
    missing, permission, bad_password, corrupt) when it cannot give a key and its certificate."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CertificateError(f"{path}: cannot read: no such file", reason="missing") from None
    except OSError as exc:
        raise CertificateError(
            f"{path}: cannot read: {exc.strerror or type(exc).__name__}", reason="permission"
        ) from None
    secret = password.resolve(environ=environ) if password is not None else None
    bundle = _open(path, data, secret)
    if bundle.key is None or bundle.cert is None:
        raise CertificateError(
            f"{path}: holds no private key with its certificate: the probe needs both",
            reason="corrupt",
        )
    extra = tuple(c.certificate for c in bundle.additional_certs)
    return Identity(key=bundle.key, cert=bundle.cert.certificate, extra=extra)


def _open(path: str, data: bytes, secret: bytes | None) -> pkcs12.PKCS12KeyAndCertificates:
    """load_pkcs12 with the password, then without one (an unprotected file opens so)."""
    for candidate in dict.fromkeys([secret, None, b""]):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_BER_WARNING, category=UserWarning)
                return pkcs12.load_pkcs12(data, candidate)
        except ValueError:
            continue
    if not data.startswith(b"\x30"):
        raise CertificateError(f"{path}: cannot read: not a PKCS#12 file", reason="corrupt")
    wording = "no password was given" if secret is None else "the password given is wrong"
    raise CertificateError(f"{path}: cannot read: {wording}", reason="bad_password")


def describe(identity: Identity) -> ClientCertificate:
    """Subject, UID and end of validity of the identity's certificate."""
    cert = identity.cert
    return ClientCertificate(
        subject=cert.subject.rfc4514_string(),
        uid=apple.uid(cert) or None,
        environment=apple.environment(cert),
        not_after=cert.not_valid_after_utc.timestamp(),
    )


def client_context(
    identity: Identity,
    *,
    ca_file: str | None,
    make_temp_dir: MakeTempDir = tempfile.mkdtemp,
) -> ssl.SSLContext:
    """A TLS 1.2+ client context offering ALPN h2, verifying the server and its name, presenting
    the bundle's certificate (and its chain). OSError / ssl.SSLError for an unusable ca_file."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    else:
        context.load_default_certs()
    load_client_certificate(context, identity, make_temp_dir=make_temp_dir)
    return context


class LoadsCertChain(Protocol):
    """The part of ssl.SSLContext that loads a client certificate (fakes in tests)."""

    def load_cert_chain(self, certfile: str, keyfile: str, password: bytes) -> None: ...


def load_client_certificate(
    context: LoadsCertChain, identity: Identity, *, make_temp_dir: MakeTempDir = tempfile.mkdtemp
) -> None:
    """Load key and chain through a 0700 directory that is gone when this returns."""
    one_time = secrets.token_urlsafe(32).encode("ascii")
    key_pem = identity.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    chain = [identity.cert, *identity.extra]
    cert_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    directory = make_temp_dir()
    try:
        os.chmod(directory, 0o700)
        key_file = _write_private(directory, "key.pem", key_pem)
        cert_file = _write_private(directory, "cert.pem", cert_pem)
        context.load_cert_chain(cert_file, key_file, password=one_time)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_private(directory: str, name: str, data: bytes) -> str:
    """Write a new file readable by its owner only."""
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
