"""What is wrong with a certificate file beyond its dates: the contract's fixed problems (pure).

Each problem is decided from an :class:`~stproxy_monitor.certs.inspection.Inspection`; one that
cannot be decided for a file (a key problem of a PEM file, the encryption of a PKCS#12 whose
envelope could not be parsed) is left out rather than said to hold or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stproxy_monitor.certs.inspection import Inspection
from stproxy_monitor.config import DEFAULT_EXPECTED_TOPIC
from stproxy_monitor.states import Status

# Fixed label values of stproxy_apns_certificate_problem{problem}, in the contract's order.
PROBLEMS = (
    "no_private_key",
    "key_mismatch",
    "not_apple_issued",
    "sandbox_only",
    "topic_mismatch",
    "legacy_unreadable",
)
# A problem makes `cert` exit at least WARNING; these make it CRITICAL (the contract).
CRITICAL_PROBLEMS = frozenset({"no_private_key", "key_mismatch", "sandbox_only", "topic_mismatch"})

# What each problem means and what to do, for `cert`, `check` and the landing page.
ADVICE = {
    "no_private_key": "the file holds no private key: export the certificate together with "
    "its key (Keychain: export the key and certificate as .p12)",
    "key_mismatch": "the private key is not the certificate's: export the key that belongs "
    "to this certificate",
    "not_apple_issued": "the certificate was not issued by Apple Worldwide Developer "
    "Relations: APNs accepts only Apple's provider certificates",
    "sandbox_only": "the certificate is not valid for the production environment: use an "
    "Apple Push Services (production) certificate",
    "topic_mismatch": "the certificate is for another app: its UID and topics do not name "
    "the expected topic",
    "legacy_unreadable": "encrypted with PBES2/AES (OpenSSL 3's default), which IBM Java 7 "
    "and Java 8 before 8u301 cannot read: re-export with `openssl pkcs12 -export -legacy`",
}


def checked_problems(
    inspection: Inspection, *, expected_topic: str = DEFAULT_EXPECTED_TOPIC
) -> dict[str, bool]:
    """problem -> whether it holds, for every problem that could be checked, in PROBLEMS order.

    The certificate problems are about the leaf; the key problems need a PKCS#12; topic_mismatch
    is checked only when ``expected_topic`` is not empty.
    """
    leaf, facts = inspection.leaf, inspection.facts
    result: dict[str, bool] = {}
    if facts.has_key is not None:
        result["no_private_key"] = not facts.has_key
    if facts.key_matches is not None:
        result["key_mismatch"] = not facts.key_matches
    if leaf is not None:
        result["not_apple_issued"] = not leaf.apple_issued
        result["sandbox_only"] = leaf.environment not in ("production", "both")
        if expected_topic:
            result["topic_mismatch"] = expected_topic not in leaf.topics
    if facts.pbes2 is not None:
        result["legacy_unreadable"] = facts.pbes2
    return result


def problems(inspection: Inspection, *, expected_topic: str = DEFAULT_EXPECTED_TOPIC) -> list[str]:
    """The problems that hold, in PROBLEMS order."""
    checked = checked_problems(inspection, expected_topic=expected_topic)
    return [name for name, holds in checked.items() if holds]


def problem_status(found: Mapping[str, bool] | Sequence[str]) -> Status:
    """OK without a problem, CRITICAL with a critical one, else WARNING (a mapping: those that
    hold)."""
    names = [name for name in found if not isinstance(found, Mapping) or found[name]]
    if any(name in CRITICAL_PROBLEMS for name in names):
        return Status.CRITICAL
    return Status.WARNING if names else Status.OK
