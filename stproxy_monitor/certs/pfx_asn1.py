"""The few ASN.1 types of a PKCS#12 envelope that certs.pfx decodes, on pyasn1's core alone.

pyasn1-modules' RFC 7292 module imports RFC 5652, 5280, 3281, 2315, 5958 and 8018 with them,
hundreds of schemas whose construction cost more than the rest of a `cert` run (about 0.1-0.3 s
against a few ms for pyasn1's decoder). These are the same types written again with the same
tags, components, optionality and defaults, for the parts certs.pfx reads; what it never looks
into is kept as ANY (raw), as pyasn1-modules' open types are when decoded without
``decodeOpenTypes``. tests/certs/test_pfx_oracle.py decodes every fixture and exported file with
both and compares.

One simplification: SignedData's certificates, CRLs and signer infos (the rare public-key
integrity mode, where only the signed content is read) are sets of ANY.
"""

from __future__ import annotations

from typing import TypeVar, cast

from pyasn1.type import base, constraint, namedtype, namedval, tag, univ

ID_DATA = univ.ObjectIdentifier("1.2.840.113549.1.7.1")
ID_SIGNED_DATA = univ.ObjectIdentifier("1.2.840.113549.1.7.2")
ID_ENVELOPED_DATA = univ.ObjectIdentifier("1.2.840.113549.1.7.3")
ID_ENCRYPTED_DATA = univ.ObjectIdentifier("1.2.840.113549.1.7.6")
ID_PBES2 = univ.ObjectIdentifier("1.2.840.113549.1.5.13")  # RFC 8018
_BAG_TYPES = "1.2.840.113549.1.12.10.1"  # RFC 7292 bagtypes
ID_KEY_BAG = univ.ObjectIdentifier(f"{_BAG_TYPES}.1")
ID_PKCS8_SHROUDED_KEY_BAG = univ.ObjectIdentifier(f"{_BAG_TYPES}.2")
ID_SAFE_CONTENTS_BAG = univ.ObjectIdentifier(f"{_BAG_TYPES}.6")

_MAX = float("inf")


_T = TypeVar("_T", bound=base.SimpleAsn1Type | base.ConstructedAsn1Type)


def _explicit(value: _T, number: int) -> _T:
    """``value`` tagged [number] EXPLICIT (context class)."""
    tagged = value.subtype(  # type: ignore[no-untyped-call] # untyped in types-pyasn1
        explicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number)
    )
    return cast("_T", tagged)


def _implicit(value: _T, number: int) -> _T:
    """``value`` tagged [number] IMPLICIT (context class, its own form)."""
    tagged = value.subtype(  # type: ignore[no-untyped-call] # untyped in types-pyasn1
        implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, number)
    )
    return cast("_T", tagged)


class AlgorithmIdentifier(univ.Sequence):
    """RFC 5280 (and RFC 2459's for digests): algorithm OID, optional ANY parameters."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("algorithm", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("parameters", univ.Any()),
    )


class Attribute(univ.Sequence):
    """RFC 5652 Attribute (a PKCS12Attribute): type and a SET OF ANY values."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("attrType", univ.ObjectIdentifier()),
        namedtype.NamedType("attrValues", univ.SetOf(componentType=univ.Any())),
    )


class ContentInfo(univ.Sequence):
    """RFC 5652: contentType and [0] EXPLICIT ANY content."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contentType", univ.ObjectIdentifier()),
        namedtype.NamedType("content", _explicit(univ.Any(), 0)),
    )


class CMSVersion(univ.Integer):
    """RFC 5652 CMSVersion (named values only: no constraint)."""

    namedValues = namedval.NamedValues(
        ("v0", 0), ("v1", 1), ("v2", 2), ("v3", 3), ("v4", 4), ("v5", 5)
    )


class UnprotectedAttributes(univ.SetOf):
    """RFC 5652: SET SIZE (1..MAX) OF Attribute."""

    componentType = Attribute()
    sizeSpec = constraint.ConstraintsIntersection(constraint.ValueSizeConstraint(1, _MAX))


class EncryptedContentInfo(univ.Sequence):
    """RFC 5652: the content type, its encryption algorithm, [0] IMPLICIT encrypted octets."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("contentType", univ.ObjectIdentifier()),
        namedtype.NamedType("contentEncryptionAlgorithm", AlgorithmIdentifier()),
        namedtype.OptionalNamedType(
            "encryptedContent",
            _implicit(univ.OctetString(), 0),
        ),
    )


