"""Tests for stproxy_monitor.certs.inspection: pure inspection of PKCS#12, PEM and DER bytes."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import given, settings
from hypothesis import strategies as st
from support import VALIDITY_CASES

from stproxy_monitor.certs.inspection import (
    CertificateInfo,
    days_left,
    inspect_certificates,
)
from stproxy_monitor.errors import CertificateError

EPSILON_DAYS = 1e-6
PASSWORD_CASES = [*VALIDITY_CASES, "dmgr_node1", "dmgr_node2"]


def _bytes(manifest: dict[str, Any], case: str) -> bytes:
    return Path(manifest["files"][case]["path"]).read_bytes()


def _info(**changes: Any) -> CertificateInfo:
    base = {
        "subject": "CN=x",
        "issuer": "CN=y",
        "serial": "1",
        "not_before": 0.0,
        "not_after": 100 * 86400.0,
        "sha256": "00",
        "sha1": "00",
        "md5": "00",
        "is_leaf": True,
        "position": 0,
    }
    return CertificateInfo(**(base | changes))


def _assert_matches(infos: list[CertificateInfo], expected: dict[str, Any], now: float) -> None:
    assert [i.serial for i in infos] == [c["serial"] for c in expected["certificates"]]
    for info, want in zip(infos, expected["certificates"], strict=True):
        assert info.subject == want["subject"]
        assert info.issuer == want["issuer"]
        assert info.sha256 == want["sha256"]
        assert info.is_leaf == want["is_leaf"]
        assert info.not_after == want["not_after"]
        assert days_left(info, now) == pytest.approx(want["days_left"], abs=EPSILON_DAYS)


@pytest.mark.parametrize("case", PASSWORD_CASES)
def test_password_protected_pkcs12_yields_every_certificate_leaf_first(
    cert_manifest: dict[str, Any], case: str
) -> None:
    """A password-protected PKCS#12 gives the key's certificate first, then the chain."""
    password = cert_manifest["password"].encode()
    infos = inspect_certificates(_bytes(cert_manifest, case), password)
    _assert_matches(infos, cert_manifest["files"][case], cert_manifest["now"])
    assert [i.position for i in infos] == list(range(len(infos)))


def test_leaf_subject_and_issuer_are_rfc4514(cert_manifest: dict[str, Any]) -> None:
    """Subject and issuer are RFC 4514 strings, as the IBM tool's DNs read in reverse."""
    leaf = inspect_certificates(_bytes(cert_manifest, "valid"), b"Fixture-p12-pass!")[0]
    assert leaf.subject == (
        "UID=com.ibm.lotus.sametime,CN=Apple Push Services: com.ibm.lotus.sametime,"
        "OU=RBVH72H5WP,O=IBM,C=US"
    )
    assert leaf.issuer.startswith("CN=Apple Worldwide Developer Relations Certification Authority")


@pytest.mark.parametrize("password", [None, b"", b"some-password"])
def test_unprotected_pkcs12_opens_with_or_without_a_password(
    cert_manifest: dict[str, Any], password: bytes | None
) -> None:
    """A PKCS#12 without a password opens with none, the empty one, or a configured one."""
    infos = inspect_certificates(_bytes(cert_manifest, "no_password"), password)
    _assert_matches(infos, cert_manifest["files"]["no_password"], cert_manifest["now"])


def test_wrong_password_is_bad_password_and_never_echoed(cert_manifest: dict[str, Any]) -> None:
    """A wrong password gives reason bad_password and the message does not contain it."""
    wrong = cert_manifest["wrong_password"]
    with pytest.raises(CertificateError) as caught:
        inspect_certificates(_bytes(cert_manifest, "wrong_password"), wrong.encode())
    assert caught.value.reason == "bad_password"
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


def test_protected_pkcs12_without_password_is_bad_password(cert_manifest: dict[str, Any]) -> None:
    """A protected PKCS#12 read with no password says bad_password and that none was given."""
    with pytest.raises(CertificateError) as caught:
        inspect_certificates(_bytes(cert_manifest, "valid"), None)
    assert caught.value.reason == "bad_password"
    assert "no password" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01garbage",
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\x30\x03\x02\x01\x03",
    ],
    ids=["empty", "garbage", "bad-pem", "pem-without-certificate", "pfx-without-content"],
)
def test_unparsable_bytes_are_corrupt(data: bytes) -> None:
    """Bytes that are no PKCS#12, PEM or DER certificate give reason corrupt."""
    with pytest.raises(CertificateError) as caught:
        inspect_certificates(data, b"pw")
    assert caught.value.reason == "corrupt"


def test_truncated_pkcs12_is_corrupt_not_bad_password(cert_manifest: dict[str, Any]) -> None:
    """A truncated PKCS#12 is corrupt even with the right password."""
    with pytest.raises(CertificateError) as caught:
        inspect_certificates(_bytes(cert_manifest, "corrupt"), cert_manifest["password"].encode())
    assert caught.value.reason == "corrupt"


def _ber_indefinite(der: bytes) -> bytes:
    """The same PKCS#12 with its outer SEQUENCE in BER's indefinite-length form."""
    assert der[0] == 0x30 and der[1] == 0x82, "fixtures have a 2-byte long form length"
    return b"\x30\x80" + der[4:] + b"\x00\x00"


