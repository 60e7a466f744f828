"""Every file of ../shared/real-logs (real WebSphere logs from public sources, SOURCES.md there)
through the parser and through `scan`, against what the file holds.

What a file holds is found here by other means than the parser's: records by walking each
line's columns (not the record regex, not the kernels), header blocks by their banners, and a
person's reading of each file's first record time, header and last server start (the table
below). The files are read where they are, never copied.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from support import shared_path

from stproxy_monitor.cli import main
from stproxy_monitor.logs.events import ApnsFailure, ProcessHeader, ServerLifecycle
from stproxy_monitor.logs.parser import LogParser
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.timestamps import parse_timestamp

REAL_LOGS = shared_path("real-logs")
NOW = 1_900_000_000.0
HEX = frozenset(b"0123456789abcdefABCDEF")
UPPER = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def at(*fields: int, ms: int, hours: float) -> float:
    """Epoch seconds of a wall-clock time at a UTC offset."""
    zone = timezone(timedelta(hours=hours))
    return datetime(*fields, microsecond=ms * 1000, tzinfo=zone).timestamp()  # type: ignore[misc]


@dataclass(frozen=True)
class Holds:
    """What a file holds, read by a person: its first record's time, the process its header
    names (cell, node, server), its last WSVR0001I's time."""

    first: float
    header: tuple[str, str, str] | None = None
    last_start: float | None = None


MEGA = ("10Node02Cell", "MegaCommonServer", "server1")
TRP = ("qmpay1Cell01", "qmpay1Node01", "qmpay1Tsms")
HOLDS = {
    "de-locale-line": Holds(at(2012, 2, 17, 13, 6, 39, ms=171, hours=1)),
    "fr-locale-readme": Holds(at(2017, 5, 31, 11, 14, 31, ms=120, hours=2)),
    "it-locale-excerpt": Holds(at(2020, 2, 4, 11, 14, 5, ms=743, hours=1)),
    "ja-locale-excerpt": Holds(at(2006, 11, 10, 23, 11, 48, ms=874, hours=9)),
    "ko-locale-lines": Holds(at(2016, 12, 5, 15, 26, 42, ms=279, hours=9)),
    "megacommon-was9-en-cet": Holds(at(2023, 3, 3, 14, 28, 50, ms=105, hours=1), MEGA),
    "megacommon-was9-en-cet-rotated": Holds(at(2023, 3, 3, 14, 28, 47, ms=200, hours=1), MEGA),
    "megacommon-was9-systemerr": Holds(at(2023, 3, 3, 14, 28, 49, ms=273, hours=1)),
    "trp-was61-zhcn-cst": Holds(at(2011, 1, 18, 9, 32, 31, ms=68, hours=8), TRP),
    "trp-was61-zhcn-cst-restarts": Holds(
        at(2010, 11, 9, 15, 21, 29, ms=109, hours=8),
        TRP,
        last_start=at(2010, 11, 10, 13, 56, 55, ms=946, hours=8),
    ),
    "trp-was61-zhcn-cst-restart2": Holds(
        at(2010, 11, 15, 13, 22, 30, ms=44, hours=8),
        TRP,
        last_start=at(2010, 11, 15, 13, 32, 57, ms=261, hours=8),
    ),
    "unatapa-was9-en-utc": Holds(
        at(2020, 5, 10, 3, 9, 1, ms=349, hours=0),
        ("DefaultCell01", "DefaultNode01", "server1"),
        last_start=at(2020, 5, 10, 3, 10, 34, ms=572, hours=0),
    ),
    "unatapa-was9-systemerr": Holds(at(2020, 5, 10, 3, 14, 34, ms=612, hours=0)),
    "wsadmin-traceout-excerpt": Holds(at(2014, 10, 16, 12, 19, 10, ms=607, hours=0)),
    "xpads-was855-zhcn-gmt8": Holds(
        at(2018, 9, 13, 10, 36, 1, ms=279, hours=8),
        ("E193081Cell01", "E193081Node01", "xpads-biz1"),
    ),
}
NAMES = sorted(HOLDS)
needs_corpus = pytest.mark.skipif(
    not REAL_LOGS.is_dir(), reason=f"the real log corpus {REAL_LOGS} is absent (see its SOURCES.md)"
)


