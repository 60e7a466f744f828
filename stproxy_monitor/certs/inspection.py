"""Pure inspection of APNS certificates held as PKCS#12, PEM or DER bytes: no files, no clock."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12

from stproxy_monitor.errors import CertificateError

SECONDS_PER_DAY = 86400.0

# Fixed label values of stproxy_apns_certificate_read_errors_total{reason}.
READ_ERROR_REASONS = ("missing", "permission", "bad_password", "password_file_missing", "corrupt")

_PEM_MARKER = b"-----BEGIN"
_OID_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")
_OID_PKCS7_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
_END_OF_CONTENTS = b"\x00\x00"
# What cryptography warns (and then does) when a PKCS#12 is BER rather than DER.
_BER_WARNING = "PKCS#12 bundle could not be parsed as DER"


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateInfo:
    """What one certificate says about itself; never holds a key or a password.

    ``position`` is the index in the list returned by :func:`inspect_certificates`: for PEM the
    order in the file; for PKCS#12 0 is the private key's certificate, then the other certificates
    in stored order. ``is_leaf`` marks the key's certificate (PKCS#12) or the first one (PEM, DER,
    or a PKCS#12 that has no key). Fingerprints are lowercase hex without separators.
    ``environment``, ``uid`` and ``topics`` are Apple's facts (see certs.apple); ``apple_issued``
    whether the issuer is Apple's WWDR CA.
    """

    subject: str
    issuer: str
    serial: str
    not_before: float
    not_after: float
    sha256: str
    sha1: str
    md5: str
    is_leaf: bool
    position: int
    environment: str = "unknown"
    uid: str = ""
    topics: tuple[str, ...] = ()
    apple_issued: bool = False
    spki_sha256: str = ""  # of the DER SubjectPublicKeyInfo ("" for an unreadable key)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFacts:
    """What a file says beyond its certificates; None where it was not checked.

    ``kind`` is pkcs12, pem or der. For a PKCS#12: ``has_key`` whether it holds a private key,
    ``key_matches`` whether that key is the leaf's (None without a key), ``encryption`` the
    algorithms of its encrypted parts and ``mac`` its MAC digest (certs.pfx), ``pbes2`` whether
    any part uses PBES2 (None when the envelope could not be read). PEM and DER files hold no key
    here and are not encrypted: their key and encryption facts are None.
    """

    kind: str
    has_key: bool | None = None
    key_matches: bool | None = None
    encryption: tuple[str, ...] = ()
    mac: str = ""
    pbes2: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inspection:
    """Every certificate of one file (the leaf first) and the file's own facts."""

    certificates: tuple[CertificateInfo, ...]
    facts: FileFacts

    @property
    def leaf(self) -> CertificateInfo | None:
        """The leaf certificate (the key's, else the first), None for an empty file."""
        return next((info for info in self.certificates if info.is_leaf), None)


def inspect_certificates(data: bytes, password: bytes | None) -> list[CertificateInfo]:
    """Return every certificate in ``data`` (PKCS#12, PEM or DER), the leaf first for PKCS#12.

    Raises CertificateError with reason ``bad_password`` when a well-formed PKCS#12 cannot be
    opened with the password (a damaged PKCS#12 whose envelope is intact fails its integrity
    check the same way and cannot be told apart), and ``corrupt`` for anything else unreadable.
    """
    return list(inspect_file(data, password).certificates)


def inspect_file(data: bytes, password: bytes | None, *, allow_empty: bool = False) -> Inspection:
    """The certificates of ``data`` as :func:`inspect_certificates` and the file's facts.

    ``allow_empty``: a PKCS#12 without any certificate is read (a trust store may be empty),
    not refused as corrupt.
    """
    if data.lstrip().startswith(_PEM_MARKER):
        certs, facts = _load_pem(data), FileFacts(kind="pem")
    elif _looks_like_pkcs12(data):
        certs, facts = _load_pkcs12(data, password, allow_empty=allow_empty)
    else:
        certs, facts = _load_der(data), FileFacts(kind="der")
    infos = tuple(
        _describe(cert, position=index, is_leaf=index == 0)
        for index, cert in enumerate(_unique(certs))
    )
    return Inspection(certificates=infos, facts=facts)


class Expiring(Protocol):
    """Anything with an end of validity: a CertificateInfo, a row of the metrics."""

    @property
    def not_after(self) -> float:
        """End of validity, epoch seconds."""
        ...


def days_left(cert: Expiring, now: float) -> float:
    """Days from ``now`` (epoch seconds) to the end of validity; negative once expired."""
    return (cert.not_after - now) / SECONDS_PER_DAY


def _load_pem(data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError("PEM data holds no readable certificate", reason="corrupt") from None


def _load_der(data: bytes) -> list[x509.Certificate]:
    if not data.startswith(b"\x30"):  # every PKCS#12 and DER certificate is an ASN.1 SEQUENCE
        raise CertificateError(
            f"not a PKCS#12, PEM or DER certificate: {_what_it_is(data)}", reason="corrupt"
        )
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CertificateError(
            "not a readable PKCS#12, PEM or DER certificate: damaged or truncated",
            reason="corrupt",
        ) from None


def _what_it_is(data: bytes) -> str:
    """A few words on bytes that are no certificate: empty, text, or something else."""
    if not data.strip():
        return "the file is empty"
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text):
        return "a text file without a -----BEGIN CERTIFICATE----- block"
    return "binary data that does not begin like one"


