"""What a probe saw, and the fixed result it means (pure: no sockets, no clock, no logging).

The client (:mod:`~stproxy_monitor.probe.client`) records what each step saw in a
:class:`Seen`; :func:`classify` turns that into one of :data:`RESULTS` and words an operator can
act on. The contract fixes the results and their exit statuses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESULTS = (
    "accepted",
    "certificate_rejected",
    "wrong_environment",
    "topic_rejected",
    "server_untrusted",
    "unreachable",
    "timed_out",
    "apns_unavailable",
    "other",
)
EXIT_STATUS: Mapping[str, int] = {
    "accepted": 0,
    "certificate_rejected": 2,
    "wrong_environment": 2,
    "topic_rejected": 2,
    "server_untrusted": 2,
    "unreachable": 3,
    "timed_out": 3,
    "apns_unavailable": 3,
    "other": 3,
}

# Apple's `reason` values (JSON body or GOAWAY debug data) by what they say about the probe.
DEVICE_TOKEN_REASONS = frozenset(
    {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "MissingDeviceToken",
     "ExpiredToken"}
)  # fmt: skip
CERTIFICATE_REASONS = frozenset(
    {"BadCertificate", "Forbidden", "ExpiredProviderToken", "InvalidProviderToken",
     "MissingProviderToken"}
)  # fmt: skip
ENVIRONMENT_REASONS = frozenset({"BadCertificateEnvironment"})
TOPIC_REASONS = frozenset({"TopicDisallowed", "BadTopic", "MissingTopic"})
UNAVAILABLE_REASONS = frozenset({"Shutdown", "ServiceUnavailable", "InternalServerError"})
UNAVAILABLE_STATUSES = frozenset({500, 503})

# TLS alerts (RFC 8446 names) that a server sends about the client's certificate.
CERTIFICATE_ALERTS = frozenset(
    {"bad_certificate", "unsupported_certificate", "certificate_revoked", "certificate_expired",
     "certificate_unknown", "unknown_ca", "access_denied", "certificate_required"}
)  # fmt: skip
_ALERT_PREFIXES = ("SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_")

# Failures seen before any HTTP/2 answer (Seen.failure).
FAILURES = frozenset(
    {"local", "dns", "refused", "proxy_refused", "timeout", "server_untrusted", "tls_alert",
     "tls_error", "no_h2", "closed", "protocol"}
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """What the probe saw: a failure before an answer, or an HTTP/2 answer, or a GOAWAY.

    ``failure`` is one of :data:`FAILURES` or None; ``detail`` says it in words. ``status`` and
    ``apns_reason`` come from the response (or ``apns_reason`` from a GOAWAY's debug data, then
    ``goaway`` is true).
    """

    failure: str | None = None
    detail: str = ""
    tls_alert: str | None = None
    status: int | None = None
    apns_reason: str | None = None
    goaway: bool = False

    def __post_init__(self) -> None:
        if self.failure is not None and self.failure not in FAILURES:
            raise ValueError(f"Seen.failure: must be one of {sorted(FAILURES)} ({self.failure!r})")


def classify(seen: Seen) -> tuple[str, str]:
    """The result of the probe and what it means, in words."""
    if seen.apns_reason is not None:
        by_reason = _by_reason(seen)
        if by_reason is not None:
            return by_reason
    if seen.goaway:
        return _goaway(seen)
    if seen.status is not None:
        return _by_status(seen)
    return _by_failure(seen)


def _by_reason(seen: Seen) -> tuple[str, str] | None:
    """A result from Apple's reason alone, None for a reason that decides nothing."""
    reason = seen.apns_reason
    where = "GOAWAY" if seen.goaway else f"HTTP {seen.status}"
    if reason in DEVICE_TOKEN_REASONS and not seen.goaway:
        return "accepted", f"certificate accepted by APNs ({where} {reason} for the dummy token)"
    if reason in CERTIFICATE_REASONS:
        return "certificate_rejected", (
            f"APNs rejected the certificate ({where} {reason}): it is revoked, not a push "
            "certificate or not Apple's; renew it"
        )
    if reason in ENVIRONMENT_REASONS:
        return "wrong_environment", (
            f"APNs says the certificate is for the other environment ({where} {reason}): a "
            "sandbox certificate on the production endpoint, or the reverse"
        )
    if reason in TOPIC_REASONS:
        return "topic_rejected", (
            f"APNs refused the topic ({where} {reason}): the certificate is not for this app's "
            "bundle id"
        )
    if reason in UNAVAILABLE_REASONS:
        return "apns_unavailable", f"APNs is unavailable ({where} {reason}): try again later"
    return None


