"""The contract's reason of a CLFRX0079W record, from its text (pure)."""

from __future__ import annotations

# The label values of stproxy_apns_connection_failures_total{reason}, in exposition order:
# fixed, never free log text in a label; classify_reason returns one of them.
REASONS = (
    "connection_refused",
    "timed_out",
    "unknown_host",
    "handshake_failed",
    "certificate_rejected",
    "server_untrusted",
    "other",
)

# Classification of CLFRX0079W causes into the contract's fixed set; first match wins.
_REASON_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The proxy's JVM did not trust APNs' server (its trust store lacks the root): these
    # records also say "handshake" and may name a certificate, so they come first.
    (
        "server_untrusted",
        (
            "pkix path building failed",
            "pkix path validation failed",
            "unable to find valid certification path",
            "could not build a valid certpath",
            "cwpki0022e",
        ),
    ),
    (
        "certificate_rejected",
        (
            "certificate_expired",
            "certificate_revoked",
            "certificate_unknown",
            "bad_certificate",
            "unsupported_certificate",
            "certificate expired",
            "certificate revoked",
            "certificate has expired",
        ),
    ),
    (
        "unknown_host",
        (
            "unknownhostexception",
            "unknown host",
            "name or service not known",
            "nodename nor servname",
            "no such host",
        ),
    ),
    # IBM JDKs on AIX: "A remote host refused an attempted connect operation."
    ("connection_refused", ("connection refused", "refused an attempted connect")),
    ("timed_out", ("timed out", "timeout", "sockettimeoutexception")),
    (
        "handshake_failed",
        (
            "handshake",
            "sslexception",
            "pkix",
            "certpath",
            "ssl peer",
            "no cipher suites",
            "protocol_version",
        ),
    ),
)


def classify_reason(text: str) -> str:
    """The contract's reason for a CLFRX0079W record, from its whole text."""
    lowered = text.lower()
    for reason, needles in _REASON_RULES:
        if any(needle in lowered for needle in needles):
            return reason
    return "other"
