"""Tests of stproxy_monitor.logs.lineindex: both kernels (C, numpy) against plain-Python references.

The references below read the specification, not the kernel: records are the lines that
RECORD_HEADER matches at their start, lines are counted newlines, and the candidates must
include every line that may hold an event (CLFRX/WSVR00 anywhere, or an IBM certificate key,
the "WebSphere " process line or a header block's banner at the start of the message, after
whitespace, in UTF-8 or cp1252). A CLFRX record whose id the kernel decides itself
(clfrx_starts) is no candidate: its id must then be the one messages.message_id finds
(mirrored here), not CLFRX0079W. The
generators stress the kernels' shortcuts: column checks in a 27-byte window, marks of "]",
CR and newline, the anchors X and V, 8-byte words, whitespace skipping, 256 KiB blocks.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stproxy_monitor.logs import lineindex
from stproxy_monitor.logs.lineindex import LineIndex
from stproxy_monitor.logs.messages import message_id as parser_message_id
from stproxy_monitor.logs.recordformat import RECORD_HEADER

REPO = Path(__file__).resolve().parents[2]
FIXTURE_FILES = sorted(path for path in (REPO / "fixtures" / "logs").rglob("*") if path.is_file())

RECORD_LINE = re.compile(rb"(?m)^" + RECORD_HEADER.pattern)
KEYWORDS = ("IssuerDN", "SubjectDN", "From (", "To (", "MD5", "WebSphere ")
KEYWORDS += ("************ Start Display", "************* End Display")  # a header block
ANCHORS = (b"CLFRX", b"WSVR00")
ENCODINGS = ("utf-8", "cp1252")
BLOCK = 256 << 10  # the kernel's block size: marks are found block by block

# The kernels index_lines may use: numpy always, C where the extension was built.
C_BUILT = importlib.util.find_spec("stproxy_monitor.logs._lineindex") is not None
KERNELS = ["numpy", "c"] if C_BUILT else ["numpy"]

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the references ------------------------------------------------------------------------
# messages.message_id, mirrored: the first token of the message when it starts with two
# spaces (or of a System.out/err record, O or R), else the third (after class and method).
MESSAGE_ID = re.compile(r"(?P<id>[A-Z]{4,5}\d{4}(?P<sev>[A-Z]))(?::|\s|$)")


@dataclass(frozen=True)
class Reference:
    """What index_lines must find in a region, offsets relative to the region."""

    lines: int
    line_starts: list[int]
    record_starts: list[int]
    record_types: bytes
    keyed: set[int]  # lines whose message starts with a key: candidates, always
    anchored: set[int]  # lines holding CLFRX or WSVR00: candidates, or decided CLFRX ids
    texts: dict[int, bytes]  # every line by its start, without its newline


def split_lines(region: bytes) -> list[tuple[int, bytes]]:
    """(start, text without its newline) of every line of whole-line bytes."""
    out: list[tuple[int, bytes]] = []
    start = 0
    while start < len(region):
        end = region.index(b"\n", start)
        out.append((start, region[start:end]))
        start = end + 1
    return out


def message_of(line: bytes) -> bytes:
    """A line's message: what follows a record's header, else the whole line."""
    header = RECORD_HEADER.match(line)
    return line[header.end() :] if header else line


def starts_with_key(line: bytes) -> bool:
    """Whether the message starts, after whitespace, with an IBM key or the process line."""
    message = message_of(line)
    return any(
        message.decode(encoding, "replace").lstrip().startswith(KEYWORDS) for encoding in ENCODINGS
    )


def message_id(line: bytes, encoding: str) -> str | None:
    """The message id the parser reads in a record line (None: no record, or no id)."""
    header = RECORD_HEADER.match(line)
    if header is None:
        return None
    rest = line[header.end() :].decode(encoding, "replace").rstrip("\r")
    if rest.startswith("  "):
        token = rest.strip().split(" ", 1)[0]
    elif header[2] in (b"O", b"R"):
        token = rest.split(" ", 1)[0]
    else:
        parts = rest.split(" ", 3)
        token = parts[2] if len(parts) > 2 else ""
    m = MESSAGE_ID.match(token)
    return m["id"] if m else None


def reference(region: bytes) -> Reference:
    """The specification of index_lines(region), in plain Python."""
    lines = split_lines(region)
    records = list(RECORD_LINE.finditer(region))
    return Reference(
        lines=region.count(b"\n"),
        line_starts=[start for start, _ in lines],
        record_starts=[m.start() for m in records],
        record_types=b"".join(m[2] for m in records),
        keyed={start for start, line in lines if starts_with_key(line)},
        anchored={start for start, line in lines if any(a in line for a in ANCHORS)},
        texts=dict(lines),
    )


def shifted(offsets: Any, shift: int) -> list[int]:
    """Offsets of an index (a numpy array or a memoryview of int64) less `shift`, as a list."""
    return [int(offset) - shift for offset in offsets.tolist()]


def totals(counts: Any) -> Counter[str]:
    """A kernel's 26 totals by letter A-Z as a Counter (zeros left out)."""
    return Counter({chr(65 + i): n for i, n in enumerate(counts.tolist()) if n})


def show(region: bytes, starts: set[int] | list[int]) -> list[bytes]:
    """The lines at these starts, for an assertion message."""
    return [region[s : region.index(b"\n", s) + 1] for s in sorted(starts)]


def index_with(
    kernel: str, data: bytes | bytearray, begin: int = 0, end: int | None = None
) -> LineIndex:
    """index_lines(data, begin, end, line_starts=True) by the given kernel."""
    saved = lineindex.KERNEL
    lineindex.KERNEL = kernel
    try:
        return lineindex.index_lines(data, begin, end, line_starts=True)
    finally:
        lineindex.KERNEL = saved


