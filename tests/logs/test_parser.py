"""Tests of stproxy_monitor.logs.parser: records, events, chunking and robustness of LogParser."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stproxy_monitor.config import CertificatePattern, ParseOptions
from stproxy_monitor.logs.events import (
    ApnsFailure,
    CertificateStatus,
    Event,
    ProcessHeader,
    ServerLifecycle,
)
from stproxy_monitor.logs.parser import Batch, LogParser
from stproxy_monitor.logs.reasons import REASONS, classify_reason
from stproxy_monitor.logs.state import State

NOW = 1_700_000_000.0
APNS_CLASS = "com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService"
APNS_TEXT = "Unable to establish an SSL connection to the APNS service"
INDENT = " " * 33
UTC_STAMP = "5/10/20 3:09:01:349 UTC"
UTC_EPOCH = datetime(2020, 5, 10, 3, 9, 1, 349000, tzinfo=UTC).timestamp()


def record(
    text: str,
    *,
    sev: str = "I",
    stamp: str = UTC_STAMP,
    thread: str = "0000004e",
    logger: str = "APNSService",
    source: tuple[str, str] | None = None,
) -> str:
    """One WebSphere basic-format record line (short layout unless a class+method is given)."""
    body = f"{source[0]} {source[1]} {text}" if source else f"  {text}"
    if sev in ("O", "R") and source is None:
        body = text
    return f"[{stamp}] {thread} {logger[:13]:<13} {sev} {body}"


def failure(inline: str = "Connection refused: connect", **kwargs: object) -> str:
    """A CLFRX0079W record line with the cause in its text."""
    text = f"CLFRX0079W: {APNS_TEXT} {inline}".rstrip()
    return record(text, sev="W", **kwargs)  # type: ignore[arg-type]


def lines(*items: str, newline: str = "\n") -> bytes:
    """Lines joined into log bytes, each ending with the line end."""
    return "".join(item + newline for item in items).encode("utf-8")


def parse_all(data: bytes, options: ParseOptions | None = None, now: float = NOW) -> Batch:
    """Feed everything at once, then finish; one merged Batch."""
    parser = LogParser(options)
    return merge([parser.feed(data, now), parser.finish(now)])


def merge(batches: list[Batch]) -> Batch:
    """Add batches up (as the state would)."""
    total = Batch()
    for batch in batches:
        total.severities.update(batch.severities)
        total.clfrx.update(batch.clfrx)
        total.events.extend(batch.events)
        total.lines += batch.lines
        total.long_lines += batch.long_lines
        total.unparsed_timestamps += batch.unparsed_timestamps
        total.records += batch.records
    return total


def of_type(batch: Batch, kind: type) -> list[Event]:
    """The events of one type, in order."""
    return [e for e in batch.events if isinstance(e, kind)]


def failures(batch: Batch) -> list[ApnsFailure]:
    """The APNS failures of a batch, in order."""
    return [e for e in batch.events if isinstance(e, ApnsFailure)]


def reasons(batch: Batch) -> list[str]:
    """The reasons of a batch's APNS failures, in order."""
    return [e.reason for e in failures(batch)]


# --- classify_reason -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # connection refused: Windows JDK, then Linux JDKs
        ("Connection refused: connect", "connection_refused"),
        ("java.net.ConnectException: Connection refused: connect", "connection_refused"),
        ("Connection refused", "connection_refused"),
        ("Connection refused (Connection refused)", "connection_refused"),
        (
            "java.net.ConnectException: Connection refused (Connection refused)",
            "connection_refused",
        ),
        # timeouts
        ("java.net.SocketTimeoutException: connect timed out", "timed_out"),
        ("java.net.SocketTimeoutException: Read timed out", "timed_out"),
        ("java.net.ConnectException: Connection timed out: connect", "timed_out"),
        ("java.net.ConnectException: Connection timed out (Connection timed out)", "timed_out"),
        # unknown host: Windows names only the host, Linux adds the resolver's words
        ("java.net.UnknownHostException: gateway.push.apple.com", "unknown_host"),
        (
            "java.net.UnknownHostException: gateway.push.apple.com: Name or service not known",
            "unknown_host",
        ),
        ("java.net.UnknownHostException: api.push.apple.com: unknown error", "unknown_host"),
        # handshake failures
        (
            "javax.net.ssl.SSLHandshakeException: Received fatal alert: handshake_failure",
            "handshake_failed",
        ),
        (
            "javax.net.ssl.SSLHandshakeException: Remote host closed connection during handshake",
            "handshake_failed",
        ),
        ("java.io.EOFException: SSL peer shut down incorrectly", "handshake_failed"),
        # APNs' server not trusted by the proxy's JVM (contract: server_untrusted)
        (
            "sun.security.validator.ValidatorException: PKIX path building failed",
            "server_untrusted",
        ),
        (
            "javax.net.ssl.SSLHandshakeException: sun.security.validator.ValidatorException: "
            "PKIX path building failed: sun.security.provider.certpath."
            "SunCertPathBuilderException: unable to find valid certification path to requested "
            "target",
            "server_untrusted",
        ),
        (
            "javax.net.ssl.SSLHandshakeException: com.ibm.jsse2.util.j: PKIX path building "
            "failed: java.security.cert.CertPathBuilderException: PKIXCertPathBuilderImpl could "
            "not build a valid CertPath.",
            "server_untrusted",
        ),
        (
            "javax.net.ssl.SSLHandshakeException: CWPKI0022E: SSL HANDSHAKE FAILURE: A signer "
            "with SubjectDN CN=api.push.apple.com was sent from the target host.",
            "server_untrusted",
        ),
        # the provider certificate rejected by Apple
        ("Received fatal alert: certificate_expired", "certificate_rejected"),
        ("Received fatal alert: certificate_revoked", "certificate_rejected"),
        ("Received fatal alert: certificate_unknown", "certificate_rejected"),
        ("Received fatal alert: bad_certificate", "certificate_rejected"),
        (
            "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired",
            "certificate_rejected",
        ),
        # anything else
        ("java.net.SocketException: Network is unreachable: connect", "other"),
        ("java.net.ConnectException: Network is unreachable (connect failed)", "other"),
        ("java.net.SocketException: Connection reset", "other"),
        (APNS_TEXT, "other"),
        ("", "other"),
    ],
)
def test_classify_reason(text: str, reason: str) -> None:
    """Each JDK wording maps to the contract's fixed reason."""
    assert classify_reason(f"CLFRX0079W: {APNS_TEXT} {text}") == reason


