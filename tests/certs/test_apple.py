"""Tests for stproxy_monitor.certs.apple: environment, UID, topics and issuer of a certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stproxy_monitor.certs import apple

_KEY = ec.generate_private_key(ec.SECP256R1())
_NOW = datetime(2026, 12, 1, tzinfo=UTC)
_WWDR = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "G4"),
        x509.NameAttribute(NameOID.COMMON_NAME, apple.WWDR_COMMON_NAME),
    ]
)


def _cert(
    *,
    subject: list[tuple[x509.ObjectIdentifier, str]] | None = None,
    issuer: x509.Name = _WWDR,
    extensions: list[tuple[x509.ObjectIdentifier, bytes]] = (),  # type: ignore[assignment]
) -> x509.Certificate:
    pairs = subject if subject is not None else [(NameOID.USER_ID, "com.ibm.lotus.sametime")]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs]))
        .issuer_name(issuer)
        .public_key(_KEY.public_key())
        .serial_number(7)
        .not_valid_before(_NOW)
        .not_valid_after(_NOW + timedelta(days=365))
    )
    for oid, value in extensions:
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    return builder.sign(_KEY, hashes.SHA256())


NULL = b"\x05\x00"
# SEQUENCE { UTF8String "com.ibm.lotus.sametime", SEQUENCE { UTF8String "app" },
#            UTF8String "com.ibm.lotus.sametime.voip", SEQUENCE { UTF8String "voip" } }
TOPICS_DER = bytes.fromhex(
    "3044"
    "0c16" + b"com.ibm.lotus.sametime".hex() + "3005" + "0c03" + b"app".hex()
    + "0c1b" + b"com.ibm.lotus.sametime.voip".hex() + "3006" + "0c04" + b"voip".hex()
)


@pytest.mark.parametrize(
    ("oids", "expected"),
    [
        ((apple.OID_SANDBOX, apple.OID_PRODUCTION), "both"),
        ((apple.OID_PRODUCTION,), "production"),
        ((apple.OID_SANDBOX,), "sandbox"),
        ((), "unknown"),
    ],
)
def test_environment_comes_from_apples_extension_oids(
    oids: tuple[x509.ObjectIdentifier, ...], expected: str
) -> None:
    """1.2.840.113635.100.6.3.1 is the sandbox, .3.2 production, both or none."""
    cert = _cert(extensions=[(oid, NULL) for oid in oids])
    assert apple.environment(cert) == expected


def test_topics_are_the_uid_then_the_topic_extension_without_repeats() -> None:
    """The UID comes first and is not repeated; the push types are not topics."""
    cert = _cert(extensions=[(apple.OID_TOPICS, TOPICS_DER)])
    assert apple.uid(cert) == "com.ibm.lotus.sametime"
    assert apple.topics(cert) == ("com.ibm.lotus.sametime", "com.ibm.lotus.sametime.voip")


def test_a_damaged_topic_extension_adds_no_topic() -> None:
    """Undecodable or oddly shaped extension values leave only the UID."""
    # the last: a string whose 8-byte length does not fit an index (pyasn1: OverflowError)
    huge = b"\x30\x0b\x0c\x88\xef" + b"\xff" * 7 + b"\x00"
    for value in (b"\x30\x05\x0c", b"\x0c\x03abc", b"\x02\x01\x05", huge):
        cert = _cert(extensions=[(apple.OID_TOPICS, value)])
        assert apple.topics(cert) == ("com.ibm.lotus.sametime",), value


def test_no_uid_gives_an_empty_uid_and_only_extension_topics() -> None:
    """A subject without UID: uid is "", topics come from the extension alone."""
    cert = _cert(
        subject=[(NameOID.COMMON_NAME, "x")], extensions=[(apple.OID_TOPICS, TOPICS_DER)]
    )
    assert apple.uid(cert) == ""
    assert apple.topics(cert) == ("com.ibm.lotus.sametime", "com.ibm.lotus.sametime.voip")


def test_apple_wwdr_issuer_is_recognised_by_common_name_and_organization() -> None:
    """WWDR (any generation) counts; the same common name from another organization does not."""
    assert apple.is_apple_wwdr_issued(_cert())
    forged = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc (not)"),
            x509.NameAttribute(NameOID.COMMON_NAME, apple.WWDR_COMMON_NAME),
        ]
    )
    assert not apple.is_apple_wwdr_issued(_cert(issuer=forged))
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Root CA")])
    assert not apple.is_apple_wwdr_issued(_cert(issuer=other))


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        (
            "C=US, O=IBM, OU=RBVH72H5WP, CN=Apple Push Services: com.ibm.lotus.sametime, "
            "UID=com.ibm.lotus.sametime",
            "com.ibm.lotus.sametime",
        ),
        ("UID=com.example.app,CN=Apple Push Services: com.example.app", "com.example.app"),
        ("0.9.2342.19200300.100.1.1=com.x,CN=y", "com.x"),
        ("CN=no uid here", ""),
        ("", ""),
    ],
)
def test_uid_from_a_printed_dn(dn: str, expected: str) -> None:
    """The UID of a SubjectDN as the IBM tool or RFC 4514 prints it."""
    assert apple.uid_from_dn(dn) == expected
