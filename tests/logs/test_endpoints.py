"""Tests of stproxy_monitor.logs.endpoints and the events the parser makes from it:
CWPKI0022E by target, the retired binary API, the server_untrusted reason."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stproxy_monitor.config import CertificatePattern, ParseOptions
from stproxy_monitor.logs.endpoints import handshake_target, legacy_host
from stproxy_monitor.logs.events import ApnsFailure, LegacyEndpoint, SslHandshakeFailure
from stproxy_monitor.logs.parser import Batch, LogParser
from stproxy_monitor.logs.state import State

NOW = 1_700_000_000.0
STAMP = "5/10/20 3:09:01:349 UTC"
TRUST_CLASS = "com.ibm.ws.ssl.core.WSX509TrustManager"
APNS_CLASS = "com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService"
APNS_TEXT = "Unable to establish an SSL connection to the APNS service"
INDENT = " " * 33


def cwpki(host: str, *, long_layout: bool = False, subject: str = "") -> str:
    """A CWPKI0022E record in DOMAIN.md's wording, sent from `host`."""
    subject = subject or f"CN={host.split(':', maxsplit=1)[0]}, O=Example, C=US"
    text = (
        f'CWPKI0022E: SSL HANDSHAKE FAILURE: A signer with SubjectDN "{subject}" was sent from '
        f'the target host "{host}". The signer might need to be added to local trust store '
        '"/opt/IBM/WebSphere/AppServer/profiles/STPAppProfile/config/cells/c/nodes/n/trust.p12".'
    )
    body = f"{TRUST_CLASS} checkServerTrusted {text}" if long_layout else f"  {text}"
    return f"[{STAMP}] 00000052 WSX509TrustMa E {body}"


def failure(text: str, *, long_layout: bool = False) -> str:
    """A CLFRX0079W record line."""
    body = f"CLFRX0079W: {APNS_TEXT} {text}".rstrip()
    body = f"{APNS_CLASS} startAPNS {body}" if long_layout else f"  {body}"
    return f"[{STAMP}] 0000004e APNSService   W {body}"


def other(text: str) -> str:
    """An unrelated short-layout I record."""
    return f"[{STAMP}] 00000063 webapp        I   {text}"


def feed(*lines: str, options: ParseOptions | None = None) -> Batch:
    """Parse the lines whole, to the end of input."""
    parser = LogParser(options)
    data = "".join(line + "\n" for line in lines).encode()
    batch = parser.feed(data, NOW)
    rest = parser.finish(NOW)
    batch.events += rest.events
    return batch


def of_type(batch: Batch, kind: type) -> list[object]:
    """The batch's events of one type."""
    return [event for event in batch.events if isinstance(event, kind)]


# -- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("java.net.UnknownHostException: gateway.push.apple.com", "gateway.push.apple.com"),
        ('target host "gateway.sandbox.push.apple.com:2195"', "gateway.sandbox.push.apple.com"),
        ("connect to feedback.push.apple.com/17.188.1.1:2196", "feedback.push.apple.com"),
        ("FEEDBACK.SANDBOX.PUSH.APPLE.COM", "feedback.sandbox.push.apple.com"),
        ("CN=gateway.push.apple.com, O=Apple Inc.", "gateway.push.apple.com"),
        ("api.push.apple.com:2195", "api.push.apple.com"),  # the binary port on any host
        ("api.push.apple.com:443", None),
        ("api.sandbox.push.apple.com", None),
        ("api.push.apple.com:21950", None),
        ("mygateway.push.apple.com.example.net", None),
        ("gateway-push.apple.com", None),
        ("", None),
    ],
)
def test_legacy_host(text: str, host: str | None) -> None:
    """The binary API's hosts (any port) and port 2195/2196 on push.apple.com; nothing else."""
    assert legacy_host(text) == host


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ('was sent from the target host "api.push.apple.com:443".', "apns"),
        ('was sent from target host:port "api.sandbox.push.apple.com:443".', "apns"),
        ('was sent from target host:port "ldap.example.com:636".', "other"),
        # the target decides, not an Apple signer name elsewhere in the text
        ('SubjectDN "CN=api.push.apple.com" was sent from target host "proxy.example.com:3128"',
         "other"),
        # no usable target: a push.apple.com host anywhere decides
        ('SubjectDN "CN=api.push.apple.com, O=Apple Inc." was sent from the target host.', "apns"),
        ('SubjectDN "CN=x" was sent from target host:port "null:null".', "other"),
        ("", "other"),
        ('target host "push.apple.com.evil.example:443"', "other"),
    ],
)
def test_handshake_target(text: str, target: str) -> None:
    """apns for a host under push.apple.com, else other."""
    assert handshake_target(text) == target


# -- the parser -------------------------------------------------------------------------------


def test_cwpki0022e_in_both_layouts_counts_by_target() -> None:
    """Each CWPKI0022E record is one handshake failure; the target host decides apns/other."""
    batch = feed(
        cwpki("api.push.apple.com:443"),
        cwpki("api.sandbox.push.apple.com:443", long_layout=True),
        cwpki("ldap.example.com:636"),
        cwpki("stcommunity.example.com:1533", long_layout=True),
    )
    targets = [e.target for e in of_type(batch, SslHandshakeFailure)]  # type: ignore[attr-defined]
    assert targets == ["apns", "apns", "other", "other"]
    assert batch.severities == Counter({"E": 4})