def test_classify_reason_is_case_insensitive() -> None:
    """Capitalisation of the cause does not change the reason."""
    assert classify_reason("CONNECTION REFUSED: CONNECT") == "connection_refused"


def test_classify_reason_only_returns_contract_values() -> None:
    """Every classification is one of the contract's reason label values."""
    texts = ["Connection refused", "timed out", "handshake", "x", "certificate_revoked"]
    assert {classify_reason(t) for t in texts} <= set(REASONS)


def test_classify_reason_ignores_stack_frames_of_other_causes() -> None:
    """A refused connection stays refused although the trace passes through the SSL socket."""
    trace = "\n".join(
        (
            f"{INDENT}java.net.ConnectException: Connection refused",
            "\tat com.ibm.jsse2.SSLSocketImpl.connect(SSLSocketImpl.java:216)",
            f"\tat {APNS_CLASS}.startAPNS(APNSService.java:214)",
        )
    )
    assert classify_reason(f"CLFRX0079W: {APNS_TEXT}\n{trace}") == "connection_refused"


# --- CLFRX0079W records ----------------------------------------------------------------------


def test_short_layout_failure() -> None:
    """The three-space layout gives one failure with the record's time and reason."""
    batch = parse_all(lines(failure("Connection refused: connect")))
    assert batch.events == [
        ApnsFailure(reason="connection_refused", timestamp=UTC_EPOCH, timestamp_parsed=True),
    ]
    assert batch.severities == Counter({"W": 1})
    assert batch.clfrx == Counter({"W": 1})


def test_class_method_layout_failure() -> None:
    """The className methodName layout gives the same failure."""
    line = failure("Connection timed out: connect", source=(APNS_CLASS, "startAPNS"))
    batch = parse_all(lines(line))
    assert of_type(batch, ApnsFailure) == [
        ApnsFailure(reason="timed_out", timestamp=UTC_EPOCH, timestamp_parsed=True)
    ]


def test_reason_found_on_continuation_line() -> None:
    """A cause that only the stack trace names is found on the continuation lines."""
    data = lines(
        failure(""),
        f"{INDENT}java.net.UnknownHostException: gateway.push.apple.com",
        "\tat java.net.InetAddress.getByName(InetAddress.java:1142)",
        f"\tat {APNS_CLASS}.startAPNS(APNSService.java:214)",
        record("TCPC0001I: TCP Channel TCP_2 is listening", logger="TCPChannel"),
    )
    parser = LogParser()
    batch = parser.feed(data, NOW)
    assert of_type(batch, ApnsFailure) == [
        ApnsFailure(reason="unknown_host", timestamp=UTC_EPOCH, timestamp_parsed=True)
    ]
    assert batch.severities == Counter({"W": 1, "I": 1})
    assert not parser.has_pending


def test_continuation_arriving_in_a_later_chunk() -> None:
    """The trace of a failure may come in the next read; the reason waits for it."""
    parser = LogParser()
    first = parser.feed(lines(failure("")), NOW)
    assert of_type(first, ApnsFailure) == []
    assert parser.has_pending
    second = parser.feed(
        lines(
            f"{INDENT}javax.net.ssl.SSLHandshakeException: Received fatal alert: bad_certificate",
            "\tat com.ibm.jsse2.as.startHandshake(as.java:454)",
            record("SRVE0242I: Initialization successful.", logger="servlet"),
        ),
        NOW + 1,
    )
    assert of_type(second, ApnsFailure) == [
        ApnsFailure(reason="certificate_rejected", timestamp=UTC_EPOCH, timestamp_parsed=True)
    ]
    assert not parser.has_pending


def test_header_block_ends_a_pending_failure() -> None:
    """A 'Start Display Current Environment' banner is not a continuation of the failure."""
    data = lines(
        failure(""),
        "************ Start Display Current Environment ************",
        "WebSphere Platform 8.5.5.13 running with process name c\\n\\s and process id 1",
        f"{INDENT}java.net.ConnectException: Connection refused",
        "************* End Display Current Environment *************",
    )
    parser = LogParser()
    batch = parser.feed(data, NOW)
    assert of_type(batch, ApnsFailure) == [
        ApnsFailure(reason="other", timestamp=UTC_EPOCH, timestamp_parsed=True)
    ]
    assert of_type(batch, ProcessHeader) == [ProcessHeader(cell="c", node="n", server="s")]


def test_mention_in_a_continuation_line_is_not_a_failure() -> None:
    """CLFRX0079W inside another record's stack trace counts nothing."""
    data = lines(
        record("SRVE0068E: An exception was thrown by the servlet", sev="E", logger="servlet"),
        f"{INDENT}java.lang.IllegalStateException: last APNS status was CLFRX0079W: refused",
        "\tat com.ibm.example.StatusServlet.doGet(StatusServlet.java:88)",
    )
    batch = parse_all(data)
    assert batch.events == []
    assert batch.severities == Counter({"E": 1})


