"""certs.pfx's minimal schema (certs.pfx_asn1) against pyasn1-modules' full RFC 7292 one.

The oracle is certs.pfx's own walk run over pyasn1-modules' rfc7292 / rfc5652 / rfc8018 types
(what pfx.py used before pfx_asn1): on every PKCS#12 and trust store fixtures/generate_certs.py
writes, on what `openssl pkcs12 -export` and Java's keytool write (with their legacy forms), on
a BER re-encoding (indefinite lengths, constructed OCTET STRINGs) and a public-key integrity
(SignedData) envelope, and on damaged copies of them, both must give the same layout, or both
PfxFormatError.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder
from pyasn1.codec.ber import encoder as ber_encoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import univ
from pyasn1_modules import rfc5652, rfc7292, rfc8018

from stproxy_monitor.certs import pfx
from stproxy_monitor.certs.pfx import PfxFormatError, PfxLayout, pfx_layout

OPENSSL = "openssl"  # Debian's, installed by .ci/run
KEYTOOL = "keytool"  # Debian's JRE, installed by .ci/run

# pyasn1-modules' types and OIDs under the names certs.pfx looks up in its ``asn1`` module.
FULL_SCHEMA = SimpleNamespace(
    PFX=rfc7292.PFX,
    ContentInfo=rfc5652.ContentInfo,
    AuthenticatedSafe=rfc7292.AuthenticatedSafe,
    SignedData=rfc5652.SignedData,
    EncryptedData=rfc5652.EncryptedData,
    SafeContents=rfc7292.SafeContents,
    EncryptedPrivateKeyInfo=rfc7292.PKCS8ShroudedKeyBag,
    PBES2Params=rfc8018.PBES2_params,
    ID_DATA=rfc5652.id_data,
    ID_SIGNED_DATA=rfc5652.id_signedData,
    ID_ENCRYPTED_DATA=rfc5652.id_encryptedData,
    ID_ENVELOPED_DATA=rfc5652.id_envelopedData,
    ID_PBES2=rfc8018.id_PBES2,
    ID_KEY_BAG=rfc7292.id_keyBag,
    ID_PKCS8_SHROUDED_KEY_BAG=rfc7292.id_pkcs8ShroudedKeyBag,
    ID_SAFE_CONTENTS_BAG=rfc7292.id_safeContentsBag,
)

OPENSSL_EXPORTS = {  # name -> `openssl pkcs12 -export` flags
    "default": [],
    "legacy": ["-legacy"],
    "legacy-rc4-2des": ["-legacy", "-keypbe", "PBE-SHA1-RC4-128", "-certpbe", "PBE-SHA1-2DES"],
    "pbes2-des": ["-legacy", "-keypbe", "DES-EDE3-CBC", "-certpbe", "DES-CBC"],
    "aes-128-192": ["-certpbe", "AES-128-CBC", "-keypbe", "AES-192-CBC"],
    "descert": ["-descert"],
    "unencrypted": ["-keypbe", "NONE", "-certpbe", "NONE"],
    "nomac": ["-nomac"],
    "sha512-mac": ["-macalg", "sha512"],
    "no-iterations": ["-nomaciter", "-noiter"],
    "certificates-only": ["-nokeys"],
}
KEYTOOL_STORES = {  # name -> (keytool command, -J options)
    "keytool-key": ("-genkeypair", []),
    "keytool-key-legacy": ("-genkeypair", ["-J-Dkeystore.pkcs12.legacy"]),
    "keytool-trust": ("-importcert", []),
    "keytool-trust-legacy": ("-importcert", ["-J-Dkeystore.pkcs12.legacy"]),
}


def oracle_layout(data: bytes) -> PfxLayout:
    """pfx_layout over pyasn1-modules' full schemas."""
    with mock.patch.object(pfx, "asn1", FULL_SCHEMA):
        return pfx_layout(data)


def both(data: bytes) -> tuple[PfxLayout | str, PfxLayout | str]:
    """(ours, the oracle's): each a layout, or "PfxFormatError"."""
    results: list[PfxLayout | str] = []
    for layout in (pfx_layout, oracle_layout):
        try:
            results.append(layout(data))
        except PfxFormatError:
            results.append("PfxFormatError")
    return results[0], results[1]