class EncryptedData(univ.Sequence):
    """RFC 5652 EncryptedData (a password-encrypted container of a PKCS#12)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", CMSVersion()),
        namedtype.NamedType("encryptedContentInfo", EncryptedContentInfo()),
        namedtype.OptionalNamedType(
            "unprotectedAttrs",
            _implicit(UnprotectedAttributes(), 1),
        ),
    )


class EncapsulatedContentInfo(univ.Sequence):
    """RFC 5652: eContentType and an optional [0] EXPLICIT OCTET STRING eContent."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("eContentType", univ.ObjectIdentifier()),
        namedtype.OptionalNamedType("eContent", _explicit(univ.OctetString(), 0)),
    )


class SignedData(univ.Sequence):
    """RFC 5652 SignedData, where only encapContentInfo is read: the certificates ([0]), CRLs
    ([1]) and signer infos are kept as sets of ANY (their own schemas are RFC 5280's and
    RFC 3281's, the costly imports this module avoids)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", CMSVersion()),
        namedtype.NamedType("digestAlgorithms", univ.SetOf(componentType=AlgorithmIdentifier())),
        namedtype.NamedType("encapContentInfo", EncapsulatedContentInfo()),
        namedtype.OptionalNamedType(
            "certificates",
            _implicit(univ.SetOf(componentType=univ.Any()), 0),
        ),
        namedtype.OptionalNamedType(
            "crls",
            _implicit(univ.SetOf(componentType=univ.Any()), 1),
        ),
        namedtype.NamedType("signerInfos", univ.SetOf(componentType=univ.Any())),
    )


class DigestInfo(univ.Sequence):
    """RFC 2315 DigestInfo (a PKCS#12 MAC)."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("digestAlgorithm", AlgorithmIdentifier()),
        namedtype.NamedType("digest", univ.OctetString()),
    )


class MacData(univ.Sequence):
    """RFC 7292 MacData: the MAC, its salt, iterations DEFAULT 1."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("mac", DigestInfo()),
        namedtype.NamedType("macSalt", univ.OctetString()),
        namedtype.DefaultedNamedType("iterations", univ.Integer(1)),
    )


class PFX(univ.Sequence):
    """RFC 7292 PFX: version, authSafe, optional macData."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("version", univ.Integer(namedValues=namedval.NamedValues(("v3", 3)))),
        namedtype.NamedType("authSafe", ContentInfo()),
        namedtype.OptionalNamedType("macData", MacData()),
    )


class AuthenticatedSafe(univ.SequenceOf):
    """RFC 7292: SEQUENCE OF ContentInfo."""

    componentType = ContentInfo()


class SafeBag(univ.Sequence):
    """RFC 7292 SafeBag: bagId, [0] EXPLICIT ANY bagValue, optional SET OF attributes."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("bagId", univ.ObjectIdentifier()),
        namedtype.NamedType("bagValue", _explicit(univ.Any(), 0)),
        namedtype.OptionalNamedType("bagAttributes", univ.SetOf(componentType=Attribute())),
    )


class SafeContents(univ.SequenceOf):
    """RFC 7292: SEQUENCE OF SafeBag."""

    componentType = SafeBag()


class EncryptedPrivateKeyInfo(univ.Sequence):
    """RFC 5958 (a pkcs8ShroudedKeyBag): the key's encryption algorithm, the encrypted key."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("encryptionAlgorithm", AlgorithmIdentifier()),
        namedtype.NamedType("encryptedData", univ.OctetString()),
    )


class PBES2Params(univ.Sequence):
    """RFC 8018 PBES2-params: the key derivation function and the encryption scheme."""

    componentType = namedtype.NamedTypes(
        namedtype.NamedType("keyDerivationFunc", AlgorithmIdentifier()),
        namedtype.NamedType("encryptionScheme", AlgorithmIdentifier()),
    )