@pytest.mark.parametrize(
    "line",
    [
        record(f'Monitor self-test: pattern "CLFRX0079W: {APNS_TEXT}" loaded', sev="O"),
        record(f"Admin note: CLFRX0079W: {APNS_TEXT} Connection refused", sev="O"),
        record(f"grep for CLFRX0079W: {APNS_TEXT} Connection refused", sev="R"),
        record("WSVR0605W: Thread may be hung while logging CLFRX0079W", sev="W"),
        record(f"{APNS_CLASS} CLFRX0079W: {APNS_TEXT} Connection refused", sev="W"),
        record(f"{APNS_CLASS} startAPNS CLFRX0079W: {APNS_TEXT} refused", sev="O"),
        record(
            f"{APNS_CLASS} grep for CLFRX0079W: {APNS_TEXT} refused",
            sev="W",
            source=("com.example.Checker", "run"),
        ),
    ],
)
def test_mention_in_another_records_text_is_not_a_failure(line: str) -> None:
    """CLFRX0079W that is not the message id of its record is not a failure."""
    batch = parse_all(lines(line))
    assert of_type(batch, ApnsFailure) == []


def test_other_clfrx_ids_count_by_severity_but_are_not_failures() -> None:
    """Any CLFRX id is counted with its severity letter; only 0079W is a failure."""
    data = lines(
        record("CLFRX0080I: Connected to the APNS feedback service."),
        record("CLFRX0015W: The session of user x timed out.", sev="W", logger="SessionManager"),
        record(
            "CLFRX0042E: Unable to reach the community server; connection refused.",
            sev="E",
            logger="CommunityService",
            source=("com.ibm.collaboration.realtime.stproxy.community.CommunityService", "login"),
        ),
    )
    batch = parse_all(data)
    assert batch.events == []
    assert batch.clfrx == Counter({"I": 1, "W": 1, "E": 1})
    assert batch.severities == Counter({"I": 1, "W": 1, "E": 1})


def test_two_failures_in_a_row_each_count() -> None:
    """Consecutive failure records give one event each, in order, with their own reasons."""
    later = "5/10/20 3:10:00:000 UTC"
    data = lines(failure("Connection refused"), failure("Read timed out", stamp=later))
    batch = parse_all(data)
    assert [(e.reason, e.timestamp) for e in failures(batch)] == [
        ("connection_refused", UTC_EPOCH),
        ("timed_out", datetime(2020, 5, 10, 3, 10, tzinfo=UTC).timestamp()),
    ]


# --- lifecycle, header ---------------------------------------------------------------------


def test_lifecycle_messages() -> None:
    """WSVR0001I, WSVR0023I and WSVR0024I give started, stopping and stopped with their times."""
    data = lines(
        record("WSVR0001I: Server STProxyServer open for e-business", sev="A", thread="00000001"),
        record(
            "WSVR0023I: Server STProxyServer is stopping",
            sev="A",
            stamp="5/10/20 3:09:47:361 UTC",
        ),
        record("WSVR0024I: Server STProxyServer stopped", sev="A", stamp="5/10/20 3:09:56:502 UTC"),
    )
    batch = parse_all(data)

    def at(second: int, ms: int) -> float:
        return datetime(2020, 5, 10, 3, 9, second, ms * 1000, tzinfo=UTC).timestamp()

    assert batch.events == [
        ServerLifecycle(state="started", server="STProxyServer", timestamp=at(1, 349)),
        ServerLifecycle(state="stopping", server="STProxyServer", timestamp=at(47, 361)),
        ServerLifecycle(state="stopped", server="STProxyServer", timestamp=at(56, 502)),
    ]
    assert batch.severities == Counter({"A": 3})


def test_other_wsvr_messages_are_not_lifecycle() -> None:
    """WSVR0605W (hung thread) and WSVR0200I are no lifecycle events."""
    data = lines(
        record("WSVR0605W: Thread may be hung.", sev="W", logger="ThreadMonitor"),
        record("WSVR0200I: Starting application: stproxy", sev="A"),
    )
    assert parse_all(data).events == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
            "stproxyCell\\stproxyNode\\STProxyServer and process id 4711",
            ProcessHeader(cell="stproxyCell", node="stproxyNode", server="STProxyServer"),
        ),
        (
            "WebSphere Platform 9.0.5.14 [ND 9.0.5.14 cf141907.02] running with process name "
            "was9Cell/was9Node/STProxyServer2 and process id 12",
            ProcessHeader(cell="was9Cell", node="was9Node", server="STProxyServer2"),
        ),
    ],
)
def test_process_header(line: str, expected: ProcessHeader) -> None:
    """The header's process line names cell, node and server (either slash)."""
    data = lines(
        "************ Start Display Current Environment ************",
        line,
        "Host Operating System is Linux, version 3.10.0",
        "************* End Display Current Environment *************",
    )
    batch = parse_all(data)
    assert batch.events == [expected]
    assert batch.severities == Counter()


def test_header_segments_split_severities_at_each_header() -> None:
    """Records after each header are counted apart, so the state can label them by that server."""
    data = lines(
        record("TRAS0017I: before any header"),
        "************ Start Display Current Environment ************",
        "WebSphere Platform 8.5.5.13 running with process name c\\n\\A and process id 1",
        "************* End Display Current Environment *************",
        record("WSVR0001I: Server A open for e-business", sev="A"),
        failure("Connection refused"),
        "************ Start Display Current Environment ************",
        "WebSphere Platform 8.5.5.13 running with process name c\\n\\B and process id 2",
        "************* End Display Current Environment *************",
        record("INFO  [x]- hello", sev="O"),
    )
    batch = parse_all(data)
    assert batch.severities == Counter({"I": 1, "A": 1, "W": 1, "O": 1})
    first = LogParser().feed(data, NOW)
    assert first.header_segments == [Counter({"A": 1, "W": 1}), Counter({"O": 1})]


