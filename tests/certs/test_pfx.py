"""Tests for stproxy_monitor.certs.pfx: a PKCS#12 envelope's algorithms, read without password."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stproxy_monitor.certs.pfx import PfxFormatError, pfx_layout

TRIPLE_DES = "pbeWithSHAAnd3-KeyTripleDES-CBC"
RC2_40 = "pbeWithSHAAnd40BitRC2-CBC"


def _bytes(manifest: dict[str, Any], case: str) -> bytes:
    return Path(manifest["files"][case]["path"]).read_bytes()


def test_aes_fixture_is_pbes2_for_keys_and_certificates(cert_manifest: dict[str, Any]) -> None:
    """cryptography's best available encryption is PBES2/AES-256 for both parts, SHA-256 MAC."""
    layout = pfx_layout(_bytes(cert_manifest, "aes"))
    assert layout.key_encryption == ("PBES2/AES-256-CBC",)
    assert layout.certificate_encryption == ("PBES2/AES-256-CBC",)
    assert layout.mac == "SHA-256"
    assert layout.pbes2


def test_triple_des_fixture_is_not_pbes2(cert_manifest: dict[str, Any]) -> None:
    """The legacy export: 3DES for both parts, a SHA-1 MAC, no PBES2."""
    layout = pfx_layout(_bytes(cert_manifest, "triple_des"))
    assert layout.algorithms == (TRIPLE_DES,)
    assert layout.mac == "SHA-1"
    assert not layout.pbes2


def test_unencrypted_pkcs12_names_no_algorithm(cert_manifest: dict[str, Any]) -> None:
    """A PKCS#12 written without a password has a plain key bag and no encryption."""
    layout = pfx_layout(_bytes(cert_manifest, "no_password"))
    assert layout.algorithms == ()
    assert layout.plain_keys == 1
    assert not layout.pbes2


def test_key_mismatch_fixture_has_no_mac(cert_manifest: dict[str, Any]) -> None:
    """The spliced fixture keeps its plain key bag and has no MAC."""
    layout = pfx_layout(_bytes(cert_manifest, "key_mismatch"))
    assert (layout.plain_keys, layout.mac, layout.algorithms) == (1, "", ())


def test_ber_indefinite_length_envelope_is_read(cert_manifest: dict[str, Any]) -> None:
    """The same layout from the BER form some exporters write (indefinite outer length)."""
    der = _bytes(cert_manifest, "aes")
    assert der[:2] == b"\x30\x82"
    ber = b"\x30\x80" + der[4:] + b"\x00\x00"
    assert pfx_layout(ber) == pfx_layout(der)


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x03", b"-----BEGIN CERTIFICATE-----"])
def test_not_a_pkcs12_is_a_format_error(data: bytes) -> None:
    """Bytes that are no PFX raise PfxFormatError, never another exception."""
    with pytest.raises(PfxFormatError):
        pfx_layout(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_envelopes_give_a_layout_or_a_format_error(
    cert_manifest: dict[str, Any], data: st.DataObject
) -> None:
    """Any byte damaged, or the file cut anywhere: a layout or PfxFormatError, nothing else."""
    original = bytearray(_bytes(cert_manifest, "aes"))
    index = data.draw(st.integers(0, len(original) - 1))
    if data.draw(st.booleans()):
        original[index] ^= data.draw(st.integers(1, 255))
        damaged = bytes(original)
    else:
        damaged = bytes(original[:index])
    with contextlib.suppress(PfxFormatError):
        pfx_layout(damaged)


OPENSSL = "openssl"  # Debian's, installed by .ci/run


@pytest.mark.parametrize(
    ("flags", "keys", "certificates", "pbes2"),
    [
        ((), "PBES2/AES-256-CBC", "PBES2/AES-256-CBC", True),  # OpenSSL 3's default
        (("-legacy",), TRIPLE_DES, RC2_40, False),
    ],
    ids=["openssl3-default", "legacy"],
)
def test_openssl_exports(
    tmp_path: Path, flags: tuple[str, ...], keys: str, certificates: str, pbes2: bool
) -> None:
    """What `openssl pkcs12 -export` writes, with and without -legacy, as the operator would."""
    key, cert, out = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "out.p12"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-subj", "/UID=com.ibm.lotus.sametime",
         "-days", "2"],
        check=True, capture_output=True,
    )
    subprocess.run(
        [OPENSSL, "pkcs12", "-export", *flags, "-inkey", key, "-in", cert, "-out", out,
         "-passout", "pass:secret"],
        check=True, capture_output=True,
    )
    layout = pfx_layout(out.read_bytes())
    assert (layout.key_encryption, layout.certificate_encryption) == ((keys,), (certificates,))
    assert layout.pbes2 is pbes2
