"""Tests of stproxy_monitor.logs.header through the parser: process lines of header blocks.

A process line is any line of a "Display Current Environment" block that says "running with
process name cell\\node\\server", whatever precedes the phrase; outside a block only a line that
starts with "WebSphere " is one; a record line never is. Every test feeds the bytes whole and
cut at every offset: a block may span reads.
"""

from __future__ import annotations

import itertools
from collections import Counter

from support import APNS_TEXT, END_BANNER, INDENT, START_BANNER

from stproxy_monitor.logs.events import ApnsFailure, Event, ProcessHeader
from stproxy_monitor.logs.header import MAX_BLOCK_LINES, process_header
from stproxy_monitor.logs.parser import Batch, LogParser
from stproxy_monitor.logs.state import State

NOW = 1_700_000_000.0
STAMP = "5/10/20 3:09:01:349 UTC"
XPADS = (
    "WebSphere [IBMJAVA7 7.0.4.1 gm1318.03]Platform 8.5.5.9 [ND 8.5.5.9 cf091608.05]"
    "[IBMJAVA8 8.0.2.10 cf091608.04] running with process name E193081Cell01\\E193081Node01"
    "\\xpads-biz1 and process id 29661"
)
WAS61 = (
    "WebSphere Platform 6.1 [ND 6.1.0.31 cf311015.02]  running with process name "
    "qmpay1Cell01\\qmpay1Node01\\qmpay1Tsms and process id 31019"
)
OTHER_LEAD = "IBM Application Server 9.0 running with process name c1\\n1\\s1 and process id 7"
LOG_FILE_STARTED = "Log file started at: [3/3/23 14:28:49:282 CET]"


def record(text: str, *, sev: str = "I", logger: str = "WsServerImpl") -> str:
    """One basic-format record line in the layout without class and method."""
    body = text if sev in ("O", "R") else f"  {text}"
    return f"[{STAMP}] 0000004e {logger:<13} {sev} {body}"


def failure(cause: str = "") -> str:
    """A CLFRX0079W record line."""
    return record(f"CLFRX0079W: {APNS_TEXT} {cause}".rstrip(), sev="W", logger="APNSService")


def data_of(*items: str) -> bytes:
    """Lines joined into log bytes."""
    return "".join(f"{item}\n" for item in items).encode()


def feed(data: bytes, cuts: tuple[int, ...] = ()) -> list[Batch]:
    """The batches of one parser fed data cut at `cuts`, then finished."""
    parser = LogParser()
    batches = [parser.feed(data[a:b], NOW) for a, b in itertools.pairwise((0, *cuts, len(data)))]
    return [*batches, parser.finish(NOW)]


def events(data: bytes, cuts: tuple[int, ...] = ()) -> list[Event]:
    """The events, in order."""
    return [event for batch in feed(data, cuts) for event in batch.events]


def same_at_every_cut(data: bytes) -> list[Event]:
    """The events of data fed whole; asserted equal to those of data cut at any one offset."""
    whole = events(data)
    for cut in range(1, len(data)):
        assert events(data, (cut,)) == whole, cut
    return whole


def header(cell: str, node: str, server: str) -> ProcessHeader:
    return ProcessHeader(cell=cell, node=node, server=server)


def test_process_line_split_by_the_java_level() -> None:
    """WAS 8.5.5.9's 'WebSphere [IBMJAVA7 ...]Platform' line names its process."""
    data = data_of(START_BANNER, XPADS, "Host Operating System is Linux", END_BANNER)
    assert same_at_every_cut(data) == [header("E193081Cell01", "E193081Node01", "xpads-biz1")]


def test_was61_process_line_with_two_blanks() -> None:
    """WAS 6.1 writes two blanks before 'running'."""
    data = data_of(START_BANNER, WAS61, END_BANNER, record("TRAS0017I: hello"))
    assert same_at_every_cut(data) == [header("qmpay1Cell01", "qmpay1Node01", "qmpay1Tsms")]


def test_any_lead_inside_a_block() -> None:
    """Inside a block the phrase names the process whatever precedes it, on any of its lines."""
    data = data_of(START_BANNER, "Host Operating System is Linux", OTHER_LEAD, END_BANNER)
    assert same_at_every_cut(data) == [header("c1", "n1", "s1")]