def test_state_labels_records_by_the_header_before_them() -> None:
    """Through the state, records before a header keep the old label and those after get the new."""
    data = lines(
        record("TRAS0017I: before any header"),
        "WebSphere Platform 8.5.5.13 running with process name c\\n\\STProxyServer2 and "
        "process id 1",
        failure("Connection refused"),
    )
    state = State()
    parser = LogParser()
    state.apply("logs/STProxyServer/SystemOut.log", parser.feed(data, NOW), now=NOW)
    state.apply("logs/STProxyServer/SystemOut.log", parser.finish(NOW), now=NOW)
    servers = state.snapshot().servers
    assert servers["STProxyServer"].severities == Counter({"I": 1})
    assert servers["STProxyServer2"].severities == Counter({"W": 1})
    assert servers["STProxyServer2"].failures == Counter({"connection_refused": 1})


def test_state_gets_no_series_for_the_directory_label_of_a_file_opening_with_a_header() -> None:
    """A file that starts with its header counts nothing for the directory name."""
    data = lines(
        "************ Start Display Current Environment ************",
        "WebSphere Platform 8.5.5.13 running with process name c\\n\\STProxyServer2 and "
        "process id 1",
        record("TRAS0017I: after the header"),
    )
    state = State()
    state.apply("logs/STProxyServer/SystemOut.log", LogParser().feed(data, NOW), now=NOW)
    assert set(state.snapshot().servers) == {"STProxyServer2"}


# --- certificate status --------------------------------------------------------------------

IBM_BLOCK = (
    "IssuerDN: CN=Apple Worldwide Developer Relations Certification Authority, "
    "OU=Apple Worldwide Developer Relations, O=Apple Inc., C=US",
    "SubjectDN: C=US, O=IBM, OU=RBVH72H5WP, CN=Apple Push Services: com.ibm.lotus.sametime, "
    "UID=com.ibm.lotus.sametime",
    "From (yyyy-mm-dd): 2018-03-06",
    "To (yyyy-mm-dd): 2019-04-05",
    "MD5: 57:37:F5:7A:03:EC:D7:A7:2F:C1:95:0F:78:1B:53:24:35:F9:60:F4",
)
IBM_STATUS = CertificateStatus(
    not_after=datetime(2019, 4, 5, tzinfo=UTC).timestamp(),
    not_before=datetime(2018, 3, 6, tzinfo=UTC).timestamp(),
    subject=IBM_BLOCK[1].removeprefix("SubjectDN: "),
    issuer=IBM_BLOCK[0].removeprefix("IssuerDN: "),
    md5="5737f57a03ecd7a72fc1950f781b532435f960f4",
)


def last_certificate(batch: Batch) -> CertificateStatus:
    """The last certificate status of a batch (the one the state keeps)."""
    found = of_type(batch, CertificateStatus)
    assert found
    status = found[-1]
    assert isinstance(status, CertificateStatus)
    return status


def test_ibm_block_as_plain_lines() -> None:
    """The IBM tool's block as plain lines (CurrentStatus.log) gives the full status."""
    data = lines("Sametime Proxy Server status", *IBM_BLOCK, "APNS gateway connection test: OK")
    assert last_certificate(parse_all(data)) == IBM_STATUS


def test_ibm_block_through_system_out_records() -> None:
    """The same block printed through System.out (O records) gives the same status."""
    data = lines(
        record("APNS certificate check", sev="O", logger="SystemOut", thread="00000051"),
        *(record(text, sev="O", logger="SystemOut", thread="00000051") for text in IBM_BLOCK),
    )
    batch = parse_all(data)
    assert last_certificate(batch) == IBM_STATUS
    assert batch.severities == Counter({"O": 6})


def test_ibm_block_without_md5_still_gives_dates() -> None:
    """A block cut after the To line still reports its validity."""
    batch = parse_all(lines(*IBM_BLOCK[:4]))
    status = last_certificate(batch)
    assert (status.not_after, status.not_before, status.md5) == (
        IBM_STATUS.not_after,
        IBM_STATUS.not_before,
        "",
    )


def test_second_ibm_block_replaces_the_first() -> None:
    """A later block (a renewed certificate) is the last status seen."""
    renewed = [
        line.replace("2019-04-05", "2020-05-07").replace("2018-03-06", "2019-04-08")
        for line in IBM_BLOCK
    ]
    status = last_certificate(parse_all(lines(*IBM_BLOCK, *renewed)))
    assert status.not_after == datetime(2020, 5, 7, tzinfo=UTC).timestamp()
    assert status.not_before == datetime(2019, 4, 8, tzinfo=UTC).timestamp()


def test_ibm_block_with_unreadable_to_date_gives_nothing() -> None:
    """A To date that is not yyyy-mm-dd gives no certificate status rather than a wrong one."""
    data = lines(IBM_BLOCK[0], IBM_BLOCK[1], IBM_BLOCK[2], "To (yyyy-mm-dd): soon", IBM_BLOCK[4])
    assert of_type(parse_all(data), CertificateStatus) == []


def test_user_certificate_pattern() -> None:
    """A configured pattern with named groups and its own date format gives a status."""
    pattern = CertificatePattern(
        regex=re.compile(
            r"APNS cert (?P<subject>\S+) valid (?P<not_before>\S+) until (?P<not_after>\S+)"
        ),
        date_format="%d.%m.%Y",
    )
    data = lines(
        "Status generated",
        "APNS cert com.ibm.lotus.sametime valid 08.04.2019 until 07.05.2020",
    )
    batch = parse_all(data, ParseOptions(certificate_patterns=(pattern,)))
    assert batch.events == [
        CertificateStatus(
            not_after=datetime(2020, 5, 7, tzinfo=UTC).timestamp(),
            not_before=datetime(2019, 4, 8, tzinfo=UTC).timestamp(),
            subject="com.ibm.lotus.sametime",
        )
    ]


