"""The PKCS#12 (PFX, RFC 7292) envelope read without a password: how each part is protected.

cryptography opens a PKCS#12 but does not say how it was encrypted, and that decides whether
an old Java can read it: OpenSSL 3 writes PBES2/AES-256-CBC by default, which Java 8 before
8u301 and IBM Java 7 cannot read (DOMAIN.md, "APNs today"). The envelope names the algorithm of
every encrypted container and every shrouded key bag in clear, so it is parsed here with pyasn1's
BER decoder (BER as well as DER) and the few RFC 7292 / RFC 5652 / RFC 8018 types it needs
(certs.pfx_asn1: pyasn1-modules' full schemas cost more to import than the rest of `cert`).
Pure: bytes in, a frozen description out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ

from stproxy_monitor.certs import pfx_asn1 as asn1

# The types and OIDs are looked up in ``asn1`` when used (not bound here), so that the test's
# oracle can run this same walk over pyasn1-modules' full schemas (tests/certs/test_pfx_oracle).
_NAMES = {
    "1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
    "1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
    "1.2.840.113549.1.12.1.3": "pbeWithSHAAnd3-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.4": "pbeWithSHAAnd2-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
    "1.2.840.113549.1.5.3": "pbeWithMD5AndDES-CBC",
    "1.2.840.113549.1.5.6": "pbeWithMD5AndRC2-CBC",
    "1.2.840.113549.1.5.10": "pbeWithSHA1AndDES-CBC",
    "1.2.840.113549.1.5.11": "pbeWithSHA1AndRC2-CBC",
    # PBES2 ciphers
    "2.16.840.1.101.3.4.1.2": "AES-128-CBC",
    "2.16.840.1.101.3.4.1.22": "AES-192-CBC",
    "2.16.840.1.101.3.4.1.42": "AES-256-CBC",
    "1.2.840.113549.3.7": "DES-EDE3-CBC",
    "1.3.14.3.2.7": "DES-CBC",
    "1.2.840.113549.3.2": "RC2-CBC",
    # MAC digests
    "1.3.14.3.2.26": "SHA-1",
    "2.16.840.1.101.3.4.2.1": "SHA-256",
    "2.16.840.1.101.3.4.2.2": "SHA-384",
    "2.16.840.1.101.3.4.2.3": "SHA-512",
    "2.16.840.1.101.3.4.2.4": "SHA-224",
    "1.2.840.113549.2.5": "MD5",
    "1.2.840.113549.1.5.14": "PBMAC1",
}
_MAX_DEPTH = 4  # nested safeContentsBag levels followed


class PfxFormatError(ValueError):
    """The bytes are not a PKCS#12 envelope this module can read."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PfxLayout:
    """How a PKCS#12 is protected, as far as it shows without the password.

    ``certificate_encryption``: the algorithm of each encrypted container (where certificates
    usually are; "envelopedData" for a public-key one); ``key_encryption``: that of each
    shrouded key bag in clear; ``plain_keys``: unencrypted key bags in clear; ``mac``: the MAC's
    digest, "" without a MAC. Bags inside an encrypted container cannot be seen here.
    """

    certificate_encryption: tuple[str, ...] = ()
    key_encryption: tuple[str, ...] = ()
    plain_keys: int = 0
    mac: str = ""

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Every encryption algorithm named, each once, keys first."""
        return tuple(dict.fromkeys(self.key_encryption + self.certificate_encryption))

    @property
    def pbes2(self) -> bool:
        """Whether any part is encrypted with PBES2 (OpenSSL 3's default; old Java cannot)."""
        return any(name.startswith("PBES2") for name in self.algorithms)


def pfx_layout(data: bytes) -> PfxLayout:
    """The protection of each part of the PKCS#12 ``data``; PfxFormatError when unreadable."""
    try:
        pfx, _ = decoder.decode(data, asn1Spec=asn1.PFX())
        safe = _authenticated_safe(pfx["authSafe"])
        collected = _Collected()
        for content_info in safe:
            _container(content_info, collected)
        mac = _mac_name(pfx)
    # pyasn1 reports malformed input as PyAsn1Error, but a well-formed value of an unexpected
    # shape can fail as a lookup or a conversion, and a nested length beyond any index as an
    # OverflowError: all of them mean "not a PKCS#12 we can read".
    except (
        PyAsn1Error, ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError
    ) as exc:
        raise PfxFormatError(f"not a readable PKCS#12 envelope: {exc}") from None
    return PfxLayout(
        certificate_encryption=tuple(collected.containers),
        key_encryption=tuple(collected.keys),
        plain_keys=collected.plain_keys,
        mac=mac,
    )


@dataclass(slots=True)
class _Collected:
    containers: list[str]
    keys: list[str]
    plain_keys: int = 0

    def __init__(self) -> None:
        self.containers, self.keys, self.plain_keys = [], [], 0


def _authenticated_safe(auth_safe: asn1.ContentInfo) -> asn1.AuthenticatedSafe:
    content_type = auth_safe["contentType"]
    if content_type == asn1.ID_DATA:
        octets = _octets(auth_safe["content"])
    elif content_type == asn1.ID_SIGNED_DATA:  # public-key integrity mode
        signed, _ = decoder.decode(auth_safe["content"], asn1Spec=asn1.SignedData())
        octets = bytes(signed["encapContentInfo"]["eContent"])
    else:
        raise PfxFormatError(f"authSafe has content type {content_type}")
    safe, _ = decoder.decode(octets, asn1Spec=asn1.AuthenticatedSafe())
    return cast("asn1.AuthenticatedSafe", safe)


def _container(content_info: asn1.ContentInfo, collected: _Collected) -> None:
    content_type = content_info["contentType"]
    if content_type == asn1.ID_DATA:
        _safe_contents(_octets(content_info["content"]), collected, depth=0)
    elif content_type == asn1.ID_ENCRYPTED_DATA:
        encrypted, _ = decoder.decode(content_info["content"], asn1Spec=asn1.EncryptedData())
        algorithm = encrypted["encryptedContentInfo"]["contentEncryptionAlgorithm"]
        collected.containers.append(algorithm_name(algorithm))
    elif content_type == asn1.ID_ENVELOPED_DATA:
        collected.containers.append("envelopedData")
    else:
        collected.containers.append(str(content_type))


def _safe_contents(octets: bytes, collected: _Collected, *, depth: int) -> None:
    contents, _ = decoder.decode(octets, asn1Spec=asn1.SafeContents())
    for bag in contents:
        bag_id = bag["bagId"]
        if bag_id == asn1.ID_PKCS8_SHROUDED_KEY_BAG:
            shrouded, _ = decoder.decode(bag["bagValue"], asn1Spec=asn1.EncryptedPrivateKeyInfo())
            collected.keys.append(algorithm_name(shrouded["encryptionAlgorithm"]))
        elif bag_id == asn1.ID_KEY_BAG:
            collected.plain_keys += 1
        elif bag_id == asn1.ID_SAFE_CONTENTS_BAG and depth < _MAX_DEPTH:
            _safe_contents(bytes(bag["bagValue"]), collected, depth=depth + 1)


def algorithm_name(algorithm: univ.Sequence) -> str:
    """A readable name of a PBE AlgorithmIdentifier: ``PBES2/AES-256-CBC`` for PBES2."""
    oid = algorithm["algorithm"]
    if oid != asn1.ID_PBES2:
        return _NAMES.get(str(oid), str(oid))
    params, _ = decoder.decode(algorithm["parameters"], asn1Spec=asn1.PBES2Params())
    cipher = str(params["encryptionScheme"]["algorithm"])
    return f"PBES2/{_NAMES.get(cipher, cipher)}"


def _mac_name(pfx: asn1.PFX) -> str:
    mac_data = pfx["macData"]
    if not mac_data.isValue:
        return ""
    oid = str(mac_data["mac"]["digestAlgorithm"]["algorithm"])
    return _NAMES.get(oid, oid)


def _octets(content: univ.Any) -> bytes:
    """The OCTET STRING held in a ContentInfo's [0] content (constructed BER too)."""
    value, _ = decoder.decode(content, asn1Spec=univ.OctetString())
    return bytes(value)