def _load_pkcs12(
    data: bytes, password: bytes | None, *, allow_empty: bool = False
) -> tuple[list[x509.Certificate], FileFacts]:
    """Open the PKCS#12 with the password, then without one; the key is dropped at once.

    Only whether there is a key and whether it is the leaf's (same public key) is kept.
    """
    for candidate in _password_candidates(password):
        try:
            bundle = _open_pkcs12(data, candidate)
        except ValueError:
            continue
        certs = [] if bundle.cert is None else [bundle.cert.certificate]
        certs.extend(extra.certificate for extra in bundle.additional_certs)
        if not certs and not allow_empty:
            raise CertificateError("PKCS#12 holds no certificate", reason="corrupt")
        key = bundle.key
        matches = None if key is None or not certs else _key_spki(key) == _cert_spki(certs[0])
        return certs, _pkcs12_facts(data, has_key=key is not None, key_matches=matches)
    wording = "no password was given" if password is None else "the password given is wrong"
    raise CertificateError(f"PKCS#12 integrity check failed: {wording}", reason="bad_password")


def _pkcs12_facts(data: bytes, *, has_key: bool, key_matches: bool | None) -> FileFacts:
    """The facts of an opened PKCS#12; its encryption stays unknown if pyasn1 cannot read it."""
    # pyasn1's modules take longer to import than the rest of a `cert` run: only when needed
    # (`scan`, which imports this wing for the log's certificate blocks, never opens a PKCS#12)
    from stproxy_monitor.certs.pfx import PfxFormatError, pfx_layout  # noqa: PLC0415

    try:
        layout = pfx_layout(data)
    except PfxFormatError:
        return FileFacts(kind="pkcs12", has_key=has_key, key_matches=key_matches)
    return FileFacts(
        kind="pkcs12",
        has_key=has_key,
        key_matches=key_matches,
        encryption=layout.algorithms,
        mac=layout.mac,
        pbes2=layout.pbes2,
    )


def _key_spki(key: PrivateKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo of a private key's public half."""
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _cert_spki(cert: x509.Certificate) -> bytes | None:
    """The certificate's DER SubjectPublicKeyInfo as written (None for a damaged one)."""
    try:
        return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _open_pkcs12(data: bytes, password: bytes | None) -> pkcs12.PKCS12KeyAndCertificates:
    """load_pkcs12, quiet about BER: it reads BER (and damaged DER) but warns on every call.

    catch_warnings swaps the process-wide filter list; two threads here at once can at worst
    leave this one narrow filter installed, which is harmless.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_BER_WARNING, category=UserWarning)
        return pkcs12.load_pkcs12(data, password)


def _password_candidates(password: bytes | None) -> list[bytes | None]:
    """The given password first, then none and empty (an unprotected file opens with those)."""
    candidates: list[bytes | None] = [password, None, b""]
    return list(dict.fromkeys(candidates))


def _looks_like_pkcs12(data: bytes) -> bool:
    """True when ``data`` is a PFX envelope: SEQUENCE { INTEGER 3, ContentInfo, ... }.

    BER as written by some exporters is accepted: an indefinite length (then the data end with
    its end-of-contents octets), or bytes after the envelope. An envelope longer than the data
    is a truncated file.
    """
    outer = _der_header(data, 0)
    if outer is None or outer[0] != 0x30:
        return False
    _, length, body = outer
    if length is None and not data.endswith(_END_OF_CONTENTS):
        return False
    if length is not None and body + length > len(data):
        return False
    if data[body : body + 3] != b"\x02\x01\x03":
        return False
    content_info = _der_header(data, body + 3)
    if content_info is None or content_info[0] != 0x30:
        return False
    oid_start = content_info[2]
    oid = data[oid_start : oid_start + len(_OID_PKCS7_DATA)]
    return oid in (_OID_PKCS7_DATA, _OID_PKCS7_SIGNED_DATA)


def _der_header(data: bytes, offset: int) -> tuple[int, int | None, int] | None:
    """(tag, content length, content offset) of the BER element at ``offset``, or None.

    The length is None for an indefinite length (BER's 0x80).
    """
    if offset + 2 > len(data):
        return None
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return tag, first, offset + 2
    if first == 0x80:
        return tag, None, offset + 2
    size = first & 0x7F
    if size > 4 or offset + 2 + size > len(data):
        return None
    length = int.from_bytes(data[offset + 2 : offset + 2 + size], "big")
    return tag, length, offset + 2 + size


def _unique(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Drop repeated certificates (a key certificate also stored as an extra one, say)."""
    seen: dict[bytes, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(cert.fingerprint(hashes.SHA256()), cert)
    return list(seen.values())


def _describe(cert: x509.Certificate, *, position: int, is_leaf: bool) -> CertificateInfo:
    from stproxy_monitor.certs import apple  # noqa: PLC0415 - pyasn1, only for a certificate

    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        # SHA-1 and MD5 only identify certificates, as the IBM tool and operators expect.
        sha1=cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303
        md5=cert.fingerprint(hashes.MD5()).hex(),  # noqa: S303
        is_leaf=is_leaf,
        position=position,
        environment=apple.environment(cert),
        uid=apple.uid(cert),
        topics=apple.topics(cert),
        apple_issued=apple.is_apple_wwdr_issued(cert),
        spki_sha256=_spki_sha256(cert),
    )


def _spki_sha256(cert: x509.Certificate) -> str:
    spki = _cert_spki(cert)
    return "" if spki is None else hashlib.sha256(spki).hexdigest()