def test_user_certificate_pattern_in_a_record() -> None:
    """A configured pattern also matches the message of a System.out record."""
    pattern = CertificatePattern(regex=re.compile(r"expires on (?P<not_after>\d{4}-\d\d-\d\d)"))
    data = lines(record("APNS certificate expires on 2021-03-31", sev="O", logger="SystemOut"))
    batch = parse_all(data, ParseOptions(certificate_patterns=(pattern,)))
    assert batch.events == [
        CertificateStatus(not_after=datetime(2021, 3, 31, tzinfo=UTC).timestamp())
    ]


def test_user_certificate_pattern_with_unreadable_date_is_ignored() -> None:
    """A match whose not_after does not fit the date format gives no event."""
    pattern = CertificatePattern(regex=re.compile(r"expires on (?P<not_after>\S+)"))
    batch = parse_all(lines("expires on tomorrow"), ParseOptions(certificate_patterns=(pattern,)))
    assert batch.events == []


# --- severities, timestamps ----------------------------------------------------------------


def test_severity_counts_and_lines() -> None:
    """Records are counted by event type letter; continuation lines are lines, not records."""
    data = lines(
        record("TRAS0017I: The startup trace state is *=info.", thread="00000001"),
        record("CWPKI0041W: One or more key stores use the default password.", sev="W"),
        record("INFO  [com.ibm.kc.content.Repository]- Found 3 files", sev="O"),
        record("java.io.IOException: Broken pipe", sev="R", logger="SystemErr"),
        record("SRVE0068E: An exception was thrown", sev="E"),
        f"{INDENT}java.io.IOException: Stream closed",
        "\tat javax.servlet.http.HttpServlet.service(HttpServlet.java:595)",
        record("WSVR0001I: Server s open for e-business", sev="A"),
        record("fatal", sev="F"),
        record("config", sev="C"),
        record("detail", sev="D"),
        record("trace", sev="Z"),
        "garbage without a header",
    )
    batch = parse_all(data)
    assert batch.severities == Counter(
        {"I": 1, "W": 1, "O": 1, "R": 1, "E": 1, "A": 1, "F": 1, "C": 1, "D": 1, "Z": 1}
    )
    assert (batch.records, batch.lines) == (10, 13)


def test_crlf_lines() -> None:
    """Windows line ends give the same records, events and texts as LF."""
    data = lines(
        failure("Connection refused: connect"),
        record("WSVR0001I: Server s open for e-business", sev="A"),
        newline="\r\n",
    )
    batch = parse_all(data)
    assert batch.events == [
        ApnsFailure(reason="connection_refused", timestamp=UTC_EPOCH, timestamp_parsed=True),
        ServerLifecycle(state="started", server="s", timestamp=UTC_EPOCH),
    ]
    assert batch.severities == Counter({"W": 1, "A": 1})
    assert batch.clfrx == Counter({"W": 1})


def test_unreadable_timestamp_keeps_the_failure() -> None:
    """A failure whose time cannot be read still counts, at the time it was read."""
    data = lines(failure("Connection refused", stamp="99/99/99 99:99:99:999 XYZ"))
    batch = parse_all(data, now=NOW)
    assert of_type(batch, ApnsFailure) == [
        ApnsFailure(reason="connection_refused", timestamp=NOW, timestamp_parsed=False)
    ]
    assert batch.unparsed_timestamps == 1
    assert batch.severities == Counter({"W": 1})


def test_unreadable_timestamp_of_lifecycle_uses_now() -> None:
    """A server start with an unreadable time is still a start, at the read time."""
    data = lines(record("WSVR0001I: Server s open for e-business", sev="A", stamp="garbage"))
    batch = parse_all(data, now=NOW)
    assert batch.events == [
        ServerLifecycle(state="started", server="s", timestamp=NOW, timestamp_parsed=False)
    ]
    assert batch.unparsed_timestamps == 1


def test_configured_zone_and_order_apply_to_records() -> None:
    """ParseOptions' zone and date order are used for record times."""
    options = ParseOptions(timezone=ZoneInfo("Asia/Shanghai"), date_order="DMY")
    batch = parse_all(
        lines(failure("Connection refused", stamp="03/04/19 10:00:00:000 CST")), options
    )
    expected = datetime(2019, 4, 3, 10, tzinfo=timezone(timedelta(hours=8))).timestamp()
    assert [e.timestamp for e in failures(batch)] == [expected]


def test_date_order_is_learnt_from_an_unambiguous_record() -> None:
    """After 18/05/17 proved the file is day-first, 10/11/17 is read as 10 November."""
    data = lines(
        record(
            "WSVR0001I: Server s open for e-business", sev="A", stamp="18/05/17 09:00:00:000 UTC"
        ),
        failure("Connection refused", stamp="10/11/17 09:00:00:000 UTC"),
    )
    batch = parse_all(data)
    assert [e.timestamp for e in failures(batch)] == [
        datetime(2017, 11, 10, 9, tzinfo=UTC).timestamp()
    ]


def test_ambiguous_date_without_history_is_month_first() -> None:
    """With nothing learnt yet, 10/11/17 is read the en_US way (11 October)."""
    batch = parse_all(lines(failure("Connection refused", stamp="10/11/17 09:00:00:000 UTC")))
    assert [e.timestamp for e in failures(batch)] == [
        datetime(2017, 10, 11, 9, tzinfo=UTC).timestamp()
    ]


# --- robustness ----------------------------------------------------------------------------


def test_long_line_in_one_chunk_is_parsed_and_the_next_record_kept() -> None:
    """A line beyond the cap does not hide the record after it."""
    options = ParseOptions(max_line_bytes=256)
    data = lines(record("x" * 5000, sev="O"), failure("Connection refused"))
    batch = parse_all(data, options)
    assert batch.severities == Counter({"O": 1, "W": 1})
    assert reasons(batch) == ["connection_refused"]