# -- the independent readings ---------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    line: int
    time: str
    kind: str
    text: str


def columns(data: bytes) -> list[Record]:
    """Record lines found by their columns: "[time]", a blank, 8 hex digits, a blank, a
    13-character name, a blank, an upper-case type letter, a blank (DOMAIN.md)."""
    found = []
    for number, line in enumerate(data.split(b"\n")):
        close = line.find(b"]")
        if not line.startswith(b"[") or close < 2 or b"\r" in line[:close]:
            continue
        head = line[close : close + 27]
        if (
            len(head) == 27
            and head[1] == head[10] == head[24] == head[26] == ord(" ")
            and all(byte in HEX for byte in head[2:10])
            and b"\r" not in head[11:24]
            and head[25] in UPPER
        ):
            text = line[close + 27 :].decode("utf-8", "replace")
            found.append(Record(number, line[1:close].decode(), chr(head[25]), text))
    return found


def header_blocks(data: bytes) -> list[tuple[str, str, str]]:
    """(cell, node, server) of each Start ... End block that names a process."""
    names = []
    banners = rb"\*+ Start Display Current Environment \*+\n(.*?)\*+ End"
    for block in re.findall(banners, data, re.S):
        m = re.search(rb"running with process name (\S+)\\(\S+)\\(\S+) and process id", block)
        if m:
            names.append(tuple(part.decode() for part in m.groups()))
    return names  # type: ignore[return-value]


def times(records: list[Record]) -> list[float]:
    """Every record's time, read as the parser does (a guess gives way to the order the file's
    unambiguous dates teach); a time that cannot be read fails."""
    learned, out = None, []
    for record in records:
        parsed = parse_timestamp(record.time)
        assert parsed is not None, f"line {record.line + 1}: [{record.time}] not read"
        if parsed.certain:
            learned = parsed.date_order
        elif learned:
            parsed = parse_timestamp(record.time, date_order=learned)
            assert parsed is not None
        out.append(parsed.epoch)
    return out


def corpus(name: str) -> bytes:
    return (REAL_LOGS / name / "SystemOut.log").read_bytes()


# -- the tests ------------------------------------------------------------------------------


@needs_corpus
def test_the_table_names_every_file_of_the_corpus() -> None:
    """A file added to the corpus must be read here too."""
    assert sorted(p.parent.name for p in REAL_LOGS.glob("*/SystemOut.log")) == NAMES


@needs_corpus
@pytest.mark.parametrize("name", NAMES)
def test_every_record_time_is_read_and_in_order(name: str) -> None:
    """Every record's time reads; the first one is the instant a person reads; they go
    forward (a day and a month swapped would jump by weeks)."""
    records = columns(corpus(name))
    assert records
    read = times(records)
    assert read[0] == pytest.approx(HOLDS[name].first, abs=1e-6)
    backwards = [(a, b) for a, b in itertools.pairwise(read) if b < a - 1]
    assert not backwards
    assert read[-1] - read[0] < 90 * 86400


@needs_corpus
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("chunk", [1 << 16, 1 << 22])
def test_parser_counts_and_headers_match_the_file(name: str, chunk: int) -> None:
    """Fed in chunks: no exception, records by type as the column walk counts them, one
    header event per block that names a process, in order, no invented failure, every
    server start at its record's time, no unparsed time."""
    data = corpus(name)
    parser, state = LogParser(), State()
    batches = [parser.feed(data[i : i + chunk], NOW) for i in range(0, len(data), chunk)]
    batches.append(parser.finish(NOW))
    for batch in batches:
        state.apply(f"logs/{name}/SystemOut.log", batch, now=NOW)
    events = [event for batch in batches for event in batch.events]
    records = columns(data)
    severities: Counter[str] = Counter()
    for server in state.snapshot().servers.values():
        severities.update(server.severities)
    assert +severities == Counter(record.kind for record in records)
    assert sum(batch.records for batch in batches) == len(records)
    headers = [(e.cell, e.node, e.server) for e in events if isinstance(e, ProcessHeader)]
    assert headers == header_blocks(data)
    assert set(headers) == ({HOLDS[name].header} if HOLDS[name].header else set())
    assert not [e for e in events if isinstance(e, ApnsFailure)]
    starts = [e for e in events if isinstance(e, ServerLifecycle) and e.state == "started"]
    starts_written = [r for r in records if "WSVR0001I" in r.text]
    assert len(starts) == len(starts_written)
    assert all(e.timestamp_parsed for e in starts)
    if HOLDS[name].last_start is not None:
        assert starts[-1].timestamp == pytest.approx(HOLDS[name].last_start, abs=1e-6)
    assert sum(batch.unparsed_timestamps for batch in batches) == 0