def test_other_lead_outside_a_block_is_no_header() -> None:
    """Outside a block, after its End banner or with no banner, such a line is just text."""
    assert events(data_of(OTHER_LEAD)) == []
    assert events(data_of(START_BANNER, END_BANNER, OTHER_LEAD)) == []


def test_websphere_line_without_banner_is_a_header() -> None:
    """A read that resumes between the banner and the process line still gets the header."""
    assert events(data_of(XPADS, END_BANNER)) == [
        header("E193081Cell01", "E193081Node01", "xpads-biz1")
    ]


def test_a_record_quoting_a_process_line_is_no_header() -> None:
    """A System.out record that prints a process line is a record, not a server start."""
    data = data_of(record(XPADS, sev="O", logger="SystemOut"), record(WAS61, sev="I"))
    assert events(data) == []


def test_a_block_ends_at_a_record_or_after_its_line_budget() -> None:
    """A block without End banner ends at the next record, or after MAX_BLOCK_LINES lines."""
    assert events(data_of(START_BANNER, record("TRAS0017I: x"), OTHER_LEAD)) == []
    filler = ["Classpath = /opt/IBM/WebSphere/AppServer/lib"] * MAX_BLOCK_LINES
    assert events(data_of(START_BANNER, *filler, OTHER_LEAD)) == []
    assert events(data_of(START_BANNER, *filler[1:], OTHER_LEAD)) == [header("c1", "n1", "s1")]


def test_log_file_started_block_is_no_header_and_continues_the_record() -> None:
    """A rotated file's three-line block names nothing; a failure cut by the rotation goes on
    through it and takes its cause from the trace after it."""
    data = data_of(
        failure(),
        START_BANNER,
        LOG_FILE_STARTED,
        END_BANNER,
        f"{INDENT}java.net.ConnectException: Connection refused",
    )
    failures = [e for e in same_at_every_cut(data) if isinstance(e, ApnsFailure)]
    assert [f.reason for f in failures] == ["connection_refused"]


def test_a_block_process_line_ends_the_failure_before_it() -> None:
    """A process line that is not a lineindex candidate still ends a pending failure: the
    failure comes first, its cause is not read from the block, and it counts for the server
    that was running."""
    data = data_of(
        record("WSVR0001I: Server s0 open for e-business", sev="A"),
        failure(),
        START_BANNER,
        OTHER_LEAD,
        "Java version = 1.8.0, Java Compiler = j9jit29, Connection refused",
        END_BANNER,
        record("TRAS0017I: after the start"),
    )
    found = same_at_every_cut(data)
    assert [type(e).__name__ for e in found] == ["ServerLifecycle", "ApnsFailure", "ProcessHeader"]
    assert found[1] == ApnsFailure(reason="other", timestamp=found[1].timestamp)
    state = State()
    for batch in feed(data, (len(data) // 2,)):
        state.apply("logs/s0/SystemOut.log", batch, now=NOW)
    servers = state.snapshot().servers
    assert servers["s0"].failures == Counter({"other": 1})
    assert servers["s1"].severities == Counter({"I": 1})


def test_two_starts_in_one_file() -> None:
    """Each start's block renames what follows it (a file with two server starts)."""
    data = data_of(
        START_BANNER,
        WAS61,
        END_BANNER,
        record("TRAS0017I: first"),
        START_BANNER,
        XPADS,
        END_BANNER,
        record("TRAS0017I: second"),
        record("TRAS0017I: second again"),
    )
    assert same_at_every_cut(data) == [
        header("qmpay1Cell01", "qmpay1Node01", "qmpay1Tsms"),
        header("E193081Cell01", "E193081Node01", "xpads-biz1"),
    ]
    state = State()
    for batch in feed(data, (len(data) // 3,)):
        state.apply("logs/x/SystemOut.log", batch, now=NOW)
    servers = state.snapshot().servers
    assert servers["qmpay1Tsms"].severities == Counter({"I": 1})
    assert servers["xpads-biz1"].severities == Counter({"I": 2})


def test_process_header_reads_either_slash_and_refuses_half_names() -> None:
    """cell\\node\\server or cell/node/server; a name with two parts names no process."""
    assert process_header(WAS61) == header("qmpay1Cell01", "qmpay1Node01", "qmpay1Tsms")
    assert process_header("running with process name a/b/c and process id 1") == header(
        "a", "b", "c"
    )
    assert process_header("running with process name a\\b and process id 1") is None