def test_long_partial_line_is_capped_and_counted() -> None:
    """An unfinished line that outgrows the cap is held only up to the cap and counted once."""
    parser = LogParser(ParseOptions(max_line_bytes=256))
    head = record("y" * 100, sev="O").encode()
    batches = [parser.feed(head + b"z" * 1000, NOW)]
    assert parser.partial_bytes <= 257
    batches.append(parser.feed(b"z" * 100_000, NOW))
    assert parser.partial_bytes <= 257
    batches.append(parser.feed(b"z\n" + lines(failure("Connection refused")), NOW))
    batches.append(parser.finish(NOW))
    total = merge(batches)
    assert total.long_lines == 1
    assert total.severities == Counter({"O": 1, "W": 1})
    assert reasons(total) == ["connection_refused"]


def test_capped_line_keeps_its_place_in_order() -> None:
    """A capped failure line is still parsed before the records that follow it."""
    parser = LogParser(ParseOptions(max_line_bytes=256))
    first = failure("Connection refused " + "x" * 400).encode()
    batches = [parser.feed(first, NOW)]
    batches.append(parser.feed(b"\n" + lines(failure("Read timed out")), NOW))
    batches.append(parser.finish(NOW))
    total = merge(batches)
    assert reasons(total) == ["connection_refused", "timed_out"]
    assert total.lines == 2


def test_partial_line_that_overflows_when_completed_keeps_the_next_record() -> None:
    """A held partial line completed past the cap does not swallow the next record."""
    parser = LogParser(ParseOptions(max_line_bytes=256))
    head = record("y" * 150, sev="O").encode()
    batches = [parser.feed(head, NOW)]
    batches.append(parser.feed(b"y" * 200 + b"\n" + lines(failure("Connection refused")), NOW))
    batches.append(parser.finish(NOW))
    total = merge(batches)
    assert total.severities == Counter({"O": 1, "W": 1})
    assert reasons(total) == ["connection_refused"]
    assert total.long_lines == 1


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xfe\x00\x01" * 100 + b"\n",
        b"[\xff\xff] 0000004e APNSService   W   CLFRX0079W: \xe9\xe8\n",
        lines(failure("Connection refused")).replace(b"APNS", b"\xc3\x28PNS"),
        b"\x00" * 1000,
        b"\r\r\r\n\n\r",
        b"[" * 500 + b"\n" + b"]" * 500,
    ],
)
def test_invalid_bytes_never_raise(data: bytes) -> None:
    """Bytes that are not valid text are read without an exception."""
    batch = parse_all(data)
    assert batch.lines == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def test_cp1252_encoding_is_decoded() -> None:
    """A cp1252 log keeps its accented server name in the header."""
    data = (
        "WebSphere Platform 8.5.5.13 running with process name "
        "Cellé\\Nodé\\Serveur and process id 1\r\n"
    ).encode("cp1252")
    batch = parse_all(data, ParseOptions(encoding="cp1252"))
    assert batch.events == [ProcessHeader(cell="Cellé", node="Nodé", server="Serveur")]


def test_invalid_utf8_in_a_failure_record() -> None:
    """A latin-1 byte in a UTF-8 failure record does not lose the failure."""
    data = lines(failure("Connection refused")).replace(b"service", b"servic\xe9")
    batch = parse_all(data)
    assert reasons(batch) == ["connection_refused"]


def test_half_line_before_another_files_first_record_is_released() -> None:
    """At the start of another file, a record start ends the half line the old file left."""
    parser = LogParser()
    batches = [parser.feed(record("INFO  [x]- cut sho", sev="O").encode(), NOW)]
    parser.start_of_file()
    batches.append(parser.feed(lines(failure("Connection refused")), NOW))
    batches.append(parser.finish(NOW))
    total = merge(batches)
    assert total.severities == Counter({"O": 1, "W": 1})
    assert reasons(total) == ["connection_refused"]


def test_half_line_continued_by_another_file_is_joined() -> None:
    """At the start of another file, text that is no record start completes the half line."""
    parser = LogParser()
    line = failure("Connection refused")
    batches = [parser.feed(line[:40].encode(), NOW)]
    parser.start_of_file()
    batches.append(parser.feed(lines(line[40:]), NOW))
    batches.append(parser.finish(NOW))
    assert reasons(merge(batches)) == ["connection_refused"]


def test_record_like_text_inside_one_file_does_not_end_the_half_line() -> None:
    """Within one file, a read starting with record-like text continues the held line."""
    parser = LogParser()
    quoted = failure("Connection refused")
    batches = [parser.feed(record("Replaying: ", sev="O").encode(), NOW)]
    batches.append(parser.feed(lines(quoted), NOW))
    batches.append(parser.finish(NOW))
    total = merge(batches)
    assert total.severities == Counter({"O": 1})
    assert total.events == []


# --- idle and finish -----------------------------------------------------------------------


def test_idle_emits_a_classified_pending_failure_at_once() -> None:
    """A pending failure whose reason is already known is emitted by idle() without waiting."""
    parser = LogParser()
    assert of_type(parser.feed(lines(failure("Connection refused")), NOW), ApnsFailure) == []
    batch = parser.idle(NOW, settle_seconds=60)
    assert of_type(batch, ApnsFailure) == [
        ApnsFailure(reason="connection_refused", timestamp=UTC_EPOCH, timestamp_parsed=True)
    ]
    assert not parser.has_pending


def test_idle_waits_settle_seconds_for_an_unclassified_failure() -> None:
    """A pending failure still classified 'other' waits settle_seconds for its stack trace."""
    parser = LogParser()
    parser.feed(lines(failure("")), NOW)
    assert parser.idle(NOW + 0.5, settle_seconds=1.0).events == []
    assert parser.idle(NOW + 0.999, settle_seconds=1.0).events == []
    assert parser.has_pending
    batch = parser.idle(NOW + 1.0, settle_seconds=1.0)
    assert of_type(batch, ApnsFailure) == [
        ApnsFailure(reason="other", timestamp=UTC_EPOCH, timestamp_parsed=True)
    ]
    assert not parser.has_pending


