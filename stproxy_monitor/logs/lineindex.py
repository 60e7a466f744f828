"""Index a chunk of whole log lines at C speed: lines, records by type, lines worth a look.

Most bytes of a SystemOut.log are not interesting: the parser only needs to know how many lines
and records there are, the event type letter of each record, the CLFRX ids it can decide
without Python, and which few lines may hold an event. A kernel finds all that in one pass:
the C one (_lineindex.c, built at install where a C compiler exists) or, else, the numpy one
(_npindex.py, about four times slower). Both return the same tuple; the tests compare them
with each other and with plain-Python references.

The candidate lines are a superset: the parser decides on each of them in Python, so a false
candidate costs time, never a wrong count.
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import Protocol

from stproxy_monitor.logs.recordformat import Buffer, Kernel


class _KernelModule(Protocol):
    def index(self, data: Buffer, begin: int, end: int, want_lines: bool, /) -> Kernel: ...


def _c_kernel() -> _KernelModule | None:
    try:
        from stproxy_monitor.logs import _lineindex  # noqa: PLC0415 - optional, built at install
    except ImportError:  # installed without a C compiler: numpy does the same work
        return None
    return _lineindex


_C = _c_kernel()
# Which kernel indexes: "c" when it was built, else "numpy". STPROXY_MONITOR_KERNEL=numpy
# forces numpy (the benchmarks compare both; the tests run both). numpy is only imported
# when it is used.
KERNEL = "numpy" if _C is None or os.environ.get("STPROXY_MONITOR_KERNEL") == "numpy" else "c"


def kernel(name: str) -> _KernelModule:
    """The kernel module called `name` ("c" or "numpy")."""
    if name == "c":
        if _C is None:
            raise RuntimeError("the C kernel of lineindex is not built")
        return _C
    from stproxy_monitor.logs import _npindex  # noqa: PLC0415 - numpy only when it is used

    return _npindex


@dataclass(frozen=True, slots=True)
class LineIndex:
    """What a chunk of whole lines holds; offsets are absolute in the buffer indexed.

    Offsets are memoryviews of int64 (indexable, .tolist()); letters are bytes of ASCII codes.
    """

    lines: int
    longest: int  # bytes of the longest line, without its newline
    line_starts: memoryview  # offset of every line (empty unless asked for)
    record_starts: memoryview  # sorted offsets of record lines
    record_types: bytes  # their event type letters
    # Records whose message id is a CLFRX id other than CLFRX0079W, decided by the kernel:
    # their starts and the id's severity letter. They are not candidates.
    clfrx_starts: memoryview
    clfrx_types: bytes
    candidates: memoryview  # sorted, distinct starts of lines that may hold an event
    # how many records, and decided CLFRX records, have each letter A-Z (memoryviews of int64)
    type_totals: memoryview
    clfrx_totals: memoryview

    def type_counts(self, start: int = 0, end: int | None = None) -> dict[str, int]:
        """Records by type letter among those that start at offsets in [start, end)."""
        return _letter_counts(self.record_starts, self.record_types, self.type_totals, start, end)

    def clfrx_counts(self, start: int = 0, end: int | None = None) -> dict[str, int]:
        """The decided CLFRX records by severity among those starting in [start, end)."""
        return _letter_counts(self.clfrx_starts, self.clfrx_types, self.clfrx_totals, start, end)


_LETTERS = [bytes((code,)) for code in range(ord("A"), ord("Z") + 1)]
_NAMES = [letter.decode() for letter in _LETTERS]


def _letter_counts(
    starts: memoryview, letters: bytes, totals: memoryview, start: int, end: int | None
) -> dict[str, int]:
    """Counts of `letters` whose `starts` lie in [start, end): the kernel's totals when the
    range holds them all (the common case), else counted."""
    if not starts or (start <= starts[0] and (end is None or end > starts[-1])):
        return {
            letter.decode(): n for letter, n in zip(_LETTERS, totals.tolist(), strict=True) if n
        }
    lo = bisect_left(starts, start)
    hi = len(starts) if end is None else bisect_left(starts, end, lo)
    letters = letters[lo:hi]
    counts = {}
    for letter in _LETTERS:
        count = letters.count(letter)
        if count:
            counts[letter.decode()] = count
    return counts


# A region of bytes at least twice this long is indexed in two halves at once, the second by a
# thread: the kernels run without the GIL on bytes (the C one entirely, numpy in its array
# operations), so two cores index it where there are two. Both halves are whole lines, and a
# line is indexed alone (the kernels' regions add up: tests), so the result is the same.
SPLIT_BYTES = 1 << 20


def index_lines(
    data: Buffer, begin: int = 0, end: int | None = None, *, line_starts: bool = False
) -> LineIndex:
    """Index data[begin:end], which must be whole lines (empty, or ending with a newline).

    line_starts: also list every line's offset (else LineIndex.line_starts is empty).
    """
    end = len(data) if end is None else end
    module = kernel(KERNEL)
    whole = begin >= 0 and end <= len(data)
    if isinstance(data, bytes) and whole and end - begin >= 2 * SPLIT_BYTES:
        middle = data.find(b"\n", begin + (end - begin) // 2, end) + 1
        if 0 < middle < end:
            return from_kernel(_in_halves(module, data, begin, middle, end, line_starts))
    return from_kernel(module.index(data, begin, end, line_starts))


def _in_halves(  # noqa: PLR0917 - index_lines' arguments, split
    module: _KernelModule, data: bytes, begin: int, middle: int, end: int, want_lines: bool
) -> Kernel:
    """The kernel's result for data[begin:end], from [begin, middle) here and [middle, end)
    in a thread at the same time, joined."""
    second: list[Kernel | ValueError] = []

    def index_second() -> None:
        try:
            second.append(module.index(data, middle, end, want_lines))
        except ValueError as exc:  # not whole lines: raised below, as without the split
            second.append(exc)

    thread = threading.Thread(target=index_second, name="lineindex-half")
    thread.start()
    try:
        first = module.index(data, begin, middle, want_lines)
    finally:
        thread.join()
    other = second[0]
    if isinstance(other, ValueError):
        raise other
    totals = [
        array("q", map(sum, zip(memoryview(a).cast("q"), memoryview(b).cast("q"), strict=True)))
        for a, b in ((first[8], other[8]), (first[9], other[9]))
    ]
    return (
        first[0] + other[0],
        max(first[1], other[1]),
        first[2] + other[2],
        first[3] + other[3],
        first[4] + other[4],
        first[5] + other[5],
        first[6] + other[6],
        first[7] + other[7],
        totals[0].tobytes(),
        totals[1].tobytes(),
    )


def from_kernel(result: Kernel) -> LineIndex:
    """A LineIndex from a kernel's tuple."""
    lines, longest, starts, records, types, clfrx, clfrx_types, candidates, totals, clfrx_totals = (
        result
    )
    return LineIndex(
        lines=lines,
        longest=longest,
        line_starts=memoryview(starts).cast("q"),
        record_starts=memoryview(records).cast("q"),
        record_types=types,
        clfrx_starts=memoryview(clfrx).cast("q"),
        clfrx_types=clfrx_types,
        candidates=memoryview(candidates).cast("q"),
        type_totals=memoryview(totals).cast("q"),
        clfrx_totals=memoryview(clfrx_totals).cast("q"),
    )


def cap_lines(data: Buffer, begin: int, end: int, cap: int) -> tuple[Buffer, int, int, int]:
    """The whole lines data[begin:end] with those longer than cap bytes cut to cap:
    (buffer, begin, end, lines cut), the input itself when no line is too long.

    A line longer than cap covers a whole tile of cap // 2 bytes without a newline: one
    memchr per tile finds them.
    """
    tile = max(cap // 2, 1)
    parts: list[Buffer] = []
    copied = tile_start = begin
    cut = 0
    while tile_start < end:
        if data.find(b"\n", tile_start, min(tile_start + tile, end)) >= 0:
            tile_start += tile
            continue
        start = data.rfind(b"\n", begin, tile_start) + 1 or begin
        line_end = data.find(b"\n", tile_start, end)
        if line_end - start > cap:
            parts.append(data[copied : start + cap])
            copied = line_end
            cut += 1
        tile_start = line_end + 1
    if not parts:
        return data, begin, end, 0
    parts.append(data[copied:end])
    joined = b"".join(parts)
    return joined, 0, len(joined), cut