def check(kernel: str, data: bytes, begin: int = 0, end: int | None = None) -> LineIndex:
    """index_lines(data, begin, end) by `kernel`, checked against the reference; returned."""
    end = len(data) if end is None else end
    region = data[begin:end]
    index = index_with(kernel, data, begin, end)
    ref = reference(region)
    assert index.lines == ref.lines
    assert shifted(index.line_starts, begin) == ref.line_starts
    assert index.longest == max((len(text) for text in ref.texts.values()), default=0)
    record_starts = shifted(index.record_starts, begin)
    assert record_starts == ref.record_starts, (
        "records",
        show(region, set(record_starts) ^ set(ref.record_starts)),
    )
    assert bytes(index.record_types) == ref.record_types
    assert totals(index.type_totals) == Counter(ref.record_types.decode())
    assert totals(index.clfrx_totals) == Counter(bytes(index.clfrx_types).decode("latin-1"))
    candidates = shifted(index.candidates, begin)
    assert candidates == sorted(set(candidates)), "candidates not sorted and distinct"
    assert set(candidates) <= set(ref.line_starts), "a candidate is not a line start"
    missing = ref.keyed - set(candidates)
    assert not missing, ("keyed lines missing from candidates", show(region, missing))
    decided = shifted(index.clfrx_starts, begin)
    assert decided == sorted(set(decided)), "clfrx_starts not sorted and distinct"
    assert len(decided) == len(index.clfrx_types)
    assert not set(decided) & set(candidates), ("decided and candidate", show(region, decided))
    missing = ref.anchored - set(candidates) - set(decided)
    assert not missing, ("CLFRX/WSVR00 lines neither candidate nor decided", show(region, missing))
    for start, letter in zip(decided, bytes(index.clfrx_types).decode("latin-1"), strict=True):
        line = ref.texts.get(start)
        assert line is not None, ("a decided CLFRX start is not a line start", start)
        for encoding in ENCODINGS:
            found = message_id(line, encoding)
            assert found is not None, ("decided, but no message id", line, encoding)
            assert found.startswith("CLFRX"), ("decided, but not a CLFRX id", line, found)
            assert found != "CLFRX0079W", ("CLFRX0079W decided, not a candidate", line)
            assert found[-1] == letter, ("decided with another severity", line, letter)
    return index


def check_all(data: bytes, begin: int = 0, end: int | None = None) -> dict[str, LineIndex]:
    """check() by every kernel; the indexes by kernel."""
    indexes = {}
    for kernel in KERNELS:
        try:
            indexes[kernel] = check(kernel, data, begin, end)
        except AssertionError as error:
            raise AssertionError(f"{kernel} kernel: {error}") from error
    return indexes


def assert_same_shifted(inner: LineIndex, alone: LineIndex, shift: int) -> None:
    """Two indexes of the same lines, one at `shift` in a larger buffer: equal once shifted."""
    assert inner.lines == alone.lines
    assert inner.longest == alone.longest
    assert shifted(inner.line_starts, shift) == alone.line_starts.tolist()
    assert shifted(inner.record_starts, shift) == alone.record_starts.tolist()
    assert bytes(inner.record_types) == bytes(alone.record_types)
    assert shifted(inner.clfrx_starts, shift) == alone.clfrx_starts.tolist()
    assert bytes(inner.clfrx_types) == bytes(alone.clfrx_types)
    assert shifted(inner.candidates, shift) == alone.candidates.tolist()
    assert inner.type_totals.tolist() == alone.type_totals.tolist()
    assert inner.clfrx_totals.tolist() == alone.clfrx_totals.tolist()


# -- the generators ------------------------------------------------------------------------
def joined(
    parts: st.SearchStrategy[bytes], min_size: int = 0, max_size: int = 20
) -> st.SearchStrategy[bytes]:
    """Concatenations of parts."""
    return st.lists(parts, min_size=min_size, max_size=max_size).map(b"".join)


def mostly(
    good: st.SearchStrategy[bytes], bad: st.SearchStrategy[bytes]
) -> st.SearchStrategy[bytes]:
    """Usually `good`, sometimes `bad` (shrinks towards good)."""
    return st.one_of(good, good, good, bad)


def singles(values: bytes) -> list[bytes]:
    """The bytes of `values`, one by one."""
    return [bytes([v]) for v in values]


def one_byte(values: bytes) -> st.SearchStrategy[bytes]:
    """One byte out of `values`."""
    return st.sampled_from(singles(values))


HEX_DIGITS = b"0123456789abcdefABCDEF"
NON_HEX = b"gGxXzZ -:]\r[\x00\x7f\x80\xff/@`G"
# Bytes of a short name or a time, besides newline: ASCII, the anchors, brackets, CR.
NAME_CHARS = singles(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-$XV[]\t\x0b"
)
NAME_BYTES = st.sampled_from(NAME_CHARS)
NON_ASCII_CHARS = [
    b"\xe9",  # cp1252 e-acute, invalid alone in UTF-8
    b"\xa0",  # cp1252 no-break space (whitespace once decoded)
    b"\x85",  # cp1252 ellipsis, Latin-1 NEL
    b"\x81",  # undefined in cp1252
    b"\xc3\xa9",  # UTF-8 e-acute
    b"\xc2\xa0",  # UTF-8 no-break space
    b"\xc2\x85",  # UTF-8 NEL (whitespace)
    b"\xe2\x80\x83",  # UTF-8 em space (whitespace)
    b"\xe3\x80\x80",  # UTF-8 ideographic space (whitespace)
    b"\xe6\x97\xa5",  # UTF-8 CJK
    b"\xf0\x9f\x98\x80",  # UTF-8 4-byte
    b"\xe6\x97",  # a cut UTF-8 sequence
]
NON_ASCII = st.sampled_from(NON_ASCII_CHARS)
# One character of a name or a text: ASCII, an anchor, a bracket, or a non-ASCII character.
NAME_OR_NON_ASCII = st.sampled_from(NAME_CHARS + NON_ASCII_CHARS)

REAL_TIMES = [
    b"5/10/20 3:09:01:349 UTC",
    b"4/15/19 3:09:02:887 UTC",
    b"27.10.18 10:23:46:984 MESZ",
    b"18/05/17 09:47:23:295 IST",
    b"12/19/18 10:43:20:382 GMT+08:00",
    b"18/04/16 10:23:45:860 JST",
    b"4/13/24, 18:36:23:849 CEST",
    b"19-3-25 9:05:01:625 CST",
    b"1/17/19 9:02:11:708 CST",
    b"16.04.18 10:23:45:123 \xe4\xb8\xad",  # non-ASCII zone
    b"4/15/18 2:54:00:129 PDT",
    b"X",
    b"V",
    b"XVXVXVXV",
    b"[",
    b"\xe9",
]
TIME_GOOD = st.one_of(
    st.sampled_from(REAL_TIMES),
    joined(
        st.sampled_from(NAME_CHARS + NON_ASCII_CHARS + singles(b"0123456789/:,. ")), 1, 60
    ).filter(lambda t: len(t) > 0 and not (set(t) & set(b"]\r\n"))),
    st.integers(1, 60).map(lambda n: (b"1/2/34 5:06:07:890 UTC" * 3)[:n]),
)
TIME_BAD = st.one_of(  # a time field the regex refuses, or one that ends early
    st.just(b""),
    st.sampled_from([b"5/10/20 3:09]01:349 UTC", b"5/10/20\r3:09:01:349 UTC", b"\r", b"]"]),
    joined(st.sampled_from([*NAME_CHARS, b"]", b"\r"]), 1, 30),
)
THREAD_GOOD = st.lists(one_byte(HEX_DIGITS), min_size=8, max_size=8).map(b"".join)
THREAD_BAD = st.one_of(
    st.lists(one_byte(HEX_DIGITS), min_size=0, max_size=12)
    .map(b"".join)
    .filter(lambda t: len(t) != 8),
    st.tuples(
        st.lists(one_byte(HEX_DIGITS), min_size=7, max_size=7).map(b"".join),
        one_byte(NON_HEX),
        st.integers(0, 7),
    ).map(lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]),
)