@needs_corpus
@pytest.mark.parametrize("name", NAMES)
def test_scan_reports_what_the_file_holds(name: str) -> None:
    """`scan --format json`: server, cell, node, the last start, records by type, and
    unparsed_timestamps_total 0; nothing about APNS or certificates (no Sametime text)."""
    path = str(REAL_LOGS / name / "SystemOut.log")
    out, err = io.StringIO(), io.StringIO()
    assert main(["scan", "--format", "json", path], stdout=out, stderr=err) == 0, err.getvalue()
    samples = json.loads(out.getvalue())

    def values(metric: str) -> list[tuple[dict[str, str], float]]:
        return [(s["labels"], s["value"]) for s in samples if s["name"] == metric]

    holds, records = HOLDS[name], columns(corpus(name))
    cell, node, server = holds.header or ("", "", name)
    assert values("stproxy_monitor_log_info") == [
        ({"path": path, "server": server, "cell": cell, "node": node}, 1.0)
    ]
    assert values("stproxy_monitor_unparsed_timestamps_total") == [({"path": path}, 0.0)]
    assert values("stproxy_monitor_records_read_total") == [({"path": path}, len(records))]
    by_type = {labels["severity"]: n for labels, n in values("stproxy_log_messages_total") if n}
    assert by_type == Counter(record.kind for record in records)
    assert {labels["server"] for labels, _ in values("stproxy_log_messages_total")} == {server}
    starts = values("stproxy_server_start_timestamp_seconds")
    if holds.last_start is None:
        assert starts == []
    else:
        assert starts == [({"server": server}, pytest.approx(holds.last_start, abs=1e-3))]
    assert not [n for _, n in values("stproxy_apns_connection_failures_total") if n]
    assert values("stproxy_apns_certificate_not_after_timestamp_seconds") == []


def test_column_walk_agrees_with_a_hand_count() -> None:
    """The independent reading itself: a record line, a continuation starting with "[",
    a line with a 7-digit thread, an empty-message record, a CR in the time."""
    data = (
        b"[5/10/20 3:09:01:349 UTC] 00000001 ManagerAdmin  I   TRAS0017I: x\n"
        b"[Near : {abc}] 00000001 more text of the record before\n"
        b"[5/10/20 3:09:01:349 UTC] 0000001 ManagerAdmin  I   seven hex digits\n"
        b"[3/3/23 14:28:49:282 CET] 00000096 BasicStruct   E   \n"
        b"[5/10/20 3:09\r:01:349 UTC] 00000001 ManagerAdmin  I   CR\n"
    )
    assert [(r.line, r.kind) for r in columns(data)] == [(0, "I"), (3, "E")]
    assert datetime.fromtimestamp(times(columns(data))[0], UTC).year == 2020


def test_header_blocks_reads_only_blocks_that_name_a_process() -> None:
    """A 'Log file started at' block names nothing; a process block names its three parts."""
    data = (
        b"************ Start Display Current Environment ************\n"
        b"Log file started at: [3/3/23 14:28:49:282 CET]\n"
        b"************* End Display Current Environment *************\n"
        b"************ Start Display Current Environment ************\n"
        b"WebSphere Platform 6.1 [ND 6.1.0.31]  running with process name c\\n\\s"
        b" and process id 1\n"
        b"************* End Display Current Environment *************\n"
    )
    assert header_blocks(data) == [("c", "n", "s")]


def test_corpus_location_is_outside_the_repository() -> None:
    """The corpus is read from ../shared, never from a copy in the repository."""
    repo = Path(__file__).resolve().parents[2]
    assert not REAL_LOGS.is_relative_to(repo)
    assert not list(repo.glob("**/megacommon-was9-en-cet*"))