def _run(*argv: str | Path, cwd: Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, cwd=cwd, timeout=120)


def _ber(der: bytes, *, definite_strings: bool = True) -> bytes:
    """The PFX in BER: indefinite lengths and constructed OCTET STRINGs (64-byte chunks), down
    to each container's SafeContents. The chunked strings have definite lengths: pyasn1 drops
    the end-of-contents of an indefinite value read as ANY (pyasn1/pyasn1#66), so both schemas
    fail on such a file alike (test_indefinite_any_fails_alike)."""

    def chunked(octets: bytes, *, definite: bool = True) -> univ.Any:
        return ber_encoder.encode(univ.OctetString(octets), defMode=definite, maxChunkSize=64)

    whole, _ = decoder.decode(der, asn1Spec=rfc7292.PFX())
    auth_octets, _ = decoder.decode(whole["authSafe"]["content"], asn1Spec=univ.OctetString())
    safe, _ = decoder.decode(bytes(auth_octets), asn1Spec=rfc7292.AuthenticatedSafe())
    for content_info in safe:
        if content_info["contentType"] == rfc5652.id_data:
            inner, _ = decoder.decode(content_info["content"], asn1Spec=univ.OctetString())
            content_info["content"] = content_info["content"].clone(
                chunked(bytes(inner), definite=definite_strings)
            )
    safe_ber = ber_encoder.encode(safe, defMode=False)
    whole["authSafe"]["content"] = whole["authSafe"]["content"].clone(
        chunked(safe_ber, definite=definite_strings)
    )
    return bytes(ber_encoder.encode(whole, defMode=False))


def _signed(der: bytes, key: Path, cert: Path, tmp: Path) -> bytes:
    """The PFX's AuthenticatedSafe in public-key integrity mode: signed by `openssl cms -sign`
    (a SignedData with the signer's certificate in its certificate set), no MAC."""
    whole, _ = decoder.decode(der, asn1Spec=rfc7292.PFX())
    auth_octets, _ = decoder.decode(whole["authSafe"]["content"], asn1Spec=univ.OctetString())
    (tmp / "authsafe.der").write_bytes(bytes(auth_octets))
    _run(OPENSSL, "cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-in",
         "authsafe.der", "-signer", cert, "-inkey", key, "-out", "signed.der", cwd=tmp)  # fmt: skip
    signed = (tmp / "signed.der").read_bytes()
    content_info, _ = decoder.decode(signed, asn1Spec=rfc5652.ContentInfo())
    out = rfc7292.PFX()
    out["version"] = 3
    out["authSafe"] = content_info
    return bytes(der_encoder.encode(out))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """PKCS#12 files as operators make them: OpenSSL 3's exports and keytool's stores."""
    tmp = tmp_path_factory.mktemp("exports")
    key, cert = tmp / "k.pem", tmp / "c.pem"
    _run(OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-subj", "/UID=com.ibm.lotus.sametime",
         "-days", "2", cwd=tmp)  # fmt: skip
    files: dict[str, bytes] = {}
    for name, flags in OPENSSL_EXPORTS.items():
        _run(OPENSSL, "pkcs12", "-export", *flags, "-inkey", key, "-in", cert, "-out",
             f"{name}.p12", "-passout", "pass:secret", cwd=tmp)  # fmt: skip
        files[name] = (tmp / f"{name}.p12").read_bytes()
    for name, (command, options) in KEYTOOL_STORES.items():
        entry = (
            ["-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=x", "-validity", "2"]
            if command == "-genkeypair"
            else ["-noprompt", "-file", str(cert)]
        )
        _run(KEYTOOL, *options, command, "-alias", "apns", *entry, "-keystore", f"{name}.p12",
             "-storetype", "PKCS12", "-storepass", "changeit", cwd=tmp)  # fmt: skip
        files[name] = (tmp / f"{name}.p12").read_bytes()
    files["ber"] = _ber(files["default"])
    files["ber-legacy"] = _ber(files["legacy"])
    files["signed"] = _signed(files["legacy"], key, cert, tmp)
    return files