def test_idle_lets_the_trace_arrive_within_settle_seconds() -> None:
    """If the trace arrives before settle_seconds, the failure gets its real reason."""
    parser = LogParser()
    parser.feed(lines(failure("")), NOW)
    assert parser.idle(NOW + 0.5, settle_seconds=1.0).events == []
    parser.feed(lines(f"{INDENT}java.net.SocketTimeoutException: Read timed out"), NOW + 0.6)
    batch = parser.idle(NOW + 0.7, settle_seconds=1.0)
    assert reasons(batch) == ["timed_out"]


def test_idle_with_nothing_pending_is_empty() -> None:
    """idle() on a parser with nothing pending gives an empty batch."""
    parser = LogParser()
    parser.feed(lines(record("TRAS0017I: trace state")), NOW)
    assert parser.idle(NOW + 100).events == []


def test_finish_parses_a_last_line_without_newline() -> None:
    """At the end of a scan the last line counts even without its line end."""
    parser = LogParser()
    assert parser.feed(failure("Connection refused").encode(), NOW).events == []
    assert parser.partial_bytes > 0
    batch = parser.finish(NOW)
    assert reasons(batch) == ["connection_refused"]
    assert batch.severities == Counter({"W": 1})
    assert parser.partial_bytes == 0


# --- property-based ------------------------------------------------------------------------


def realistic_log(newline: str = "\n") -> bytes:
    """A log holding every kind of record, trace, header and trap this parser knows."""
    stamps = [f"4/16/18 10:{m:02d}:45:{m * 7:03d} EDT" for m in range(60)]
    items = [
        "************ Start Display Current Environment ************",
        "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
        "stproxyCell\\stproxyNode\\STProxyServer and process id 4711",
        "Host Operating System is Linux, version 3.10.0-862.el7.x86_64",
        "************* End Display Current Environment *************",
        record("TRAS0017I: The startup trace state is *=info.", stamp=stamps[0]),
        record("CLFRX0001I: The push notification service is starting.", stamp=stamps[1]),
        record("WSVR0001I: Server STProxyServer open for e-business", sev="A", stamp=stamps[2]),
        failure("Connection refused: connect", stamp=stamps[3]),
        failure("", stamp=stamps[4], source=(APNS_CLASS, "startAPNS")),
        f"{INDENT}java.net.SocketTimeoutException: Read timed out",
        "\tat java.net.SocketInputStream.socketRead0(Native Method)",
        f"\tat {APNS_CLASS}.startAPNS(APNSService.java:214)",
        record("INFO  [SessionManager]- Session created for user jürgen", sev="O", stamp=stamps[5]),
        failure("", stamp=stamps[6]),
        record("APNS certificate check", sev="O", stamp=stamps[7], logger="SystemOut"),
        *(record(t, sev="O", stamp=stamps[8], logger="SystemOut") for t in IBM_BLOCK),
        failure("Received fatal alert: certificate_expired", stamp=stamps[9]),
        record("SRVE0068E: An exception was thrown", sev="E", stamp=stamps[10]),
        f"{INDENT}java.lang.IllegalStateException: last APNS status was CLFRX0079W",
        "\tat com.example.StatusServlet.doGet(StatusServlet.java:88)",
        record('Monitor self-test: pattern "CLFRX0079W: x" loaded', sev="O", stamp=stamps[11]),
        record(
            f"Replaying: [{stamps[11]}] 0000004e APNSService   W   CLFRX0079W: quoted refused",
            sev="O",
            stamp=stamps[11],
        ),
        failure("Connection refused", stamp="99/99/99 99:99:99:999 XYZ"),
        record("CLFRX0042E: community unreachable", sev="E", stamp=stamps[12]),
        failure("", stamp=stamps[13]),
        *IBM_BLOCK,
        'JVMDUMP039I Processing dump event "user", detail "" - please wait.',
        record("WSVR0023I: Server STProxyServer is stopping", sev="A", stamp=stamps[14]),
        record("WSVR0024I: Server STProxyServer stopped", sev="A", stamp=stamps[15]),
        "************ Start Display Current Environment ************",
        "WebSphere Platform 8.5.5.13 running with process name c2\\n2\\STProxyServer2 and "
        "process id 4712",
        "************* End Display Current Environment *************",
        record("WSVR0001I: Server STProxyServer2 open for e-business", sev="A", stamp=stamps[16]),
        failure("java.net.UnknownHostException: gateway.push.apple.com", stamp=stamps[17]),
        failure("", stamp=stamps[18]),
        "************ Start Display Current Environment ************",
        f"Log file started at: [{stamps[19]}]",
        "************* End Display Current Environment *************",
        f"{INDENT}javax.net.ssl.SSLHandshakeException: Remote host closed connection during "
        "handshake",
    ]
    return (newline.join(items) + newline).encode("utf-8") + b"caf\xe9 trailing bytes\n"


REALISTIC = realistic_log()
REALISTIC_CRLF = realistic_log("\r\n")


def whole(data: bytes, options: ParseOptions | None = None) -> Batch:
    """The reference: everything fed at once, then finished."""
    return parse_all(data, options)


def split_feed(data: bytes, offsets: list[int], options: ParseOptions | None = None) -> Batch:
    """The same data fed in pieces cut at the given offsets, then finished."""
    parser = LogParser(options)
    cuts = sorted({0, len(data), *(o % (len(data) + 1) for o in offsets)})
    batches = [parser.feed(data[a:b], NOW) for a, b in itertools.pairwise(cuts)]
    batches.append(parser.finish(NOW))
    return merge(batches)


def per_server(
    data: bytes, offsets: list[int], options: ParseOptions | None
) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """Severities and failures per server label after the state applied every batch."""
    parser = LogParser(options)
    state = State()
    path = "logs/STProxyServer/SystemOut.log"
    cuts = sorted({0, len(data), *(o % (len(data) + 1) for o in offsets)})
    for a, b in itertools.pairwise(cuts):
        state.apply(path, parser.feed(data[a:b], NOW), now=NOW)
    state.apply(path, parser.finish(NOW), now=NOW)
    return {
        name: (totals.severities, totals.failures)
        for name, totals in state.snapshot().servers.items()
        if totals.severities or totals.failures
    }


