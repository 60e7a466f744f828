"""The numpy kernel of lineindex: what _lineindex.c computes, where it was not built.

The same work as the C kernel, with numpy so that no Python code runs per line (about four
times slower than C, and no Python loop over lines either):

- one pass per 256 KiB block (kept in the CPU cache) marks newlines, CR, ``]`` and the anchor
  bytes ``X`` and ``V``;
- a record line is recognised from the first mark after its ``[``, then checked column by
  column: exactly the bytes lineindex.RECORD_HEADER would match;
- "CLFRX" and "WSVR00" are found from their anchors; the IBM certificate block keys and the
  header's process line ("WebS") and banners ("****") from the first bytes of each line's
  message.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from stproxy_monitor.logs.recordformat import HEADER_SPAN, LETTERS, RECORD_HEADER, Buffer, Kernel

_BLOCK = 256 << 10  # bytes compared per step: the block and its masks stay in the L2 cache
_SKIP_STEPS = 64  # vectorised whitespace steps; longer runs are skipped by a regex, line by line
_WHITESPACE_RUN = re.compile(rb"[\t\x0b\x0c\r\x1c-\x1f ]*")

_LF, _CR, _OPEN, _CLOSE, _SPACE = 10, 13, 91, 93, 32
_ANCHOR_X, _ANCHOR_V = ord("X"), ord("V")

Positions = npt.NDArray[np.int64]
_Flags = npt.NDArray[np.bool_]


def _table(members: bytes | range) -> npt.NDArray[np.bool_]:
    table = np.zeros(256, dtype=bool)
    table[list(members)] = True
    return table


_UPPER = _table(range(ord("A"), ord("Z") + 1))
# Python's str.isspace() among ASCII, without the newline (skipping stops at the line end).
_SKIPPED_SPACE = _table(b"\t\x0b\x0c\r\x1c\x1d\x1e\x1f ")


def _word(text: bytes) -> int:
    return int(np.frombuffer(text, dtype="<u4")[0])


# The first four bytes of a message that may make it a line event
# (parser.LogParser._line_events): the IBM tool's certificate block, the header block's
# process line and its banners.
_MESSAGE_PREFIXES = np.array(
    [_word(prefix) for prefix in (b"Issu", b"Subj", b"From", b"To (", b"WebS", b"****")],
    dtype=np.uint32,
)
_MD5 = _word(b"MD5\0")
_LOW3 = 0x00FFFFFF


def index(data: Buffer, begin: int, end: int, want_lines: bool, /) -> Kernel:
    """Index data[begin:end] (whole lines): the C kernel's result, computed with numpy."""
    if begin < 0 or end < begin or end > len(data):
        raise ValueError("index: begin/end outside the buffer")
    a = np.frombuffer(data, dtype=np.uint8)[begin:end]
    if a.size == 0:
        return 0, 0, b"", b"", b"", b"", b"", b"", bytes(8 * LETTERS), bytes(8 * LETTERS)
    if a[-1] != _LF:
        raise ValueError("index_lines needs whole lines")
    marks = _marks(a)
    kinds = a[marks]
    anchors = marks[(kinds == _ANCHOR_X) | (kinds == _ANCHOR_V)]
    newline_marks = np.flatnonzero(kinds == _LF)
    newlines = marks[newline_marks]
    starts = np.empty(newlines.size, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines[:-1] + 1
    # Index in `marks` of the first mark at or after each line's start (a line start is never
    # a mark itself unless the line is empty or starts with an anchor byte).
    first_mark = np.empty(newlines.size, dtype=np.int64)
    first_mark[0] = 0
    first_mark[1:] = newline_marks[:-1] + 1

    rows, close = _records(data, begin, a, starts, marks, kinds, first_mark)
    record_types = a[close + 25]
    message = starts.copy()
    message[rows] = close + HEADER_SPAN
    candidate = np.zeros(starts.size, dtype=bool)
    position = _message_candidates(a, starts, message, candidate)
    clfrx, wsvr = _anchor_hits(a, anchors)
    line_types = np.zeros(starts.size, dtype=np.uint8)  # 0: not a record
    line_types[rows] = record_types
    clfrx_rows = np.searchsorted(newlines, clfrx)
    decided = _clfrx_ids(a, clfrx, clfrx_rows, message, position, line_types, candidate)
    decided_rows = clfrx_rows[decided]
    candidate[clfrx_rows] = True
    candidate[np.searchsorted(newlines, wsvr)] = True
    candidate[decided_rows] = False
    severities = a[clfrx[decided] + 9]
    return (
        int(newlines.size),
        int((newlines - starts).max()),
        (starts + begin).tobytes() if want_lines else b"",
        (starts[rows] + begin).tobytes(),
        record_types.tobytes(),
        (starts[decided_rows] + begin).tobytes(),
        severities.tobytes(),
        (starts[candidate] + begin).tobytes(),
        _totals(record_types),
        _totals(severities),
    )


def _totals(letters: npt.NDArray[np.uint8]) -> bytes:
    """How many of `letters` (A-Z) are each letter: 26 native int64, as bytes."""
    counts = np.bincount(letters - np.uint8(ord("A")), minlength=LETTERS)
    return counts.astype(np.int64).tobytes()


def _marks(a: npt.NDArray[np.uint8]) -> Positions:
    """Offsets of every newline, CR, "]" and anchor byte (X, V), block by block."""
    block = min(_BLOCK, a.size)
    mark = np.empty(block, dtype=bool)
    scratch = np.empty(block, dtype=bool)
    found: list[Positions] = []
    for offset in range(0, a.size, block):
        part = a[offset : offset + block]
        m, s = mark[: part.size], scratch[: part.size]
        np.equal(part, _LF, out=m)
        for value in (_CR, _CLOSE, _ANCHOR_X, _ANCHOR_V):
            np.equal(part, value, out=s)
            np.bitwise_or(m, s, out=m)
        hits = np.flatnonzero(m)
        hits += offset
        found.append(hits)
    return np.concatenate(found)


def _records(  # noqa: PLR0917 - one step of index_lines, kept apart for reading
    data: Buffer,
    begin: int,
    a: npt.NDArray[np.uint8],
    starts: Positions,
    marks: Positions,
    kinds: npt.NDArray[np.uint8],
    first_mark: Positions,
) -> tuple[Positions, Positions]:
    """Rows of `starts` that are record lines, and the offset of each one's "]"."""
    rows = np.flatnonzero(a[starts] == _OPEN)
    q = _past_anchors(kinds, first_mark[rows])
    close = marks[q]
    # The time field: at least one byte, up to the first "]", no newline or CR before it.
    keep = (kinds[q] == _CLOSE) & (close >= starts[rows] + 2)
    rows, q, close = rows[keep], q[keep], close[keep]
    # The next mark but anchors (there is one: the line's newline) lies past the header's
    # span: then no newline, CR or "]" is in it and the fixed columns decide. Else it is
    # rare: the regex.
    q = _past_anchors(kinds, q + 1)
    clean = marks[q] >= close + HEADER_SPAN
    odd_rows = rows[~clean & (kinds[q] == _CLOSE)]
    rows, close = rows[clean], close[clean]
    # Three loads per record: "] hhhhhh", "hh xxxxx" and " T " (the span ends before the
    # line's newline, so every load stays inside the chunk).
    words = _words8(a)
    first = words[close]
    second = words[close + 8]
    tail = _words4(a)[close + 24]
    hexes = (first >> np.uint64(16)) | (second << np.uint64(48))
    keep = (
        _all_hex(hexes)
        & ((first & _BYTE1) == _SPACE_AT1)
        & ((second & _BYTE2) == _SPACE_AT2)
        & ((tail & _TAIL_MASK) == _TAIL_SPACES)
        & (((tail >> np.uint32(8)) & np.uint32(0xFF)) - np.uint32(65) < 26)
    )
    rows, close = rows[keep], close[keep]
    if odd_rows.size:
        rows, close = _add_odd_records(data, begin, starts, odd_rows, rows, close)
    return rows, close


_ANCHOR = _table(bytes((_ANCHOR_X, _ANCHOR_V)))


def _past_anchors(kinds: npt.NDArray[np.uint8], q: Positions) -> Positions:
    """Each index into the marks moved past anchor marks (X, V) to the next other mark."""
    moved = np.flatnonzero(_ANCHOR[kinds[q]])
    if moved.size:
        q = q.copy()
        while moved.size:
            q[moved] += 1
            moved = moved[_ANCHOR[kinds[q[moved]]]]
    return q


_BYTE1 = np.uint64(0xFF00)
_SPACE_AT1 = np.uint64(0x2000)
_BYTE2 = np.uint64(0xFF0000)
_SPACE_AT2 = np.uint64(0x200000)
_TAIL_MASK = np.uint32(0xFF00FF)
_TAIL_SPACES = np.uint32(0x200020)
_ALL_ONES = np.uint64(0x0101010101010101)
_SPACES8 = np.uint64(0x2020202020202020)


def _words8(a: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """The little-endian 8-byte word starting at each offset of `a` (overlapping, a view)."""
    return np.ndarray(shape=(max(a.size - 7, 0),), dtype="<u8", buffer=a, strides=(1,))


def _words4(a: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """The little-endian 4-byte word starting at each offset of `a` (overlapping, a view)."""
    return np.ndarray(shape=(max(a.size - 3, 0),), dtype="<u4", buffer=a, strides=(1,))


def _all_hex(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    """Whether all eight bytes of each word are hex digits."""
    octets = words.view(np.uint8)
    digit = octets - np.uint8(48)
    letter = (octets | np.uint8(32)) - np.uint8(97)
    return np.asarray(((digit < 10) | (letter < 6)).view(np.uint64) == _ALL_ONES)


def _add_odd_records(  # noqa: PLR0917
    data: Buffer,
    begin: int,
    starts: Positions,
    odd_rows: Positions,
    rows: Positions,
    close: Positions,
) -> tuple[Positions, Positions]:
    """Lines with a second "]" inside the header's span: the regex decides (rare)."""
    extra_rows, extra_close = [], []
    for row in odd_rows.tolist():
        m = RECORD_HEADER.match(data, begin + int(starts[row]))
        if m is not None:
            extra_rows.append(row)
            extra_close.append(m.end(1) - begin)
    if not extra_rows:
        return rows, close
    rows = np.concatenate((rows, np.array(extra_rows, dtype=np.int64)))
    close = np.concatenate((close, np.array(extra_close, dtype=np.int64)))
    order = np.argsort(rows, kind="stable")
    return rows[order], close[order]


_FIRST = _table(b"ISFTMW*" + bytes(range(0x80, 0x100)))


def _message_candidates(
    a: npt.NDArray[np.uint8], starts: Positions, message: Positions, candidate: _Flags
) -> Positions:
    """Where each line's message starts after whitespace (when ASCII); flag the lines whose
    message begins like a line event in `candidate`."""
    rows = np.flatnonzero(_SKIPPED_SPACE[a[message]])
    position = message
    if rows.size:
        position = message.copy()
        words = _words8(a)
        last = words.size - 1
        for _ in range(_SKIP_STEPS):
            # Skip runs of spaces a word at a time, then one other whitespace byte.
            at = position[rows]
            run = np.ones(at.size, dtype=np.int64)
            inside = np.flatnonzero(at <= last)
            if inside.size:
                spaces = words[at[inside]] ^ _SPACES8
                low = spaces & (~spaces + np.uint64(1))
                whole = np.where(spaces == 0, 8, np.bitwise_count(low - np.uint64(1)) >> 3)
                run[inside] = np.maximum(whole, 1)  # a tab, say: one byte
            at += run
            position[rows] = at
            rows = rows[_SKIPPED_SPACE[a[at]]]
            if rows.size == 0:
                break
        else:  # rare, long runs of whitespace (lines are capped): one regex match each
            raw = a.tobytes() if rows.size else b""
            for row in rows.tolist():
                position[row] = _WHITESPACE_RUN.match(raw, int(position[row])).end()  # type: ignore[union-attr]
    first = a[position]
    rows = np.flatnonzero(_FIRST[first])
    # Non-ASCII first bytes may be Unicode whitespace: the parser decides on those.
    candidate[rows[first[rows] >= 0x80]] = True
    rows = rows[position[rows] <= a.size - 4]
    heads = _words4(a)[position[rows]]
    hit = (heads & _LOW3) == _MD5
    for prefix in _MESSAGE_PREFIXES:
        hit |= heads == prefix
    candidate[rows[hit]] = True
    return position


def _anchor_hits(a: npt.NDArray[np.uint8], anchors: Positions) -> tuple[Positions, Positions]:
    """Offsets of every "CLFRX" (anchored on X) and "WSVR00" (anchored on V)."""
    n = a.size
    x = anchors[(anchors >= 4) & (a[anchors] == _ANCHOR_X)]
    clfrx = _having(a, x - 4, 0, b"CLFR")
    v = anchors[(anchors >= 2) & (anchors + 3 < n) & (a[anchors] == _ANCHOR_V)]
    v = _having(a, v, -2, b"WS")
    wsvr = _having(a, v, 1, b"R00") - 2
    return clfrx, wsvr


_DIGIT = _table(b"0123456789")
# What may follow a message id (messages.MESSAGE_ID): ":", whitespace, the end of the line.
_ID_END = _table(b":\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ")
_O_OR_R = _table(b"OR")
_ID_SPAN = 10  # "CLFRX" + 4 digits + the severity letter


def _clfrx_ids(  # noqa: PLR0917 - one step of index_lines, kept apart for reading
    a: npt.NDArray[np.uint8],
    clfrx: Positions,
    rows: Positions,
    message: Positions,
    position: Positions,
    line_types: npt.NDArray[np.uint8],
    keyed: _Flags,
) -> npt.NDArray[np.bool_]:
    """Which "CLFRX" hits are the message id (not CLFRX0079W) of their record, decided as
    messages.message_id decides it.

    The id is the first token of the message when the message starts with two spaces (the
    layout without class and method), the first word of System.out/err records (O, R), else
    the third word, after the class and method names (_third_word_at), unless the message
    begins like a line event (`keyed` by row: the parser must see it).
    """
    if clfrx.size == 0 or a.size <= _ID_SPAN:
        return np.zeros(clfrx.size, dtype=bool)
    types = line_types[rows]
    ok = (types != 0) & (clfrx + _ID_SPAN < a.size)
    clfrx = np.where(ok, clfrx, 0)  # the others are not looked at: keep loads in range
    digits = _DIGIT[a[clfrx + 5]] & _DIGIT[a[clfrx + 6]] & _DIGIT[a[clfrx + 7]]
    ok &= digits & _DIGIT[a[clfrx + 8]] & _UPPER[a[clfrx + 9]] & _ID_END[a[clfrx + 10]]
    failure = _words4(a)[clfrx + 5] == _word(b"0079")
    ok &= ~(failure & (a[clfrx + 9] == ord("W")))
    start = message[rows]
    two_spaces = (a[start] == _SPACE) & (a[np.minimum(start + 1, a.size - 1)] == _SPACE)
    system = _O_OR_R[types]
    at_id = np.where(two_spaces, position[rows] == clfrx, system & (clfrx == start))
    third = np.flatnonzero(ok & ~two_spaces & ~system & ~keyed[rows])
    if third.size:
        at_id[third] = _third_word_at(a, start[third], clfrx[third])
    return np.asarray(ok & at_id)


_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH8 = np.uint64(0x8080808080808080)
_ALL8 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _third_word_at(
    a: npt.NDArray[np.uint8], message: Positions, h: Positions
) -> npt.NDArray[np.bool_]:
    """Whether each h starts the third word of a message starting at `message`, as
    rest.split(" ", 3)[2] finds it: exactly two spaces in [message, h), the second right
    before h, every byte ASCII (then the bytes split as the decoded text does). Eight bytes
    a step over the hits still undecided, kept compact (the class and method names are
    short); bytes past a hit's window are masked to zero, which is neither a space nor
    non-ASCII."""
    words = _words8(a)
    result = np.zeros(h.size, dtype=bool)
    left = h - 1 - message  # bytes before the second space: exactly one space there
    rows = np.flatnonzero((left >= 1) & (a[np.maximum(h - 1, 0)] == _SPACE))
    at, left = message[rows], left[rows]
    spaces = np.zeros(rows.size, dtype=np.uint8)
    while rows.size:
        # every load ends before h + 7 < a.size (the id and the byte after it are inside)
        word = words[at]
        last = left <= 8
        if last.any():
            short = np.minimum(left, 8).astype(np.uint64) * np.uint64(8)
            word &= np.where(last & (left < 8), (np.uint64(1) << short) - np.uint64(1), _ALL8)
        t = word ^ _SPACES8
        spaces += np.bitwise_count(~(((t & _LOW7) + _LOW7) | t | _LOW7))  # 0x80 per space
        ascii_only = (word & _HIGH8) == 0
        done = last & ascii_only
        result[rows[done]] = spaces[done] == 1
        keep = ~last & ascii_only & (spaces <= 1)
        rows, at, left, spaces = rows[keep], at[keep] + 8, left[keep] - 8, spaces[keep]
    return result


def _having(a: npt.NDArray[np.uint8], at: Positions, shift: int, text: bytes) -> Positions:
    """The offsets of `at` where a[at + shift :][: len(text)] == text (all in range)."""
    for i, byte in enumerate(text):
        at = at[a[at + (shift + i)] == byte]
    return at
