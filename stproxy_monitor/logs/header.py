"""The header block of a server start: which lines name the process, and what they name (pure).

Every start appends a block to SystemOut.log::

    ************ Start Display Current Environment ************
    WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name c\\n\\s ...
    ...
    ************* End Display Current Environment *************

Its process line names cell, node and server. What precedes "running with process name" varies
(WAS 6.1 puts two blanks before it; an 8.5.5.9 with an extra Java level writes "WebSphere
[IBMJAVA7 7.0.4.1 gm1318.03]Platform 8.5.5.9 ..."), so a process line is any line of a block
that holds the phrase. A line that starts with "WebSphere " and holds it is one too outside a
block (a read that resumes between the banner and the process line). A record line never is:
that is a record quoting a header. The banner alone is no header: the three-line "Log file
started at" block that opens a rotated file has the same banner and no process line.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable

from stproxy_monitor.logs.events import ProcessHeader
from stproxy_monitor.logs.recordformat import Buffer

START_BANNER = b"************ Start Display Current Environment"
_END_WORDS = b"End Display Current Environment"
_PHRASE = b"running with process name "
# What the lineindex kernels find at the start of a line (after ASCII whitespace): "WebS" and
# "****"; the two line shapes that matter here.
_LEAD = re.compile(rb"[\t\x0b\x0c\r\x1c-\x1f ]*(?:(WebSphere )|\*{12} Start Display Current )")
_RECORD = re.compile(rb"\[[^\]\r\n]+\] [0-9a-fA-F]{8} ")
_NEXT_RECORD = re.compile(rb"\n\[[^\]\r\n]+\] [0-9a-fA-F]{8} ")
_PROCESS = re.compile(
    r"running with process name (?P<cell>[^\\/\s]+)[\\/](?P<node>[^\\/\s]+)"
    r"[\\/](?P<server>\S+) and process id"
)
MAX_BLOCK_LINES = 100  # a real block has 3 to 15 lines: garbage must not be scanned forever


def process_header(line: str) -> ProcessHeader | None:
    """The cell, node and server a process line names; None when it names none."""
    m = _PROCESS.search(line)
    return ProcessHeader(cell=m["cell"], node=m["node"], server=m["server"]) if m else None


class HeaderBlocks:
    """Finds the process lines of a stream's regions (a block may span reads), and so where
    a record ends: at the next record line or process line. (The banner is the same as the
    one of the "Log file started at" block of a rotated file, where a record cut by the
    rotation goes on: so it is the process line that ends a record, not the banner.)"""

    def __init__(self) -> None:
        self._lines_left = 0  # inside a block: how many more lines it may have
        self._starts: list[int] = []  # the current region's process lines

    def region(
        self,
        data: Buffer,
        begin: int,
        end: int,
        candidates: Iterable[int],
        decode: Callable[[Buffer], str],
    ) -> dict[int, ProcessHeader]:
        """The process lines of the region data[begin:end] (whole lines, lineindex's sorted
        `candidates`) by their start, with what each names; record_end then knows them."""
        found = {}
        for start in self.process_lines(data, begin, end, candidates):
            event = process_header(decode(data[start : data.find(b"\n", start, end)]))
            if event is not None:
                found[start] = event
        self._starts = sorted(found)
        return found

    def record_end(self, data: Buffer, pos: int, end: int) -> int:
        """Offset of the first line from `pos` (a line start) that starts a record or is a
        process line of the current region, before `end`; else end."""
        if _RECORD.match(data, pos, end):
            record = pos
        else:
            m = _NEXT_RECORD.search(data, pos, end)
            record = end if m is None else m.start() + 1
        at = bisect_left(self._starts, pos)
        return min(record, self._starts[at]) if at < len(self._starts) else record

    def process_lines(
        self, data: Buffer, begin: int, end: int, candidates: Iterable[int]
    ) -> list[int]:
        """Starts of the lines of data[begin:end] (whole lines) that hold the process phrase
        inside a block, or start with "WebSphere " and hold it; `candidates` are lineindex's
        candidate lines, sorted (the banners and "WebSphere " lines are among them)."""
        found: list[int] = []
        scanned = self._scan_block(data, begin, end, found) if self._lines_left else begin
        for start in candidates:
            if start < scanned:
                continue
            lead = _LEAD.match(data, start, end)
            if lead is None:
                continue
            line_end = data.find(b"\n", start, end)
            if lead[1] is None:  # a Start banner: the block's lines follow
                self._lines_left = MAX_BLOCK_LINES
                scanned = self._scan_block(data, line_end + 1, end, found)
            elif data.find(_PHRASE, start, line_end) >= 0:
                found.append(start)
        return found

    def _scan_block(self, data: Buffer, pos: int, end: int, found: list[int]) -> int:
        """Walk the block's lines from `pos`; return where the walk stopped."""
        while pos < end and self._lines_left:
            if _RECORD.match(data, pos, end):  # a record: the block is over (no End banner)
                self._lines_left = 0
                return pos
            line_end = data.find(b"\n", pos, end)
            self._lines_left -= 1
            if data.find(_END_WORDS, pos, line_end) >= 0 and data.startswith(b"*", pos):
                self._lines_left = 0
            elif data.startswith(START_BANNER, pos):
                self._lines_left = MAX_BLOCK_LINES  # a block that starts again
            elif data.find(_PHRASE, pos, line_end) >= 0:
                found.append(pos)
            pos = line_end + 1
        return pos