def test_cwpki0022e_outside_a_record_id_is_not_counted() -> None:
    """Quoted in another record's text or on a continuation line: no handshake failure."""
    batch = feed(
        other("Replaying CWPKI0022E: SSL HANDSHAKE FAILURE for the audit log"),
        f"[{STAMP}] 00000063 SSLHandshake E   SSLC0008E: after CWPKI0022E: SSL HANDSHAKE",
        f"[{STAMP}] 00000052 WSX509TrustMa W   CWPKI0022E: not an E record",
        f"{INDENT}caused by CWPKI0022E: SSL HANDSHAKE FAILURE",
        failure("javax.net.ssl.SSLHandshakeException: CWPKI0022E: SSL HANDSHAKE FAILURE"),
    )
    assert of_type(batch, SslHandshakeFailure) == []
    (failed,) = of_type(batch, ApnsFailure)
    assert failed.reason == "server_untrusted"  # type: ignore[attr-defined]


@pytest.mark.parametrize("long_layout", [False, True])
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("javax.net.ssl.SSLHandshakeException: sun.security.validator.ValidatorException: PKIX "
         "path building failed", "server_untrusted"),
        ("javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired",
         "certificate_rejected"),
        ("javax.net.ssl.SSLHandshakeException: Received fatal alert: bad_certificate",
         "certificate_rejected"),
        ("Received fatal alert: certificate_unknown", "certificate_rejected"),
        ("Received fatal alert: certificate_revoked", "certificate_rejected"),
    ],
)
def test_untrusted_and_alert_reasons_inline_and_on_a_continuation(
    text: str, reason: str, long_layout: bool
) -> None:
    """The wording in the message or on the next line, in either layout, gives the reason."""
    inline = feed(failure(text, long_layout=long_layout))
    continued = feed(failure("", long_layout=long_layout), INDENT + text, "\tat x.y(z.java:1)")
    for batch in (inline, continued):
        assert [e.reason for e in of_type(batch, ApnsFailure)] == [reason]  # type: ignore[attr-defined]


def test_legacy_host_in_a_failure_or_handshake_record_is_an_event() -> None:
    """The binary API named by a CLFRX0079W (first or continuation line) or a CWPKI0022E."""
    batch = feed(
        failure("java.net.UnknownHostException: gateway.push.apple.com"),
        other("Retrying"),
        failure(""),
        f"{INDENT}java.net.ConnectException: feedback.push.apple.com/17.1.1.1:2196",
        cwpki("gateway.sandbox.push.apple.com:2195", long_layout=True),
        cwpki("api.push.apple.com:443"),
        failure("java.net.UnknownHostException: api.push.apple.com"),
    )
    hosts = [e.host for e in of_type(batch, LegacyEndpoint)]  # type: ignore[attr-defined]
    assert hosts == [
        "gateway.push.apple.com",
        "feedback.push.apple.com",
        "gateway.sandbox.push.apple.com",
    ]


def test_legacy_host_in_other_records_is_not_an_event() -> None:
    """Another record's text or continuation naming the host says nothing of the proxy's API."""
    batch = feed(
        other("Documentation: gateway.push.apple.com:2195 was retired in 2021"),
        f"{INDENT}see feedback.push.apple.com",
    )
    assert of_type(batch, LegacyEndpoint) == []


REALISTIC = "".join(
    line + "\n"
    for line in (
        other("start"),
        cwpki("gateway.push.apple.com:2195"),
        failure("", long_layout=True),
        f"{INDENT}javax.net.ssl.SSLHandshakeException: PKIX path building failed",
        "\tat com.ibm.jsse2.k.a(k.java:42)",
        cwpki("ldap.example.com:636", long_layout=True),
        other("between"),
        failure("Received fatal alert: certificate_expired"),
        cwpki("api.push.apple.com:443"),
        other("end"),
    )
).encode()


def _events(data: bytes, cuts: list[int], options: ParseOptions | None) -> list[object]:
    parser = LogParser(options)
    events: list[object] = []
    previous = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        events += parser.feed(data[previous:cut], NOW).events
        previous = cut
    events += parser.finish(NOW).events
    return events


EVERY_LINE = ParseOptions(
    certificate_patterns=(CertificatePattern(regex=re.compile(r"To: (?P<not_after>\S+)")),)
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(REALISTIC)), max_size=20),
    every_line=st.booleans(),
)
def test_cut_feeding_gives_the_same_events(cuts: list[int], every_line: bool) -> None:
    """However the reads cut the lines, and with every line looked at, the same events."""
    options = EVERY_LINE if every_line else None
    expected = [
        LegacyEndpoint(host="gateway.push.apple.com"),
        SslHandshakeFailure(target="apns"),
        SslHandshakeFailure(target="other"),
        SslHandshakeFailure(target="apns"),
    ]
    got = _events(REALISTIC, cuts, options)
    assert [e for e in got if not isinstance(e, ApnsFailure)] == expected
    assert [e.reason for e in got if isinstance(e, ApnsFailure)] == [
        "server_untrusted",
        "certificate_rejected",
    ]


def test_state_counts_handshakes_and_keeps_the_legacy_flag() -> None:
    """Per server: CWPKI0022E by target, and the legacy flag set once seen; snapshots copy."""
    state = State()
    state.register("/logs/STProxyServer/SystemOut.log")
    parser = LogParser()
    state.apply("/logs/STProxyServer/SystemOut.log", parser.feed(REALISTIC, NOW), now=NOW)
    first = state.snapshot().servers["STProxyServer"]
    assert first.handshake_failures == Counter({"apns": 2, "other": 1})
    assert first.legacy_endpoint is True
    state.apply("/logs/STProxyServer/SystemOut.log", parser.feed(REALISTIC, NOW), now=NOW)
    second = state.snapshot().servers["STProxyServer"]
    assert second.handshake_failures == Counter({"apns": 4, "other": 2})
    assert first.handshake_failures == Counter({"apns": 2, "other": 1})  # a copy, unchanged