def fit(name: bytes, size: int) -> bytes:
    """A name cut or padded with spaces to `size` bytes (a UTF-8 character may be cut)."""
    return name[:size].ljust(size, b" ")


NAME_GOOD = st.one_of(
    st.sampled_from([b"ManagerAdmin ", b"APNSService  ", b"SystemOut    ", b"WsServerImpl "]),
    st.tuples(joined(NAME_OR_NON_ASCII, 0, 16)).map(lambda t: fit(t[0], 13)),
)
NAME_BAD = st.one_of(
    st.tuples(joined(NAME_BYTES, 0, 16), st.sampled_from([11, 12, 14, 15])).map(lambda t: fit(*t)),
    st.tuples(joined(NAME_BYTES, 0, 13), st.integers(0, 12)).map(
        lambda t: fit(fit(t[0], 13)[: t[1]] + b"\r" + fit(t[0], 13)[t[1] :], 13)
    ),
)
LETTER_GOOD = st.one_of(one_byte(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), one_byte(b"IWEOR"))
LETTER_BAD = st.one_of(
    one_byte(b"@[`{az"),  # the neighbours of A-Z
    one_byte(b"iw0 \r]XV"),
    one_byte(bytes(range(0x80, 0x100))),
    st.just(b""),
)
SPACE_GOOD = st.just(b" ")
SPACE_BAD = st.sampled_from([b"", b"  ", b"\t", b"\r", b"]", b"\xa0"])
# The columns of a record header, each as (what the regex accepts, what it refuses); a "["
# opens the line and a "]" closes the time.
HEADER_FIELDS = (
    (TIME_GOOD, TIME_BAD),
    (SPACE_GOOD, SPACE_BAD),
    (THREAD_GOOD, THREAD_BAD),
    (SPACE_GOOD, SPACE_BAD),
    (NAME_GOOD, NAME_BAD),
    (SPACE_GOOD, SPACE_BAD),
    (LETTER_GOOD, LETTER_BAD),
    (SPACE_GOOD, SPACE_BAD),
)


