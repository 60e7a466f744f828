"""What an APNs provider certificate says about itself: environment, topics, issuer (pure).

Apple's facts (DOMAIN.md, "APNs today"): the subject's UID is the app's bundle id and the
default topic; extension 1.2.840.113635.100.6.3.1 marks a certificate valid for the sandbox,
.3.2 for production, .3.6 lists the topics; the issuer is Apple Worldwide Developer Relations
Certification Authority (G4 for recent certificates, the older ones without a generation).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

OID_SANDBOX = x509.ObjectIdentifier("1.2.840.113635.100.6.3.1")
OID_PRODUCTION = x509.ObjectIdentifier("1.2.840.113635.100.6.3.2")
OID_TOPICS = x509.ObjectIdentifier("1.2.840.113635.100.6.3.6")

WWDR_COMMON_NAME = "Apple Worldwide Developer Relations Certification Authority"
APPLE_ORGANIZATION = "Apple Inc."


def environment(cert: x509.Certificate) -> str:
    """``production``, ``sandbox``, ``both`` or ``unknown`` from Apple's extension OIDs."""
    present = {ext.oid for ext in _extensions(cert)}
    sandbox, production = OID_SANDBOX in present, OID_PRODUCTION in present
    if sandbox and production:
        return "both"
    if production:
        return "production"
    return "sandbox" if sandbox else "unknown"


def uid(cert: x509.Certificate) -> str:
    """The subject's UID (the app's bundle id, APNs' default topic), "" when there is none."""
    return name_attribute(cert.subject, NameOID.USER_ID)


def topics(cert: x509.Certificate) -> tuple[str, ...]:
    """The topics the certificate may push to: the UID first, then those of Apple's extension.

    The extension (1.2.840.113635.100.6.3.6) is a SEQUENCE in which each topic is a UTF8String
    followed by a SEQUENCE of its push types; a value that cannot be decoded adds no topic.
    """
    found = [uid(cert)] if uid(cert) else []
    for ext in _extensions(cert):
        if ext.oid == OID_TOPICS and isinstance(ext.value, x509.UnrecognizedExtension):
            found.extend(_extension_topics(ext.value.value))
    return tuple(dict.fromkeys(found))


def is_apple_wwdr_issued(cert: x509.Certificate) -> bool:
    """Whether the issuer is Apple's WWDR CA, by name: O=Apple Inc., CN=Apple Worldwide ...

    Only the name can be checked: the WWDR certificate is rarely in the file, and its key is
    not pinned here (Apple has several generations, G2 to G6).
    """
    issuer = cert.issuer
    return (
        name_attribute(issuer, NameOID.COMMON_NAME) == WWDR_COMMON_NAME
        and name_attribute(issuer, NameOID.ORGANIZATION_NAME) == APPLE_ORGANIZATION
    )


def name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    """The first value of attribute ``oid`` in ``name`` as text, "" when absent."""
    for attribute in name.get_attributes_for_oid(oid):
        value = attribute.value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return ""


def uid_from_dn(dn: str) -> str:
    """The UID of a distinguished name written as text (``..., UID=com.example.app``), or "".

    For certificate-status blocks found in logs, where only the printed SubjectDN is known.
    """
    for part in dn.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().upper() in ("UID", "0.9.2342.19200300.100.1.1"):
            return value.strip()
    return ""


def _extensions(cert: x509.Certificate) -> list[x509.Extension[x509.ExtensionType]]:
    """The certificate's extensions; none when they cannot be parsed (a damaged certificate)."""
    try:
        return list(cert.extensions)
    except ValueError:
        return []


def _extension_topics(der: bytes) -> list[str]:
    # pyasn1 only where a certificate has the extension: `scan` never loads it.
    from pyasn1.codec.der import decoder  # noqa: PLC0415
    from pyasn1.error import PyAsn1Error  # noqa: PLC0415
    from pyasn1.type import char, univ  # noqa: PLC0415

    try:
        value, _ = decoder.decode(der)
    except PyAsn1Error:
        return []
    if not isinstance(value, univ.Sequence | univ.SequenceOf | univ.Set | univ.SetOf):
        return []
    found = []
    for position in range(len(value)):
        component = value[position]
        if isinstance(component, char.AbstractCharacterString):
            found.append(str(component))
    return found