@pytest.mark.parametrize(
    "encode",
    [_ber_indefinite, lambda der: der + b"\r\n"],
    ids=["indefinite-length", "trailing-bytes"],
)
def test_ber_encoded_pkcs12_is_read_without_a_warning(
    cert_manifest: dict[str, Any], encode: Any
) -> None:
    """A PKCS#12 in BER (as some exporters write it) opens; cryptography's warning stays quiet."""
    data = encode(_bytes(cert_manifest, "valid"))
    infos = inspect_certificates(data, cert_manifest["password"].encode())  # warnings are errors
    _assert_matches(infos, cert_manifest["files"]["valid"], cert_manifest["now"])


def test_ber_pkcs12_with_wrong_password_is_bad_password(cert_manifest: dict[str, Any]) -> None:
    """The BER path keeps the reasons: a wrong password is still bad_password."""
    data = _ber_indefinite(_bytes(cert_manifest, "valid"))
    with pytest.raises(CertificateError) as caught:
        inspect_certificates(data, cert_manifest["wrong_password"].encode())
    assert caught.value.reason == "bad_password"


def test_every_single_byte_damage_gives_a_certificate_error_not_a_warning(
    cert_manifest: dict[str, Any],
) -> None:
    """Damage that makes cryptography fall back to BER (and warn) is still just a reason."""
    original = _bytes(cert_manifest, "valid")
    reasons = set()
    for index in range(len(original)):
        damaged = bytearray(original)
        damaged[index] ^= 0x01
        try:
            inspect_certificates(bytes(damaged), cert_manifest["password"].encode())
        except CertificateError as exc:
            reasons.add(exc.reason)
    assert reasons == {"bad_password", "corrupt"}


@pytest.mark.parametrize("case", ["pem", "der"])
def test_pem_and_der_need_no_password(cert_manifest: dict[str, Any], case: str) -> None:
    """PEM (several certificates, the first is the leaf) and DER are read without a password."""
    infos = inspect_certificates(_bytes(cert_manifest, case), None)
    _assert_matches(infos, cert_manifest["files"][case], cert_manifest["now"])


def test_repeated_certificate_is_reported_once(cert_manifest: dict[str, Any]) -> None:
    """A certificate stored twice in one file yields one CertificateInfo (no duplicate series)."""
    pem = _bytes(cert_manifest, "pem")
    infos = inspect_certificates(pem + pem, None)
    assert len(infos) == len(cert_manifest["files"]["pem"]["certificates"])


def test_pkcs12_without_key_marks_first_certificate_as_leaf(cert_manifest: dict[str, Any]) -> None:
    """A PKCS#12 holding only certificates (a trust store) marks the first one as the leaf."""
    certs = x509.load_pem_x509_certificates(_bytes(cert_manifest, "pem"))
    data = pkcs12.serialize_key_and_certificates(
        None, None, None, certs, serialization.NoEncryption()
    )
    infos = inspect_certificates(data, None)
    assert [i.is_leaf for i in infos] == [True, False]


def test_fingerprints_are_lowercase_hex_of_the_der(cert_manifest: dict[str, Any]) -> None:
    """SHA-256, SHA-1 and MD5 are lowercase colon-free hex digests of the DER encoding."""
    der = _bytes(cert_manifest, "der")
    info = inspect_certificates(der, None)[0]
    assert info.sha256 == hashlib.sha256(der).hexdigest()
    assert info.sha1 == hashlib.sha1(der).hexdigest()  # noqa: S324 - a fingerprint
    assert info.md5 == hashlib.md5(der).hexdigest()  # noqa: S324 - a fingerprint
    assert info.serial == cert_manifest["files"]["der"]["certificates"][0]["serial"]


def test_certificate_info_is_frozen_and_holds_no_key(cert_manifest: dict[str, Any]) -> None:
    """CertificateInfo cannot be changed and has no field for a key or a password."""
    info = inspect_certificates(_bytes(cert_manifest, "valid"), b"Fixture-p12-pass!")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.serial = "0"  # type: ignore[misc]
    names = {f.name for f in dataclasses.fields(CertificateInfo)}
    assert not names & {"key", "private_key", "password"}


def test_days_left_is_negative_once_expired() -> None:
    """days_left counts from now to not_after in days, negative after the end."""
    info = _info(not_after=10 * 86400.0)
    assert days_left(info, 0.0) == pytest.approx(10.0)
    assert days_left(info, 12 * 86400.0) == pytest.approx(-2.0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_certificates_or_certificate_error(data: bytes) -> None:
    """Any bytes either parse or raise CertificateError with a fixed reason, nothing else."""
    try:
        inspect_certificates(data, b"pw")
    except CertificateError as exc:
        assert exc.reason in {"bad_password", "corrupt"}


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_damaged_pkcs12_never_escapes_as_another_exception(
    cert_manifest: dict[str, Any], data: st.DataObject
) -> None:
    """A PKCS#12 with one byte changed parses or raises CertificateError, never anything else."""
    original = bytearray(_bytes(cert_manifest, "valid"))
    index = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    original[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    try:
        inspect_certificates(bytes(original), cert_manifest["password"].encode())
    except CertificateError as exc:
        assert exc.reason in {"bad_password", "corrupt"}
