"""The probe's pure classification: what was seen gives one result of the contract's set."""

from __future__ import annotations

import pytest

from stproxy_monitor.probe.outcome import (
    EXIT_STATUS,
    RESULTS,
    Seen,
    alert_name,
    classify,
    reason_of,
)


@pytest.mark.parametrize(
    ("seen", "result"),
    [
        (Seen(status=200), "accepted"),
        (Seen(status=400, apns_reason="BadDeviceToken"), "accepted"),
        (Seen(status=400, apns_reason="DeviceTokenNotForTopic"), "accepted"),
        (Seen(status=410, apns_reason="Unregistered"), "accepted"),
        (Seen(status=403, apns_reason="BadCertificate"), "certificate_rejected"),
        (Seen(status=403, apns_reason="Forbidden"), "certificate_rejected"),
        (Seen(status=403, apns_reason="ExpiredProviderToken"), "certificate_rejected"),
        (Seen(status=403, apns_reason="BadCertificateEnvironment"), "wrong_environment"),
        (Seen(goaway=True, apns_reason="BadCertificateEnvironment"), "wrong_environment"),
        (Seen(status=400, apns_reason="TopicDisallowed"), "topic_rejected"),
        (Seen(status=400, apns_reason="BadTopic"), "topic_rejected"),
        (Seen(status=400, apns_reason="MissingTopic"), "topic_rejected"),
        (Seen(status=503, apns_reason="Shutdown"), "apns_unavailable"),
        (Seen(status=503, apns_reason="ServiceUnavailable"), "apns_unavailable"),
        (Seen(status=500, apns_reason="InternalServerError"), "apns_unavailable"),
        (Seen(status=503), "apns_unavailable"),
        (Seen(goaway=True, apns_reason="Shutdown"), "apns_unavailable"),
        (Seen(failure="tls_alert", tls_alert="certificate_expired"), "certificate_rejected"),
        (Seen(failure="tls_alert", tls_alert="certificate_revoked"), "certificate_rejected"),
        (Seen(failure="tls_alert", tls_alert="unknown_ca"), "certificate_rejected"),
        (Seen(failure="tls_alert", tls_alert="bad_certificate"), "certificate_rejected"),
        (Seen(failure="tls_alert", tls_alert="handshake_failure"), "other"),
        (Seen(failure="server_untrusted", detail="unable to get local issuer"), "server_untrusted"),
        (Seen(failure="dns"), "unreachable"),
        (Seen(failure="refused"), "unreachable"),
        (Seen(failure="proxy_refused"), "unreachable"),
        (Seen(failure="timeout"), "timed_out"),
        (Seen(failure="no_h2"), "other"),
        (Seen(failure="closed"), "other"),
        (Seen(failure="protocol"), "other"),
        (Seen(failure="local", detail="cannot read"), "other"),
        (Seen(status=404, apns_reason="BadPath"), "other"),
        (Seen(status=429, apns_reason="TooManyRequests"), "other"),
        (Seen(goaway=True), "other"),
        (Seen(goaway=True, apns_reason="SomethingNew"), "other"),
        (Seen(), "other"),
    ],
)
def test_classify(seen: Seen, result: str) -> None:
    """Each reason, status and failure gives the contract's result, and words that say it."""
    got, words = classify(seen)
    assert got == result
    assert words
    if seen.apns_reason:
        assert seen.apns_reason in words


def test_a_device_token_reason_in_a_goaway_is_no_acceptance() -> None:
    """A GOAWAY ends the connection: a device-token reason there proves nothing."""
    assert classify(Seen(goaway=True, apns_reason="BadDeviceToken"))[0] == "other"


def test_results_and_exit_statuses_are_the_contracts() -> None:
    """The fixed set, and its exit statuses (0 accepted, 2 certificate side, 3 the rest)."""
    assert set(EXIT_STATUS) == set(RESULTS)
    assert [EXIT_STATUS[r] for r in RESULTS] == [0, 2, 2, 2, 2, 3, 3, 3, 3]


def test_unknown_failure_kind_is_refused() -> None:
    """A failure kind outside the fixed set is a programming error, not a silent 'other'."""
    with pytest.raises(ValueError, match=r"Seen\.failure"):
        Seen(failure="exploded")


@pytest.mark.parametrize(
    ("reason", "alert"),
    [
        ("SSLV3_ALERT_CERTIFICATE_EXPIRED", "certificate_expired"),
        ("TLSV1_ALERT_UNKNOWN_CA", "unknown_ca"),
        ("SSLV3_ALERT_BAD_CERTIFICATE", "bad_certificate"),
        ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "certificate_required"),
        ("TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "no_application_protocol"),
        ("CERTIFICATE_VERIFY_FAILED", None),
        (None, None),
    ],
)
def test_alert_name(reason: str | None, alert: str | None) -> None:
    """OpenSSL's reason for a received alert gives the alert's RFC name; others give None."""
    assert alert_name(reason) == alert


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"reason":"BadDeviceToken"}', "BadDeviceToken"),
        (b'{"reason":"Unregistered","timestamp":1700000000000}', "Unregistered"),
        (b"", None),
        (b"not json", None),
        (b'["reason"]', None),
        (b'{"reason": 42}', None),
        (b'{"reason": "two words"}', None),
        (b'{"reason": "' + b"A" * 65 + b'"}', None),
        (b"\xff\xfe", None),
    ],
)
def test_reason_of(body: bytes, reason: str | None) -> None:
    """Apple's reason is read from JSON; anything else (or a long or odd string) is None."""
    assert reason_of(body) == reason