def test_realistic_log_reference_values() -> None:
    """The realistic log itself parses to the values written into it."""
    batch = whole(REALISTIC)
    assert Counter(reasons(batch)) == Counter(
        {
            "connection_refused": 2,
            "timed_out": 1,
            "other": 2,
            "certificate_rejected": 1,
            "unknown_host": 1,
            "handshake_failed": 1,
        }
    )
    assert batch.severities == Counter({"I": 2, "A": 4, "W": 8, "O": 9, "E": 2})
    assert batch.unparsed_timestamps == 1
    assert of_type(batch, ProcessHeader) == [
        ProcessHeader(cell="stproxyCell", node="stproxyNode", server="STProxyServer"),
        ProcessHeader(cell="c2", node="n2", server="STProxyServer2"),
    ]
    assert [s.not_after for s in of_type(batch, CertificateStatus)] == [  # type: ignore[attr-defined]
        IBM_STATUS.not_after
    ] * 4


def test_split_just_before_a_record_quoted_mid_line() -> None:
    """A read that ends inside a line quoting another record does not make that quote a record."""
    cut = REALISTIC.index(b"Replaying: [") + len(b"Replaying: ")
    expected = whole(REALISTIC)
    got = split_feed(REALISTIC, [cut])
    assert got.severities == expected.severities
    assert got.events == expected.events


OPTIONS_WITH_PATTERN = ParseOptions(
    certificate_patterns=(
        CertificatePattern(regex=re.compile(r"To \(yyyy-mm-dd\): (?P<not_after>\S+)")),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=len(REALISTIC_CRLF)), max_size=40),
    crlf=st.booleans(),
    with_pattern=st.booleans(),
)
def test_split_feeding_equals_whole_feeding(
    offsets: list[int], crlf: bool, with_pattern: bool
) -> None:
    """A log cut at arbitrary points gives the same severities and events as fed whole."""
    data = REALISTIC_CRLF if crlf else REALISTIC
    options = OPTIONS_WITH_PATTERN if with_pattern else None
    expected = whole(data, options)
    got = split_feed(data, offsets, options)
    assert got.severities == expected.severities
    assert got.clfrx == expected.clfrx
    assert got.events == expected.events
    assert per_server(data, [len(data)], options) == per_server(data, offsets, options)
    assert (got.lines, got.records, got.unparsed_timestamps) == (
        expected.lines,
        expected.records,
        expected.unparsed_timestamps,
    )


def test_a_log_opening_with_a_header_cut_in_its_line_names_no_other_server() -> None:
    """A first read that ends inside the header's process line creates no series for the
    label the log had before (fed whole, only the header's server appears)."""
    data = (
        b"WebSphere Platform 9 running with process name c\\n\\srv2 and process id 2\n"
        + record("WSVR0001I: Server srv2 open for e-business", sev="A").encode()
        + b"\n"
    )

    def servers(cuts: list[int]) -> list[str]:
        parser, state = LogParser(), State()
        for a, b in itertools.pairwise([0, *cuts, len(data)]):
            state.apply("logs/STProxyServer/SystemOut.log", parser.feed(data[a:b], NOW), now=NOW)
        return sorted(state.snapshot().servers)

    assert servers([]) == ["srv2"]
    assert servers([3]) == ["srv2"]


def test_every_line_mode_counts_clfrx_ids_once() -> None:
    """With a certificate pattern every line goes through Python: the CLFRX ids lineindex
    decides on its own must then not be counted a second time (nor missed)."""
    plain = whole(REALISTIC)
    every = whole(REALISTIC, OPTIONS_WITH_PATTERN)
    assert plain.clfrx and sum(plain.clfrx.values()) >= 2
    assert every.clfrx == plain.clfrx
    assert every.severities == plain.severities


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=2000),
    offsets=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
    encoding=st.sampled_from(["utf-8", "cp1252", "utf-16", "ascii"]),
)
def test_random_bytes_never_raise(data: bytes, offsets: list[int], encoding: str) -> None:
    """Arbitrary bytes in arbitrary pieces are parsed without an exception."""
    options = ParseOptions(encoding=encoding, max_line_bytes=256)
    batch = split_feed(data, offsets, options)
    assert batch.lines == data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


_RECORD_LINES = REALISTIC.split(b"\n")


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(_RECORD_LINES) - 1),
    position=st.integers(min_value=0, max_value=400),
    insert=st.binary(min_size=1, max_size=20),
    delete=st.integers(min_value=0, max_value=20),
    offsets=st.lists(st.integers(min_value=0, max_value=len(REALISTIC)), max_size=5),
)
def test_mutated_real_records_never_raise(
    index: int, position: int, insert: bytes, delete: int, offsets: list[int]
) -> None:
    """Real records with bytes inserted or removed anywhere are parsed without an exception."""
    lines_ = list(_RECORD_LINES)
    line = lines_[index]
    cut = min(position, len(line))
    lines_[index] = line[:cut] + insert + line[cut + delete :]
    data = b"\n".join(lines_)
    batch = split_feed(data, offsets, ParseOptions(max_line_bytes=256))
    assert set(reasons(batch)) <= set(REASONS)
    assert sum(batch.severities.values()) == batch.records


def test_ibm_jdk_refusal_wording_is_connection_refused() -> None:
    """The IBM JDK's (AIX) wording of a refused connection is classified as connection_refused."""
    text = (
        "CLFRX0079W: Unable to establish an SSL connection to the APNS service "
        "java.net.ConnectException: A remote host refused an attempted connect operation."
    )
    assert classify_reason(text) == "connection_refused"
