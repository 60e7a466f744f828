"""Trust stores: can the proxy's JVM verify Apple's servers? (DOMAIN.md, "APNs today")

Since 2025 Apple's APNs servers chain to USERTrust RSA Certification Authority, cross-signed by
AAA Certificate Services: a WebSphere trust store (``trust.p12``) without either root fails
every APNs connection (CWPKI0022E). A root counts when both its subject and its public key
match (a certificate that only borrows the name does not). The stores are PKCS#12 files of
trusted-certificate bags, read like any PKCS#12 (cryptography returns such bags as additional
certificates) with WebSphere's default password unless one is configured.

:func:`apns_roots` is pure; :class:`TrustStores` finds and reads the files (cached on their
identity, like the certificate files).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stproxy_monitor.certs.files import (
    CertificateCache,
    CertificateSnapshot,
    CertificateSource,
    FileKind,
    PasswordSource,
    node_from_path,
)
from stproxy_monitor.certs.inspection import CertificateInfo

TRUSTSTORE_FILE_NAME = "trust.p12"
DEFAULT_TRUST_PASSWORD = b"WebAS"  # WebSphere's default; the contract's default too
# Where a profile keeps its trust stores: the cell's, and each node's.
PROFILE_TRUSTSTORE_GLOBS = (
    os.path.join("config", "cells", "*", TRUSTSTORE_FILE_NAME),
    os.path.join("config", "cells", "*", "nodes", "*", TRUSTSTORE_FILE_NAME),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownRoot:
    """A root by its subject (RFC 4514, as cryptography prints it) and its key's SHA-256 pin."""

    name: str
    subject: str
    spki_sha256: str


# The pins are the SHA-256 of each root's SubjectPublicKeyInfo (public values, also published
# as base64 pins: x4QzPSC810K5/cMjb05Qm4k3Bw5zBn4lTdO/nEW/Td4= and
# vRU+17BDT2iGsXvOi76E7TQMcTLXAqj0+jGPdW7L1vM=). The cross-signed USERTrust certificate has the
# same subject and key, so it counts too.
APNS_ROOTS = (
    KnownRoot(
        name="USERTrust RSA Certification Authority",
        subject="CN=USERTrust RSA Certification Authority,O=The USERTRUST Network,"
        "L=Jersey City,ST=New Jersey,C=US",
        spki_sha256="c784333d20bcd742b9fdc3236f4e509b8937070e73067e254dd3bf9c45bf4dde",
    ),
    KnownRoot(
        name="AAA Certificate Services",
        subject="CN=AAA Certificate Services,O=Comodo CA Limited,L=Salford,"
        "ST=Greater Manchester,C=GB",
        spki_sha256="bd153ed7b0434f6886b17bce8bbe84ed340c7132d702a8f4fa318f756ecbd6f3",
    ),
)


def apns_roots(
    certificates: Iterable[CertificateInfo], roots: Sequence[KnownRoot] = APNS_ROOTS
) -> tuple[str, ...]:
    """Names of the ``roots`` among ``certificates`` (subject and key both match), in order."""
    held = {(info.subject, info.spki_sha256) for info in certificates}
    return tuple(root.name for root in roots if (root.subject, root.spki_sha256) in held)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustStoreReading:
    """One trust store at one refresh: read or not, and the APNs roots it holds.

    ``trusts_apns`` is None when the store could not be read (nothing is known then).
    """

    path: str
    node: str
    read_ok: bool
    reason: str = ""
    message: str = ""
    certificates: int = 0
    roots: tuple[str, ...] = ()

    @property
    def trusts_apns(self) -> bool | None:
        """Whether it holds either APNs root; None when unread."""
        return bool(self.roots) if self.read_ok else None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustStoreSource:
    """A configured trust store (file or glob) and its password source (None: "WebAS")."""

    path: str
    password: PasswordSource | None = None


def truststore_sources(
    configured: Sequence[TrustStoreSource], profiles: Sequence[str]
) -> list[TrustStoreSource]:
    """The configured stores first (their password wins), then each profile's cell and node
    stores with the default password."""
    found = list(configured)
    for profile in profiles:
        literal = glob.escape(profile)  # only the trust store pattern globs
        found += [
            TrustStoreSource(path=os.path.join(literal, pattern))
            for pattern in PROFILE_TRUSTSTORE_GLOBS
        ]
    return found


class TrustStores:
    """Every trust store configured or found in the profiles, read again when it changes."""

    def __init__(
        self,
        sources: Sequence[TrustStoreSource],
        *,
        environ: Mapping[str, str] = os.environ,
        cache: CertificateCache | None = None,
    ) -> None:
        self._cache = cache or CertificateCache(
            [CertificateSource(path=s.path, password=s.password) for s in sources],
            environ=environ,
            kind=FileKind(
                file_name=TRUSTSTORE_FILE_NAME,
                default_password=DEFAULT_TRUST_PASSWORD,
                allow_empty=True,
            ),
        )
        self._last: tuple[CertificateSnapshot | None, tuple[TrustStoreReading, ...]] = (None, ())

    def read(self) -> tuple[TrustStoreReading, ...]:
        """One reading per store, by path; the same tuple while no store changed."""
        snapshot = self._cache.refresh()
        last, readings = self._last
        if snapshot is not last:
            readings = readings_of(snapshot)
            self._last = (snapshot, readings)
        return readings


def readings_of(snapshot: CertificateSnapshot) -> tuple[TrustStoreReading, ...]:
    """The readings of a snapshot of trust store files (pure)."""
    by_path: dict[str, list[CertificateInfo]] = {}
    nodes: dict[str, str] = {}
    for entry in snapshot.certificates:
        by_path.setdefault(entry.path, []).append(entry.info)
        nodes[entry.path] = entry.node
    readings = []
    for path, status in sorted(snapshot.files.items()):
        held = by_path.get(path, [])
        readings.append(
            TrustStoreReading(
                path=path,
                node=nodes.get(path) or node_from_path(path, TRUSTSTORE_FILE_NAME),
                read_ok=status.read_ok,
                reason=status.reason,
                message=status.message,
                certificates=len(held),
                roots=apns_roots(held),
            )
        )
    return tuple(readings)