WHITESPACE = st.one_of(
    st.just(b""),
    joined(one_byte(b" \t\x0b\x0c\x1c\x1d\x1e\x1f\r"), 0, 12),
    st.sampled_from([b" " * n for n in (1, 3, 7, 8, 9, 15, 16, 17, 24, 63, 64, 65, 511, 512, 513)]),
    st.sampled_from([b"\t" * n for n in (7, 8, 9, 63, 64, 65)]),
    st.lists(st.tuples(one_byte(b" \t\x0b\x0c\x1c\x1f\r"), st.integers(1, 70)), max_size=4).map(
        lambda runs: b"".join(byte * n for byte, n in runs)
    ),
    st.tuples(joined(one_byte(b" \t"), 0, 10), NON_ASCII, joined(one_byte(b" \t"), 0, 10)).map(
        b"".join
    ),
)
KEYWORD = st.sampled_from(
    [
        b"IssuerDN: CN=Apple Worldwide Developer Relations, O=Apple Inc., C=US",
        b"SubjectDN: UID=com.example.push, CN=Apple Push Services",
        b"From (yyyy-mm-dd): 2019-04-08",
        b"To (yyyy-mm-dd): 2020-05-07",
        b"MD5: A1:0C:5E:93",
        b"MD5",
        b"To (",
        b"From (",
        b"IssuerDN",
        b"WebSphere Platform 8.5.5.9 [ND 8.5.5.9 cf090917.02] running with process name x",
        b"WebSphere Platform ",
        b"WebSphere [IBMJAVA7 7.0.4.1 gm1318.03]Platform 8.5.5.9 running with process name x",
        b"************ Start Display Current Environment ************",
        b"************* End Display Current Environment *************",
        # near misses
        b"***",
        b"*** Start",
        b"Issu",
        b"To",
        b"To(",
        b"MD",
        b"MD4",
        b"md5",
        b"WebS",
        b"Subj",
        b"From",
        b"Fro",
    ]
)
TEXT = joined(st.sampled_from(NAME_CHARS + NON_ASCII_CHARS + [b"CLFRX", b"WSVR00", b": "]), 0, 12)
ANCHOR_TEXT = st.sampled_from(
    [
        b"CLFRX0079W: Unable to establish an SSL connection to the APNS service",
        b"CLFRX0001I",
        b"WSVR0001I: Server STProxyServer open for e-business",
        b"WSVR0024I: Server STProxyServer stopped",
        b"CLFRX",
        b"WSVR00",
        b"CLFR",
        b"LFRX",
        b"WSVR0",
        b"SVR00",
        b"WSV",
        b"CLFRXCLFRX",
        b"WSWSVR00",
    ]
)
CLFRX_ID = st.tuples(
    st.just(b"CLFRX"),
    mostly(
        st.sampled_from([b"0079", b"0001", b"0080", b"1234", b"9999", b"0078"]),
        st.sampled_from([b"007", b"00079", b"00a9", b"0 79", b"\xd9\xa3079", b"079X", b""]),
    ),
    mostly(
        st.one_of(one_byte(b"WIEA"), one_byte(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
        st.one_of(one_byte(b"wi0:[ \r"), st.sampled_from([b"\xc3\x89", b"\xc9"])),
    ),
    mostly(
        st.sampled_from([b":", b": Unable to establish", b" text", b"\t", b""]),
        st.sampled_from(
            [b"\r", b"x", b"0", b"\x1c", b"\x0b", b"\xc2\xa0", b"\xa0", b"-", b"CLFRX0001I", b"]"]
        ),
    ),
).map(b"".join)
# What comes between the header's last space and a CLFRX id: two spaces (the layout without
# class and method, the id first), nothing (System.out/err), or something else.
ID_LEAD = st.sampled_from(
    [b"  ", b"  ", b"", b" ", b"   ", b"  \t", b"\t", b"  \xc2\xa0", b"  \xa0", b"  \r", b"  X "]
)
CLASS_NAMES = st.sampled_from(
    [b"com.ibm.ws.Foo", b"MD5Util", b"To", b"From (x)", b"IssuerDNReader", b"WebSphere", b"X"]
)
# Class and method words as java.util.logging writes them before an id (DOMAIN.md's APNSService
# line, real WAS lines: an empty method after WebsphereCommonLauncher), and near misses: an
# empty class, a tab or a non-ASCII byte inside, a word that begins like a line event.
CLASS_WORDS = st.sampled_from(
    [
        b"com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService",
        b"com.ibm.ws.webcontainer.servlet.ServletWrapper",
        b"WebsphereCommonLauncher",
        b"SessionContextRegistry",
        b"ApplicationRepositoryFactory",
        b"",
        b"com.ibm.X\tY",
        b"com.ibm.\xc3\xa9t\xc3\xa9",
        b"com.ibm.\xe9",
        b"WebSphere",
        b"MD5Util",
        b"IssuerDNReader",
        b"To",
        b"[x]",
        b"CLFRX0001I",
    ]
)
METHOD_WORDS = st.sampled_from(
    [b"startAPNS", b"init", b"", b"getSessionContext", b"\t", b"\xe9", b"\xc2\xa0", b"run()", b"X"]
)
CLASS_METHOD_ID = st.tuples(
    CLASS_WORDS,
    st.sampled_from([b" ", b" ", b" ", b"  ", b"\t"]),
    METHOD_WORDS,
    st.sampled_from([b" ", b" ", b" ", b"  ", b"", b"\t"]),
    CLFRX_ID,
    TEXT,
).map(b"".join)
MESSAGE = st.one_of(
    st.tuples(WHITESPACE, KEYWORD, TEXT).map(b"".join),  # "T   MSG"
    st.tuples(CLASS_NAMES, st.just(b" "), TEXT, st.just(b" "), WHITESPACE, KEYWORD).map(
        b"".join
    ),  # "T class method MSG"
    st.tuples(WHITESPACE, ANCHOR_TEXT, TEXT).map(b"".join),
    st.tuples(TEXT, ANCHOR_TEXT, TEXT).map(b"".join),
    st.tuples(ID_LEAD, CLFRX_ID, TEXT).map(b"".join),
    st.tuples(ID_LEAD, CLFRX_ID, WHITESPACE, CLFRX_ID, TEXT).map(b"".join),
    st.tuples(CLASS_NAMES, st.just(b" "), TEXT, st.just(b" "), CLFRX_ID).map(b"".join),
    CLASS_METHOD_ID,
    st.tuples(WHITESPACE, CLFRX_ID).map(b"".join),
    TEXT,
)


@st.composite
def header(draw: st.DrawFn, wrong: frozenset[int] = frozenset()) -> bytes:
    """A record header, right in every column but those numbered in `wrong`."""
    parts = [draw(bad if i in wrong else good) for i, (good, bad) in enumerate(HEADER_FIELDS)]
    return b"[" + parts[0] + b"]" + b"".join(parts[1:])


@st.composite
def near_record(draw: st.DrawFn) -> bytes:
    """A record line, or one that misses being one in up to two columns, or that ends early
    (right after the type letter, say)."""
    wrong = draw(st.frozensets(st.integers(0, len(HEADER_FIELDS) - 1), max_size=2))
    head: bytes = draw(header(wrong))
    if draw(st.integers(0, 9)) == 0:
        cut: int = draw(st.integers(len(head) - 3, len(head)))
        return head[:cut]
    message: bytes = draw(MESSAGE)
    return head + message


@st.composite
def one_off_record(draw: st.DrawFn) -> bytes:
    """A record line wrong in exactly one column (or none), with a message."""
    wrong = draw(st.integers(-1, len(HEADER_FIELDS) - 1))
    head: bytes = draw(header(frozenset({wrong})))
    message: bytes = draw(MESSAGE)
    return head + message


VALID_RECORD = st.tuples(header(), MESSAGE).map(b"".join)


PLAIN_LINE = st.one_of(
    st.just(b""),
    st.tuples(WHITESPACE, KEYWORD, TEXT).map(b"".join),
    st.tuples(WHITESPACE, ANCHOR_TEXT, TEXT).map(b"".join),
    st.tuples(WHITESPACE, CLFRX_ID, TEXT).map(b"".join),
    st.sampled_from(
        [
            b"\tat com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService.run(X.java:4)",
            b"************ Start Display Current Environment ************",
            b"Caused by: java.net.ConnectException: Connection refused: connect",
            b"[",
            b"]",
            b"[]",
            b"[] 0000004e APNSService   I ",
            b"[5/10/20 3:09:01:349 UTC]",
        ]
    ),
    st.tuples(st.just(b"["), TEXT).map(b"".join),
    joined(one_byte(b"\t \x0b\x0c\x1c\x1d\x1e\x1f\r"), 1, 80),
    joined(
        st.one_of(
            one_byte(b"CLFRXWSV0 \r]["), st.sampled_from([b"CL", b"FRX", b"WS", b"VR", b"R00"])
        ),
        0,
        12,
    ),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
)


@st.composite
def line(draw: st.DrawFn, body: st.SearchStrategy[bytes] | None = None) -> bytes:
    """A whole line: a (near-)record or another line, a stray CR maybe, LF or CRLF."""
    text = draw(body if body is not None else st.one_of(near_record(), VALID_RECORD, PLAIN_LINE))
    if draw(st.integers(0, 5)) == 0:  # a stray carriage return somewhere
        at = draw(st.integers(0, len(text)))
        text = text[:at] + b"\r" + text[at:]
    return text + draw(mostly(st.just(b"\n"), st.just(b"\r\n")))


def regions(body: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[bytes]:
    """Whole-line regions."""
    return st.lists(line(body), max_size=20).map(b"".join)


OUTSIDE = st.one_of(
    st.just(b""),
    st.sampled_from(
        [
            b"[",
            b"[5/10/20 3:09:01:349 UTC",
            b"CLFR",
            b"CL",
            b"WS",
            b"X",
            b"VR00",
            b"R00",
            b"   ",
            b"\r",
            b"]",
            b"] 0000004e APNSService   I   MD5",
            b"IssuerDN",
        ]
    ),
    st.binary(max_size=40),
)


# -- generated regions ---------------------------------------------------------------------
@SETTINGS
@given(region=regions())
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I   MD5: 00\n")
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I \n")
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I\n")
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNS]ervice   W CLFRX0079W: x\r\n")
def test_mixed_lines_match_reference(region: bytes) -> None:
    """Records, types, lines and candidates of a mixed region agree with the references."""
    check_all(region)


@SETTINGS
@given(region=regions(st.one_of(near_record(), one_off_record())))
def test_near_records_match_reference(region: bytes) -> None:
    """Lines built to pass or fail RECORD_HEADER in one column are records exactly when the
    regex says so, with its type letter."""
    check_all(region)


@SETTINGS
@given(region=regions(st.one_of(PLAIN_LINE, st.tuples(WHITESPACE, KEYWORD, TEXT).map(b"".join))))
@example(region=b" " * 512 + b"MD5\n")
@example(region=b"\t" * 64 + b"To (\n")
@example(region=b"\t" * 65 + b"To (\n")
@example(region=b" \t" * 70 + b"IssuerDN\n")
@example(region=b"\xc2\xa0SubjectDN\n")
@example(region=b"\xa0From (\n")
@example(region=b"\x1c\x1d\x1e\x1fWebSphere Platform\n")
def test_whitespace_then_keyword_lines_are_candidates(region: bytes) -> None:
    """A line whose text starts with an IBM key or the process line after any whitespace
    (ASCII, long runs, Unicode in UTF-8 or cp1252) is a candidate."""
    check_all(region)


@SETTINGS
@given(
    region=regions(
        joined(
            st.one_of(
                one_byte(b"CLFRXWSV0 \r]"),
                st.sampled_from([b"CL", b"FRX", b"LFR", b"WS", b"VR", b"R00", b"WSVR0", b"CLFRX"]),
            ),
            0,
            10,
        )
    ),
)
@example(region=b"CLFRX\n")
@example(region=b"LFRX\n")
@example(region=b"CLFR\nX\n")
@example(region=b"WSVR0\n0\n")
@example(region=b"WSVR00\n")
@example(region=b"\nWSVR00\n")
def test_anchor_words_split_anywhere(region: bytes) -> None:
    """CLFRX and WSVR00 are found wherever they are, and never across a line end."""
    check_all(region)


@SETTINGS
@given(data=st.binary(min_size=0, max_size=10), cut=st.integers(0, 10))
def test_short_regions(data: bytes, cut: int) -> None:
    """Regions of 1 to 10 bytes (below the kernel's 8-byte words) agree with the references."""
    data = data[:cut] + b"\n"
    check_all(data)
    check_all(b"XV]\r[" + data + b"R00", 5, 5 + len(data))


@SETTINGS
@given(
    data=st.lists(
        st.one_of(
            st.binary(max_size=30),
            one_byte(b"\n\r[] XV\tCLFRWS0"),
            st.sampled_from([b"\n", b"CLFRX", b"WSVR00", b"MD5", b"To (", b"] 0000004e "]),
        ),
        max_size=30,
    ).map(b"".join)
)
def test_random_bytes(data: bytes) -> None:
    """Arbitrary bytes, cut after their last newline, agree with the references."""
    data = data[: data.rfind(b"\n") + 1]
    check_all(data)


@SETTINGS
@given(region=regions(), prefix=OUTSIDE, suffix=OUTSIDE)
def test_sub_range_equals_slice(region: bytes, prefix: bytes, suffix: bytes) -> None:
    """Indexing data[begin:end] in a larger buffer is indexing the slice alone, shifted by
    begin: the bytes around the range (a "[" before it, no newline after it) never count."""
    data = prefix + region + suffix
    begin, end = len(prefix), len(prefix) + len(region)
    for kernel, inner in check_all(data, begin, end).items():
        alone = index_with(kernel, region)
        assert_same_shifted(inner, alone, begin)
        assert_same_shifted(index_with(kernel, bytearray(data), begin, end), alone, begin)
        if not suffix:
            assert_same_shifted(index_with(kernel, data, begin), alone, begin)


@SETTINGS
@given(region=regions(), cut_a=st.integers(), cut_b=st.integers())
def test_type_counts(region: bytes, cut_a: int, cut_b: int) -> None:
    """type_counts counts the type letters of the records that start in an offset range,
    clfrx_counts the severity letters of the decided CLFRX records there."""
    ref = reference(region)
    types = ref.record_types.decode("ascii")
    start, end = sorted((cut_a % (len(region) + 2), cut_b % (len(region) + 2)))

    def counted(starts: list[int], letters: str, lo: int, hi: float) -> dict[str, int]:
        return dict(Counter(t for s, t in zip(starts, letters, strict=True) if lo <= s < hi))

    for kernel in KERNELS:
        index = index_with(kernel, region)
        decided = index.clfrx_starts.tolist()
        letters = bytes(index.clfrx_types).decode("latin-1")
        assert index.type_counts() == dict(Counter(types))
        assert index.clfrx_counts() == dict(Counter(letters))
        assert index.type_counts(start, end) == counted(ref.record_starts, types, start, end)
        assert index.type_counts(start) == counted(ref.record_starts, types, start, math.inf)
        assert index.clfrx_counts(start, end) == counted(decided, letters, start, end)


@SETTINGS
@given(region=regions(VALID_RECORD))
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I CLFRX0001I: x\n")
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I  CLFRX0001I: x\n")
@example(region=b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I   CLFRX00a1I: x\n")
def test_record_messages(region: bytes) -> None:
    """Records with every kind of message: keys after whitespace in both layouts, CLFRX ids
    the kernel may decide (and must then read as the parser does) or leave to the parser."""
    check_all(region)


EXAMPLE_RECORD = b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   "
# What the kernels' candidate test sees at the start of a message (after ASCII whitespace):
# such a line may be a line event, so the parser must see it even when it has a CLFRX id.
EVENT_PREFIXES = (b"Issu", b"Subj", b"From", b"To (", b"WebS", b"MD5")
ASCII_SPACE = b"\t\x0b\x0c\r\x1c\x1d\x1e\x1f "


def must_be_decided(line: bytes) -> str | None:
    """The severity letter of a record line whose CLFRX id (not CLFRX0079W) the kernels must
    decide themselves, so that the parser never sees it: every byte of the message up to the
    byte after the id is ASCII, and the message does not begin like a line event."""
    header = RECORD_HEADER.match(line)
    found = message_id(line, "utf-8") if header else None
    if header is None or found is None or not found.startswith("CLFRX") or found == "CLFRX0079W":
        return None
    message = line[header.end() :]
    if message.startswith(b"  "):
        at = len(message) - len(message.lstrip(ASCII_SPACE))
    elif header[2] in (b"O", b"R"):
        at = 0
    else:
        first = message.find(b" ")
        at = message.find(b" ", first + 1) + 1 if first >= 0 else -1
    if at < 0 or not message.startswith(found.encode(), at):
        return None  # the id is not where the bytes say: a non-ASCII split, left to the parser
    head = message[: at + len(found) + 1]
    if any(byte >= 0x80 for byte in head) or message.lstrip(ASCII_SPACE).startswith(EVENT_PREFIXES):
        return None
    return found[-1]


@SETTINGS
@given(region=regions(st.tuples(header(), CLASS_METHOD_ID).map(b"".join)))
@example(region=EXAMPLE_RECORD + b"I WebsphereCommonLauncher  CLFRX0332I: x\n")
@example(region=EXAMPLE_RECORD + b"W com.ibm.X run CLFRX0079W: x\n")
def test_class_method_ids_are_decided(region: bytes) -> None:
    """A CLFRX id after the class and method words (the layout Sametime writes) is decided by
    the kernels, with its severity, whenever the bytes before it are ASCII and the message
    does not begin like a line event: only lines that may hold an event reach the parser."""
    for kernel, index in check_all(region).items():
        decided = dict(
            zip(index.clfrx_starts.tolist(), bytes(index.clfrx_types).decode(), strict=True)
        )
        for start, text in split_lines(region):
            letter = must_be_decided(text)
            if letter is not None:
                assert decided.get(start) == letter, (kernel, text)


@SETTINGS
@given(line=VALID_RECORD, encoding=st.sampled_from(ENCODINGS))
def test_message_id_mirror(line: bytes, encoding: str) -> None:
    """The reference's message_id is the parser's (messages.message_id), which the kernels'
    decided CLFRX ids must agree with."""
    header = RECORD_HEADER.match(line)
    assert header is not None
    rest = line[header.end() :].decode(encoding, "replace").rstrip("\r")
    assert message_id(line, encoding) == parser_message_id(rest, header[2].decode())


# -- errors and edges ----------------------------------------------------------------------
@SETTINGS
@given(region=regions(), tail=st.binary(min_size=1, max_size=20), after=OUTSIDE)
def test_not_whole_lines_raise(region: bytes, tail: bytes, after: bytes) -> None:
    """A region that does not end with a newline is refused, even when one follows it."""
    tail = tail.replace(b"\n", b"") or b"x"
    data = region + tail
    for kernel in KERNELS:
        with pytest.raises(ValueError, match="whole lines"):
            index_with(kernel, data)
        with pytest.raises(ValueError, match="whole lines"):
            index_with(kernel, data + b"\n" + after, 0, len(data))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    "data", [b"x", b"\r", b"[", b"\n\r", b"abc\nd", b"[5/10/20 3:09:01:349 UTC] 0000004e"]
)
def test_not_whole_lines_examples(kernel: str, data: bytes) -> None:
    """A few regions without a final newline, alone or followed by one, are refused."""
    with pytest.raises(ValueError, match="whole lines"):
        index_with(kernel, data)
    with pytest.raises(ValueError, match="whole lines"):
        index_with(kernel, data + b"\n", 0, len(data))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("data", "begin", "end"),
    [(b"", 0, None), (b"abc\n", 0, 0), (b"abc\n", 4, None), (b"ab\ncd\n", 3, 3), (b"[x]\n", 2, 2)],
)
def test_empty_region(kernel: str, data: bytes, begin: int, end: int | None) -> None:
    """An empty region has no lines, records or candidates, and no type counts."""
    index = index_with(kernel, data, begin, end)
    assert index.lines == index.longest == 0
    fields = (
        index.line_starts,
        index.record_starts,
        index.record_types,
        index.clfrx_starts,
        index.clfrx_types,
        index.candidates,
    )
    assert all(len(field) == 0 for field in fields)
    assert index.type_counts() == {}
    assert index.type_counts(0, len(data) + 1) == {}
    assert index.clfrx_counts() == {}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    ("text", "is_record", "expected"),
    [
        (EXAMPLE_RECORD + b"I   TRAS0017I: The startup trace state is *=info.", True, None),
        (EXAMPLE_RECORD + b"W   CLFRX0079W: Unable to establish", True, "candidate"),
        (EXAMPLE_RECORD + b"W CLFRX0079W: Unable to establish", True, "candidate"),
        (EXAMPLE_RECORD + b"O CLFRX0079W Unable to establish", True, "candidate"),
        (EXAMPLE_RECORD + b"A WSVR0001I: Server open for e-business", True, "candidate"),
        (EXAMPLE_RECORD + b"A   WSVR0001I: Server open for e-business", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX0001I: Started", True, "decided I"),
        (EXAMPLE_RECORD + b"E   CLFRX0080E", True, "decided E"),
        (EXAMPLE_RECORD + b"I   \t CLFRX0002W\tx", True, "decided W"),
        (EXAMPLE_RECORD + b"I \t CLFRX0002W\tx", True, None),
        (EXAMPLE_RECORD + b"O CLFRX0003A text", True, "decided A"),
        (EXAMPLE_RECORD + b"R CLFRX0004E: text", True, "decided E"),
        (EXAMPLE_RECORD + b"I com.ibm.X run CLFRX0001I: Started", True, "decided I"),
        (EXAMPLE_RECORD + b"W com.ibm.X run CLFRX0079W: Unable", True, "candidate"),
        (EXAMPLE_RECORD + b"I WebsphereCommonLauncher  CLFRX0332I: x", True, "decided I"),
        (EXAMPLE_RECORD + b"I WebsphereCommonLauncher  CWSCT0332I: x", True, None),
        (EXAMPLE_RECORD + b"E  run CLFRX0058E: x", True, "decided E"),
        (EXAMPLE_RECORD + b"I com.ibm.X run  CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I com.ibm.X run more CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I com.ibm.X\trun CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I com.ibm.\xe9 run CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I com.ibm.X r\xc3\xa9 CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I com.ibm.X run CLFRX0001I\xc2\xa0x", True, "candidate"),
        (EXAMPLE_RECORD + b"I WebSphere Platform CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I MD5Util run CLFRX0001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I com.ibm.X run CLFRX0001I", True, "decided I"),
        (EXAMPLE_RECORD + b"I com.ibm.X run CLFRX0001I\tx", True, "decided I"),
        (EXAMPLE_RECORD + b"I com.ibm.X run CLFRX001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX001I: Started", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX0001i: Started", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX0001Ix", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRXa001I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX0a01I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX00a1I: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX000XI: x", True, "candidate"),
        (EXAMPLE_RECORD + b"I   CLFRX0001I", True, "decided I"),
        (EXAMPLE_RECORD + b"I   CLFRX0079I", True, "decided I"),
        (EXAMPLE_RECORD + b"I   CLFRX0079W", True, "candidate"),
        (EXAMPLE_RECORD + b"@   x", False, None),
        (EXAMPLE_RECORD + b"[   x", False, None),
        (EXAMPLE_RECORD + b"Z   x", True, None),
        (EXAMPLE_RECORD + b"A   x", True, None),
        (EXAMPLE_RECORD + b"I   MD5: A1:0C", True, "candidate"),
        (EXAMPLE_RECORD + b"I \xc2\xa0IssuerDN: CN=x", True, "candidate"),
        (EXAMPLE_RECORD + b"i   MD5: A1:0C", False, None),
        (EXAMPLE_RECORD + b"i   CLFRX0001I: Started", False, "candidate"),
        (EXAMPLE_RECORD + b"I", False, None),
        (EXAMPLE_RECORD + b"I ", True, None),
        (b"[5/10/20 3:09:01:349 UTC] 0000004g APNSService   I   x", False, None),
        (b"[5/10/20 3:09:01:349 UTC] 0000004e APNS]ervice   I   x", True, None),
        (b"[5/10/20 3:09:01:349 UTC] 0000004e APNS\rervice   I   x", False, None),
        (b"[5/10/20\r3:09:01:349 UTC] 0000004e APNSService   I   x", False, None),
        (b"[] 0000004e APNSService   I   x", False, None),
        (b"[X] 0000004e \xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5  E x", True, None),
        (b"[X] 0000004e \xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5 E x", False, None),
        (b"[V] 0000004e Gr\xfc\xdfe]]]]\xe9\xe9\xe9  E   MD5", True, "candidate"),
        (b"        " + b"        WebSphere Platform 8.5", False, "candidate"),
        (b"\x0b\x0cTo (yyyy-mm-dd): 2020-05-07", False, "candidate"),
        (b"   SubjectDN: CN=x", False, "candidate"),
        (b"  CLFRX0001I: not a record", False, "candidate"),
    ],
)
def test_examples(kernel: str, text: bytes, is_record: bool, expected: str | None) -> None:
    """Hand-made lines: a record or not; a candidate, a CLFRX id decided by the kernel (the
    common layouts are, so that the parser need not look), or either (None)."""
    for ending in (b"\n", b"\r\n"):
        data = b"first line\n" + text + ending + b"last line\n"
        index = check(kernel, data)
        assert (11 in index.record_starts.tolist()) is is_record
        if expected == "candidate":
            assert 11 in index.candidates.tolist()
        elif expected is not None:
            assert index.clfrx_starts.tolist() == [11]
            assert bytes(index.clfrx_types) == expected[-1].encode()


# -- real logs and large buffers -----------------------------------------------------------
def whole_lines(data: bytes) -> bytes:
    """The bytes up to and with the last newline."""
    return data[: data.rfind(b"\n") + 1]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(
    "path",
    FIXTURE_FILES,
    ids=[str(p.relative_to(REPO / "fixtures" / "logs")) for p in FIXTURE_FILES],
)
def test_fixture_logs(kernel: str, path: Path) -> None:
    """Every fixture log, whole and cut into regions at random line ends, agrees with the
    references; its regions add up to the whole."""
    data = whole_lines(path.read_bytes())
    whole = check(kernel, data)
    ends = [i + 1 for i, byte in enumerate(data) if byte == 10]
    rng = random.Random(path.name)  # noqa: S311 - test data
    for _ in range(3):
        cuts = sorted({0, len(data), *rng.sample(ends, min(len(ends), rng.randint(1, 12)))})
        lines = 0
        records: list[int] = []
        decided: list[int] = []
        candidates: list[int] = []
        for begin, end in itertools.pairwise(cuts):
            index = check(kernel, data, begin, end)
            assert_same_shifted(index, index_with(kernel, data[begin:end]), begin)
            lines += index.lines
            records += index.record_starts.tolist()
            decided += index.clfrx_starts.tolist()
            candidates += index.candidates.tolist()
        assert lines == whole.lines
        assert records == whole.record_starts.tolist()
        assert decided == whole.clfrx_starts.tolist()
        assert candidates == whole.candidates.tolist()


@pytest.mark.parametrize("kernel", KERNELS)
def test_fixture_logs_have_few_candidates(kernel: str) -> None:
    """The kernel earns its keep on real logs: far fewer candidates than lines, and the
    ordinary CLFRX records decided without the parser."""
    lines = candidates = decided = 0
    for path in FIXTURE_FILES:
        index = index_with(kernel, whole_lines(path.read_bytes()))
        lines += index.lines
        candidates += len(index.candidates)
        decided += len(index.clfrx_starts)
    assert candidates < lines // 4
    assert decided > 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_large_region(kernel: str) -> None:
    """A region of several MiB (many of the numpy kernel's blocks) agrees with the
    references, alone and inside a larger buffer."""
    logs = b"".join(whole_lines(path.read_bytes()) for path in FIXTURE_FILES)
    data = logs * (1 + (3 << 20) // len(logs))
    index = check(kernel, data)
    assert_same_shifted(index_with(kernel, b"CLFR" + data + b"X", 4, 4 + len(data)), index, 4)


def filler(rng: random.Random, size: int) -> bytes:
    """About `size` bytes of lines (records, continuation lines, mark-heavy junk), whole."""
    parts: list[bytes] = []
    total = 0
    while total < size:
        kind = rng.randrange(4)
        if kind == 0:
            text = b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I   ok"
        elif kind == 1:
            text = b"\tat com.ibm.Foo.bar(Foo.java:1)"
        elif kind == 2:
            text = bytes(rng.choice(b"XV]\r[ ab") for _ in range(rng.randrange(200)))
        else:
            text = b"x" * rng.randrange(3000)
        parts.append(text + b"\n")
        total += len(text) + 1
    return b"".join(parts)


INTERESTING = (
    b"[5/10/20 3:09:01:349 UTC] 0000004e APNS]ervice   W CLFRX0079W: x\n"
    b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   A WSVR0001I: y\r\n"
    b"                 To (yyyy-mm-dd): 2020-05-07\n"
    b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I \t\x0b MD5: 00\n"
    b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I   CLFRX0001I: ok\n"
)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shift", range(0, len(INTERESTING), 7))
def test_block_boundaries(kernel: str, shift: int) -> None:
    """Records, anchors and whitespace runs that straddle the kernel's 256 KiB block
    boundaries are found as in a small buffer."""
    rng = random.Random(shift)  # noqa: S311 - test data
    head = filler(rng, BLOCK - 4000)
    pad = BLOCK - shift - len(head) - 1
    head += b"p" * pad + b"\n"
    data = head + INTERESTING + filler(rng, BLOCK) + INTERESTING
    assert len(head) == BLOCK - shift
    index = check(kernel, data)
    n = len(head)
    first = INTERESTING.index(b"\n") + 1
    assert {n, n + first}.issubset(index.candidates.tolist())
    assert n + INTERESTING.rindex(b"\n", 0, -1) + 1 in index.clfrx_starts.tolist()
    assert_same_shifted(index_with(kernel, b"[" + data + b"X", 1, len(data) + 1), index, 1)


# -- the API and the kernels ---------------------------------------------------------------
def test_line_starts_on_request() -> None:
    """Every line's offset is listed only when asked for (line_starts=True); the rest of the
    index is the same either way."""
    data = b"ab\n[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I   MD5\n\n"
    for kernel in KERNELS:
        saved = lineindex.KERNEL
        lineindex.KERNEL = kernel
        try:
            plain = lineindex.index_lines(data, 3)
        finally:
            lineindex.KERNEL = saved
        full = index_with(kernel, data, 3)
        assert len(plain.line_starts) == 0
        assert full.line_starts.tolist() == [3, len(data) - 1]
        assert plain.lines == full.lines == 2
        assert plain.record_starts.tolist() == full.record_starts.tolist() == [3]
        assert plain.candidates.tolist() == full.candidates.tolist() == [3]


def test_default_kernel() -> None:
    """index_lines uses the C kernel when it was built (unless numpy is asked for)."""
    assert lineindex.KERNEL in KERNELS
    if not C_BUILT:
        assert lineindex.KERNEL == "numpy"


@pytest.mark.skipif(
    os.environ.get("STPROXY_MONITOR_TEST_WITHOUT_C") == "1",
    reason="STPROXY_MONITOR_TEST_WITHOUT_C=1: testing an install without a C compiler",
)
def test_c_kernel_is_built() -> None:
    """Where the tests run (.ci/run installs with gcc), the C kernel must have been built:
    else every C-kernel test above would skip and the kernel users get would go untested."""
    assert C_BUILT, (
        "stproxy_monitor.logs._lineindex is not built (no C compiler at install?); set "
        "STPROXY_MONITOR_TEST_WITHOUT_C=1 to test the numpy kernel alone"
    )
    assert lineindex.kernel("c").index(b"x\n", 0, 2, False)[0] == 1


def assert_kernels_agree(data: bytes, begin: int = 0) -> None:
    """Both kernels give the same index of data[begin:], field by field."""
    numpy_index, c_index = (index_with(kernel, data, begin) for kernel in ("numpy", "c"))
    assert numpy_index.lines == c_index.lines
    assert numpy_index.longest == c_index.longest
    assert numpy_index.line_starts.tolist() == c_index.line_starts.tolist()
    assert numpy_index.record_starts.tolist() == c_index.record_starts.tolist()
    assert bytes(numpy_index.record_types) == bytes(c_index.record_types)
    assert numpy_index.clfrx_starts.tolist() == c_index.clfrx_starts.tolist()
    assert bytes(numpy_index.clfrx_types) == bytes(c_index.clfrx_types)
    assert numpy_index.candidates.tolist() == c_index.candidates.tolist()
    assert numpy_index.type_totals.tolist() == c_index.type_totals.tolist()
    assert numpy_index.clfrx_totals.tolist() == c_index.clfrx_totals.tolist()


@pytest.mark.skipif(not C_BUILT, reason="the C kernel is not built")
@SETTINGS
@given(region=regions(), prefix=OUTSIDE)
def test_kernels_agree(region: bytes, prefix: bytes) -> None:
    """lineindex documents that both kernels return the same index: every field, candidates
    and decided CLFRX ids included (not only what the specification fixes)."""
    assert_kernels_agree(prefix + region, len(prefix))


@pytest.mark.skipif(not C_BUILT, reason="the C kernel is not built")
@pytest.mark.parametrize(
    "region",
    [
        b"\t" * 65 + b"hello\n",
        b" " * 600 + b"hello\n",
        b"\t" * 65 + b"MD5: 00\n",
        b" \t" * 40 + b"IssuerDN: CN=x\n",
        EXAMPLE_RECORD + b"I   " + b"\t" * 64 + b"CLFRX0001I: x\n",
        EXAMPLE_RECORD + b"I   " + b"\x0b" * 70 + b"CLFRX0079W: x\n",
    ],
    ids=[
        "65 tabs",
        "600 spaces",
        "65 tabs, MD5",
        "80 mixed, IssuerDN",
        "a record: 2 spaces, 64 tabs, a CLFRX id",
        "a record: 2 spaces, 70 VT, CLFRX0079W",
    ],
)
def test_kernels_agree_after_long_whitespace(region: bytes) -> None:
    """More than 64 steps of leading whitespace (where the numpy kernel stops stepping): the
    kernels still agree, and both meet the specification."""
    assert_kernels_agree(region)
    check_all(region)


@pytest.mark.parametrize("kernel", KERNELS)
def test_halves_indexed_at_once_equal_one_pass(kernel: str) -> None:
    """A region of bytes long enough to be indexed in two halves by two threads gives the
    kernel's one-pass result, field by field; a region that does not end with a newline is
    still refused (the second half's error)."""
    logs = b"".join(whole_lines(path.read_bytes()) for path in FIXTURE_FILES)
    data = b"[x" + logs * (1 + (5 * lineindex.SPLIT_BYTES) // len(logs)) + b"CLFRX"
    end = data.rindex(b"\n") + 1
    assert end - 2 >= 2 * lineindex.SPLIT_BYTES
    saved = lineindex.KERNEL
    lineindex.KERNEL = kernel
    try:
        halves = lineindex.index_lines(data, 2, end, line_starts=True)
        with pytest.raises(ValueError, match="whole lines"):
            lineindex.index_lines(data, 2, len(data))
    finally:
        lineindex.KERNEL = saved
    one_pass = lineindex.from_kernel(lineindex.kernel(kernel).index(data, 2, end, True))
    assert_same_shifted(halves, one_pass, 0)
    assert halves.type_counts() == one_pass.type_counts()
    assert halves.clfrx_counts() == one_pass.clfrx_counts()