def _goaway(seen: Seen) -> tuple[str, str]:
    """A GOAWAY without a deciding reason."""
    reason = f" with reason {seen.apns_reason}" if seen.apns_reason else ""
    detail = f" ({seen.detail})" if seen.detail else ""
    return "other", f"APNs closed the HTTP/2 connection (GOAWAY{reason}){detail}"


def _by_status(seen: Seen) -> tuple[str, str]:
    """An HTTP answer whose reason decided nothing."""
    status = seen.status
    reason = f" {seen.apns_reason}" if seen.apns_reason else ""
    if status == 200:
        return "accepted", "certificate accepted by APNs (HTTP 200)"
    if status in UNAVAILABLE_STATUSES:
        return "apns_unavailable", f"APNs is unavailable (HTTP {status}{reason}): try again later"
    return "other", f"unexpected answer from APNs: HTTP {status}{reason or ' without a reason'}"


def _by_failure(seen: Seen) -> tuple[str, str]:
    """A failure before any HTTP/2 answer."""
    failure, detail = seen.failure, seen.detail
    if failure == "tls_alert" and seen.tls_alert in CERTIFICATE_ALERTS:
        return "certificate_rejected", (
            f"APNs refused the client certificate during the TLS handshake (alert "
            f"{seen.tls_alert}): {_alert_advice(seen.tls_alert)}"
        )
    words = {
        "dns": ("unreachable", "cannot resolve the endpoint's name"),
        "refused": ("unreachable", "cannot connect"),
        "proxy_refused": ("unreachable", "the proxy refused the tunnel"),
        "timeout": ("timed_out", "no answer within the timeout"),
        "server_untrusted": ("server_untrusted", "the server's certificate does not verify"),
        "tls_alert": ("other", f"TLS alert {seen.tls_alert} from the server"),
        "tls_error": ("other", "TLS handshake failed"),
        "no_h2": ("other", "the endpoint does not speak HTTP/2"),
        "closed": ("other", "the server closed the connection without an answer"),
        "protocol": ("other", "HTTP/2 protocol error"),
        "local": ("other", "the probe could not start"),
    }
    result, text = words.get(failure or "", ("other", "no answer and no failure recorded"))
    return result, f"{text}: {detail}" if detail else text


def _alert_advice(alert: str | None) -> str:
    """What an operator does about a certificate alert."""
    if alert == "certificate_expired":
        return "the certificate has expired; renew it"
    if alert == "certificate_revoked":
        return "the certificate was revoked; order a new one"
    if alert == "unknown_ca":
        return "the certificate is not issued by Apple's push CA (a wrong or test certificate)"
    return "the certificate is expired, revoked or not Apple's; check it with `cert`"


def alert_name(openssl_reason: str | None) -> str | None:
    """The TLS alert name in an OpenSSL error reason ('SSLV3_ALERT_CERTIFICATE_EXPIRED' ->
    'certificate_expired'), None when the reason is not a received alert."""
    if not openssl_reason:
        return None
    for prefix in _ALERT_PREFIXES:
        if openssl_reason.startswith(prefix):
            return openssl_reason[len(prefix) :].lower()
    return None


def reason_of(body: bytes) -> str | None:
    """Apple's ``reason`` in a JSON body or GOAWAY debug data; None when there is none.

    Only a short identifier is kept: this text becomes a JSON field and a log value, never a
    label, and a hostile server must not fill them with anything else.
    """
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    reason = data.get("reason") if isinstance(data, dict) else None
    if isinstance(reason, str) and reason.isascii() and reason.isalnum() and len(reason) <= 64:
        return reason
    return None