def _headers(data: bytes, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets of every DER tag and length byte in ``data[start:end]``, into constructed values
    and into OCTET STRINGs that hold DER (where a PKCS#12 nests its structures); the encrypted
    octets are not walked. A damaged header is where a schema's strictness shows."""
    end = len(data) if end is None else end
    found: list[int] = []
    position = start
    while position + 2 <= end:
        tag, first = data[position], data[position + 1]
        size, length = (1, first) if first < 0x80 else (1 + (first & 0x7F), 0)
        for byte in data[position + 2 : position + 1 + size]:
            length = length * 256 + byte
        body = position + 1 + size
        if first == 0x80 or (first > 0x80 and size > 5) or body + length > end:
            return found if position > start else []
        found.extend(range(position, body))
        if tag & 0x20 or tag == 0x04:  # constructed, or an OCTET STRING that may hold DER
            inner = _headers(data, body, body + length)
            found.extend(inner)
        position = body + length
    return found


def _fixture_files(manifest: dict[str, Any]) -> Iterator[Path]:
    """Every file fixtures/generate_certs.py wrote (PKCS#12, trust stores, PEM, DER, XML...)."""
    paths = [entry["path"] for entry in manifest["files"].values()]
    paths += [entry["path"] for entry in manifest["truststores"].values()]
    root = Path(os.path.commonpath(paths))
    return (path for path in sorted(root.rglob("*")) if path.is_file())


def test_the_oracle_covers_every_name_pfx_looks_up() -> None:
    """Every ``asn1.NAME`` certs.pfx uses is swapped for pyasn1-modules' in the oracle, and our
    OIDs are RFC 7292's."""
    used = set(re.findall(r"\basn1\.(\w+)", Path(pfx.__file__).read_text()))
    assert used
    assert used <= set(vars(FULL_SCHEMA))
    for name in used:
        if name.startswith("ID_"):
            assert getattr(pfx.asn1, name) == getattr(FULL_SCHEMA, name), name


def test_every_fixture_file_reads_the_same(cert_manifest: dict[str, Any]) -> None:
    """Each file the fixture generator writes: the same layout as the full schema, and every
    PKCS#12 among them readable (only the corrupt fixture and non-PKCS#12 files are not)."""
    readable = 0
    for path in _fixture_files(cert_manifest):
        ours, oracle = both(path.read_bytes())
        assert ours == oracle, path
        if path.suffix in (".p12", ".pkcs12") and path.name != "corrupt.p12":
            assert isinstance(ours, PfxLayout), path
            readable += 1
    assert readable >= 20  # certs/*.p12, truststores/, the profiles' files


@pytest.mark.parametrize("name", [*OPENSSL_EXPORTS, *KEYTOOL_STORES, "ber", "ber-legacy", "signed"])
def test_exported_files_read_the_same(exported: dict[str, bytes], name: str) -> None:
    """OpenSSL's and keytool's files, the BER and SignedData forms: the same readable layout."""
    ours, oracle = both(exported[name])
    assert isinstance(ours, PfxLayout)
    assert ours == oracle


def test_the_exports_cover_the_algorithms(exported: dict[str, bytes]) -> None:
    """The exports are not all alike: PBES2 and legacy, keys and trusted certificates only."""
    layouts = {name: pfx_layout(data) for name, data in exported.items()}
    assert layouts["keytool-key"].pbes2
    assert not layouts["keytool-key-legacy"].pbes2
    assert layouts["keytool-trust"].key_encryption == ()
    assert layouts["keytool-trust"].certificate_encryption
    assert layouts["unencrypted"].plain_keys == 1
    assert layouts["signed"] == PfxLayout(
        certificate_encryption=layouts["legacy"].certificate_encryption,
        key_encryption=layouts["legacy"].key_encryption,
    )
    assert layouts["ber"] == layouts["default"]
    ber, _ = decoder.decode(exported["ber"], asn1Spec=rfc7292.PFX())
    assert exported["ber"][:2] == b"\x30\x80"  # indefinite length
    assert ber["authSafe"]["content"].asOctets()[:1] == b"\x24"  # a constructed OCTET STRING


@pytest.mark.parametrize("name", ["default", "legacy", "unencrypted", "keytool-trust-legacy"])
def test_every_header_damaged_reads_the_same(exported: dict[str, bytes], name: str) -> None:
    """Each tag and length byte of an export changed in turn (another type or form, a length
    one off): the same layout or both PfxFormatError, every time."""
    data = exported[name]
    for offset in _headers(data):
        for mask in (0x01, 0x20):
            damaged = data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 :]
            ours, oracle = both(damaged)
            assert ours == oracle, (name, offset, mask)


def test_signed_envelope_reads_without_its_signature(exported: dict[str, bytes]) -> None:
    """The one place the minimal schema is less strict, on purpose: a public-key integrity
    envelope whose signer info is damaged still shows its layout (pfx never checks the
    signature), where pyasn1-modules' SignedData refuses it."""
    data = exported["signed"]
    whole, _ = decoder.decode(data, asn1Spec=rfc7292.PFX())
    signed, _ = decoder.decode(whole["authSafe"]["content"], asn1Spec=rfc5652.SignedData())
    signer = bytes(der_encoder.encode(signed["signerInfos"][0]))
    header = 2 + (signer[1] & 0x7F if signer[1] & 0x80 else 0)
    assert signer[header : header + 3] == b"\x02\x01\x01"  # SEQUENCE { version 1, ...
    at = data.index(signer) + header
    damaged = data[:at] + b"\x04" + data[at + 1 :]  # the version as an OCTET STRING
    ours, oracle = both(damaged)
    assert (ours, oracle) == (pfx_layout(data), "PfxFormatError")


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + bytes(der_encoder.encode(univ.OctetString(body)))[1:]


def test_a_nested_length_beyond_any_index_is_a_format_error() -> None:
    """A bag whose 8-byte length does not fit an index (found by the damage test: pyasn1 raises
    OverflowError there): PfxFormatError from both, not a crash of `cert`."""
    data_oid = bytes(der_encoder.encode(rfc5652.id_data))
    bag_id = bytes(der_encoder.encode(rfc7292.id_keyBag))
    huge_value = b"\xa0\x88\xef" + b"\xff" * 7 + b"\x30\x00"  # [0], length 0xefff...ff
    safe_contents = _tlv(0x30, _tlv(0x30, bag_id + huge_value))
    container = _tlv(0x30, data_oid + _tlv(0xA0, _tlv(0x04, safe_contents)))
    auth_safe = _tlv(0x30, data_oid + _tlv(0xA0, _tlv(0x04, _tlv(0x30, container))))
    envelope = _tlv(0x30, b"\x02\x01\x03" + auth_safe)
    with pytest.raises(OverflowError):  # what pyasn1 does with it
        decoder.decode(safe_contents, asn1Spec=rfc7292.SafeContents())
    assert both(envelope) == ("PfxFormatError", "PfxFormatError")


def test_the_damage_reaches_nested_headers(exported: dict[str, bytes]) -> None:
    """The damage test's header offsets go down to the bags (so a damaged bag header is tried)."""
    data = exported["unencrypted"]
    headers = set(_headers(data))
    bag_oid = bytes(der_encoder.encode(rfc7292.id_keyBag))
    assert data.index(bag_oid) in headers


def test_indefinite_any_fails_alike(exported: dict[str, bytes]) -> None:
    """A PFX whose contents are indefinite-length OCTET STRINGs: unreadable by both schemas
    (pyasn1/pyasn1#66: an ANY loses its end-of-contents octets), a PfxFormatError, no crash."""
    assert both(_ber(exported["default"], definite_strings=False)) == (
        "PfxFormatError",
        "PfxFormatError",
    )


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_files_read_the_same(exported: dict[str, bytes], data: st.DataObject) -> None:
    """A byte of an export damaged (most often a tag or length), the file cut, or a byte
    inserted: the same layout or both errors (the minimal schema is as strict as the full one
    where pfx reads). Not the SignedData envelope: there the minimal schema leaves the
    certificates and signer infos unread (test_signed_envelope_reads_without_its_signature)."""
    name = data.draw(st.sampled_from(sorted(set(exported) - {"signed"})))
    damaged = bytearray(exported[name])
    headers = _headers(exported[name])
    if headers and data.draw(st.booleans()):
        index = data.draw(st.sampled_from(headers))
    else:
        index = data.draw(st.integers(0, len(damaged) - 1))
    action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if action == "flip":
        damaged[index] ^= data.draw(st.integers(1, 255))
    elif action == "cut":
        del damaged[index:]
    else:
        damaged.insert(index, data.draw(st.integers(0, 255)))
    ours, oracle = both(bytes(damaged))
    assert ours == oracle, (name, action, index)
