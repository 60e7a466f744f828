"""Turn WebSphere SystemOut.log bytes into events (pure: no files, no clock, no logging)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from stproxy_monitor.config import ParseOptions
from stproxy_monitor.logs.certstatus import IBM_BLOCK, IbmBlock, pattern_status
from stproxy_monitor.logs.endpoints import (
    HANDSHAKE_MESSAGE_ID,
    HANDSHAKE_SEVERITY,
    handshake_events,
    handshake_record_starts,
    legacy_events,
)
from stproxy_monitor.logs.events import ApnsFailure, Event, ServerLifecycle
from stproxy_monitor.logs.header import START_BANNER, HeaderBlocks
from stproxy_monitor.logs.lineindex import LineIndex, cap_lines, index_lines
from stproxy_monitor.logs.messages import LIFECYCLE, message_id, server_word
from stproxy_monitor.logs.reasons import classify_reason
from stproxy_monitor.logs.recordformat import RECORD_HEADER, RECORD_START, Buffer
from stproxy_monitor.logs.timestamps import parse_timestamp


@dataclass(slots=True)
class Batch:
    """What one chunk of complete lines held: severity counts and events, in order."""

    severities: Counter[str] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    lines: int = 0
    long_lines: int = 0
    unparsed_timestamps: int = 0
    records: int = 0
    # CLFRX message ids (any, CLFRX0079W too) by their severity letter.
    clfrx: Counter[str] = field(default_factory=Counter)
    # Severities of the records after each ProcessHeader event, one Counter per header in
    # order (the rest of `severities` came before the first): a header renames what follows.
    header_segments: list[Counter[str]] = field(default_factory=list)
    clfrx_segments: list[Counter[str]] = field(default_factory=list)  # the same for `clfrx`


@dataclass(slots=True)
class _Pending:
    """A CLFRX0079W record whose continuation lines may still come."""

    lines: list[str]
    timestamp: float | None
    since: float
    raw_bytes: int = 0


class LogParser:
    """Incremental parser of one log stream; the stream continues across rotations."""

    def __init__(self, options: ParseOptions | None = None) -> None:
        self.options = options or ParseOptions()
        self._partial = bytearray()
        self._skipping_long_line = False
        self._skipped_bytes = 0
        self._file_start = False
        self._pending: _Pending | None = None
        self._learned_order: str | None = None
        self._block = IbmBlock()
        self._headers = HeaderBlocks()
        # The current region's first record and its time (read whatever the record holds).
        self._first_record: tuple[int, float | None] | None = None

    # -- feeding -------------------------------------------------------------------------
    def feed(self, data: Buffer, now: float) -> Batch:
        """Consume bytes; complete lines are parsed, a trailing partial line waits."""
        batch = Batch()
        for buffer, begin, end in self._take_complete_lines(data, batch):
            self._parse_lines(buffer, begin, end, now, batch)
        return batch

    def idle(self, now: float, *, settle_seconds: float = 1.0) -> Batch:
        """At end of data: emit a pending failure record once it cannot grow any more."""
        batch = Batch()
        pending = self._pending
        if pending is not None and (
            classify_reason("\n".join(pending.lines)) != "other"
            or now - pending.since >= settle_seconds
        ):
            self._emit_pending(now, batch)
        return batch

    def finish(self, now: float) -> Batch:
        """End of input (scan): the last line counts even without its newline."""
        batch = Batch()
        if self._partial:
            line = self._release_held_line()
            self._parse_lines(line, 0, len(line), now, batch)
        self._emit_pending(now, batch)
        return batch

    def start_of_file(self) -> None:
        """The next bytes fed come from the start of another file (rotation, re-creation)."""
        self._file_start = True

    @property
    def has_pending(self) -> bool:
        """True while a CLFRX0079W record may still get continuation lines."""
        return self._pending is not None

    @property
    def partial_bytes(self) -> int:
        """Bytes of an unfinished last line held back until its newline arrives."""
        return len(self._partial)

    @property
    def unconsumed_bytes(self) -> int:
        """Bytes read but not yet turned into events: the partial line and a pending record.

        A saved position is the read offset minus this, so that a restart reads them again.
        """
        pending = self._pending.raw_bytes if self._pending is not None else 0
        return len(self._partial) + self._skipped_bytes + pending

    def _take_complete_lines(self, data: Buffer, batch: Batch) -> list[tuple[Buffer, int, int]]:
        """The whole lines of data, the held partial line first, as (buffer, begin, end)
        regions in order; keep the rest, cap lengths. The bulk of data is not copied."""
        cap = self.options.max_line_bytes
        regions: list[tuple[Buffer, int, int]] = []
        first_of_file, self._file_start = self._file_start, False
        if (
            first_of_file
            and self._partial
            and (RECORD_START.match(data) or data.startswith(START_BANNER))
        ):
            # A line never goes on with a new record: the file that held its start was
            # replaced (deleted, truncated) before the line was finished. Only at the start
            # of another file: inside one file, a read may end just before a quoted record.
            line = self._release_held_line()
            regions.append((line, 0, len(line)))
        end = data.rfind(b"\n")
        if end < 0:
            self._hold(data, cap, batch)
            return regions
        begin = 0
        if self._partial or self._skipping_long_line:
            first = data.find(b"\n")
            self._hold(data[:first], cap, batch)
            line = self._release_held_line()
            regions.append((line, 0, len(line)))
            begin = first + 1
        self._hold(data[end + 1 :], cap, batch)
        if begin <= end:
            regions.append((data, begin, end + 1))
        return regions

    def _hold(self, data: Buffer, cap: int, batch: Batch) -> None:
        """Keep an unfinished line, at most cap bytes of it; count a line that overflows."""
        if not data:
            return
        if self._skipping_long_line:
            self._skipped_bytes += len(data)
            return
        room = cap - len(self._partial)
        if len(data) > room:
            self._partial.extend(data[: max(room, 0)])
            self._skipped_bytes = len(data) - max(room, 0)
            self._skipping_long_line = True
            batch.long_lines += 1
            return
        self._partial.extend(data)

    def _release_held_line(self) -> bytes:
        """The held line, now complete (a long one cut to the cap), with its newline."""
        line = bytes(self._partial) + b"\n"
        self._partial.clear()
        self._skipping_long_line = False
        self._skipped_bytes = 0
        return line

    # -- parsing -------------------------------------------------------------------------
    def _parse_lines(self, data: Buffer, begin: int, end: int, now: float, batch: Batch) -> None:
        """Parse the whole lines data[begin:end]: counted at C speed (lineindex), only the
        candidate lines are looked at in Python."""
        every_line = bool(self.options.certificate_patterns)
        index = index_lines(data, begin, end, line_starts=every_line)
        if index.longest > self.options.max_line_bytes:  # rare: cut them, index again
            data, begin, end, cut = cap_lines(data, begin, end, self.options.max_line_bytes)
            batch.long_lines += cut
            index = index_lines(data, begin, end, line_starts=every_line)
        batch.lines += index.lines
        counts = index.type_counts()
        batch.severities.update(counts)
        batch.records += sum(counts.values())
        process = self._headers.region(data, begin, end, index.candidates.tolist(), self._decode)
        self._first_record = None
        if index.record_starts:  # read whatever it holds: a time format not understood shows
            first = index.record_starts[0]
            self._first_record = (first, self._record_time(data, first, end, batch))
        # Events come in stream order: a failure when its record ends, after the line events
        # (certificate lines) of its continuation lines, however the stream was cut.
        done = self._continue_pending(data, begin, end)
        lines = (index.line_starts if every_line else index.candidates).tolist()
        handshakes = [] if every_line else handshake_record_starts(index, data, end)
        if process or handshakes:  # neither need be a kernel's candidate
            lines = sorted({*lines, *process, *handshakes})
        headers: list[int] = []
        clfrx: list[tuple[int, str]] = []  # CLFRX ids found here, by record start
        for start in lines:
            if start >= done:
                self._end_pending(done, end, now, batch)
            if start in process:
                batch.events.append(process[start])
                headers.append(start)
                continue
            line_end = data.find(b"\n", start, end)
            header = RECORD_HEADER.match(data, start, line_end)
            # What follows a record's header, else the whole line: decoded once for both.
            message = self._decode(data[header.end() if header else start : line_end])
            self._line_events(message, batch)
            if start >= done and RECORD_START.match(data, start, line_end):
                done = self._record_events(data, line_end, end, header, message, now, batch, clfrx)
        self._end_pending(done, end, now, batch)
        self._first_record = None
        # Every line was looked at: lineindex's own CLFRX decisions would count twice.
        _split_by_headers(index, clfrx, headers, end, batch, decided=not every_line)

    def _continue_pending(self, data: Buffer, begin: int, end: int) -> int:
        """Add the region's leading continuation lines to a pending record; return where it
        ends (begin when nothing is pending)."""
        if self._pending is None:
            return begin
        record_end = self._headers.record_end(data, begin, end)
        room = _MAX_RECORD_LINES - len(self._pending.lines)
        if room > 0:  # a trace that never ends must not grow the record without bound
            self._pending.lines.extend(self._decode_lines(data, begin, record_end)[:room])
        self._pending.raw_bytes += record_end - begin
        return record_end

    def _end_pending(self, record_end: int, region_end: int, now: float, batch: Batch) -> None:
        """Emit the pending failure if its record ended inside the region."""
        if self._pending is not None and record_end < region_end:
            self._emit_pending(now, batch)

    def _record_events(  # noqa: PLR0917 - private hot-path helper
        self,
        data: Buffer,
        line_end: int,
        end: int,
        header: re.Match[bytes] | None,
        rest: str,
        now: float,
        batch: Batch,
        clfrx: list[tuple[int, str]],
    ) -> int:
        """Events of a record whose line ends at `line_end`; return the offset where it is done.

        A CLFRX id goes on `clfrx` with the record's start (counted by header segment later).
        """
        if header is None:
            return line_end + 1
        severity = chr(header[2][0])
        found = message_id(rest, severity)
        if found is None:
            return line_end + 1
        if found.startswith("CLFRX"):
            clfrx.append((header.start(), found[-1]))
        if found == HANDSHAKE_MESSAGE_ID and severity == HANDSHAKE_SEVERITY:
            batch.events.extend(handshake_events(rest))
        if found == "CLFRX0079W":
            self._emit_pending(now, batch)
            start = header.start()
            record_end = self._headers.record_end(data, line_end + 1, end)
            lines = [
                self._decode(data[start:line_end]),
                *self._decode_lines(data, line_end + 1, record_end),
            ]
            self._pending = _Pending(
                lines=lines,
                timestamp=self._record_time(data, start, line_end, batch),
                since=now,
                raw_bytes=record_end - start,
            )
            return record_end
        state = LIFECYCLE.get(found)
        if state is not None:
            when = self._record_time(data, header.start(), line_end, batch)
            batch.events.append(
                ServerLifecycle(
                    state=state,
                    server=server_word(rest),
                    timestamp=now if when is None else when,
                    timestamp_parsed=when is not None,
                )
            )
        return line_end + 1

    def _emit_pending(self, now: float, batch: Batch) -> None:
        """Emit the pending CLFRX0079W record as an APNS failure."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        text = "\n".join(pending.lines)
        reason = classify_reason(text)
        batch.events.extend(legacy_events(text))
        when = pending.timestamp
        batch.events.append(
            ApnsFailure(
                reason=reason,
                timestamp=now if when is None else when,
                timestamp_parsed=when is not None,
            )
        )

    def _line_events(self, message: str, batch: Batch) -> None:
        """Line-level facts: certificate-status lines (the IBM tool's block, user patterns).

        The message is what follows a record's header, else the whole line; the IBM tool's
        keys start it (after whitespace): lineindex finds such lines.
        """
        block = IBM_BLOCK.match(message.lstrip())
        if block:
            event = self._block.line(block["key"], block["value"])
            if event is not None:
                batch.events.append(event)
        for pattern in self.options.certificate_patterns:
            found = pattern.regex.search(message)
            if found:
                event = pattern_status(found, pattern.date_format)
                if event is not None:
                    batch.events.append(event)

    def _record_time(self, data: Buffer, start: int, end: int, batch: Batch) -> float | None:
        """Epoch seconds of the record at `start`; None if unreadable (counted once)."""
        first = self._first_record
        if first is not None and first[0] == start:
            return first[1]
        header = RECORD_HEADER.match(data, start, end)
        return None if header is None else self._time(self._decode(header[1]), batch)

    def _time(self, text: str, batch: Batch) -> float | None:
        """Epoch seconds of a record's time, learning the file's date order; None if unreadable."""
        opts = self.options
        parsed = parse_timestamp(text, date_order=opts.date_order, tz=opts.timezone)
        if parsed is not None and not parsed.certain and self._learned_order:
            parsed = parse_timestamp(text, date_order=self._learned_order, tz=opts.timezone)
        elif parsed is not None and parsed.certain and opts.date_order is None:
            self._learned_order = parsed.date_order
        if parsed is None:
            batch.unparsed_timestamps += 1
            return None
        return parsed.epoch

    def _decode(self, raw: Buffer) -> str:
        """Bytes of one line to text: the configured encoding, never an exception."""
        return (
            raw[: self.options.max_line_bytes].decode(self.options.encoding, "replace").rstrip("\r")
        )

    def _decode_lines(self, data: Buffer, begin: int, end: int) -> list[str]:
        """Continuation lines data[begin:end], decoded, at most 200 kept (a record's text is
        capped too)."""
        parts = data[begin:end].split(b"\n", _MAX_RECORD_LINES)[:-1]
        return [self._decode(part) for part in parts[:_MAX_RECORD_LINES]]


_MAX_RECORD_LINES = 200  # lines of a failure record kept for its reason, over all reads


def _split_by_headers(
    index: LineIndex,
    found: list[tuple[int, str]],
    headers: list[int],
    end: int,
    batch: Batch,
    *,
    decided: bool,
) -> None:
    """CLFRX ids (found by the parser, plus lineindex's own when `decided`) and records by
    type, before and after each process header of the region (a header renames what follows).
    What comes before the region's first header goes on the batch's last segment when an
    earlier region of the batch had one."""

    def clfrx(start: int, stop: int) -> Counter[str]:
        counts = Counter(index.clfrx_counts(start, stop) if decided else {})
        counts.update(letter for offset, letter in found if start <= offset < stop)
        return counts

    first = headers[0] if headers else end
    batch.clfrx.update(clfrx(0, end))
    if batch.header_segments:
        batch.header_segments[-1].update(index.type_counts(0, first))
        batch.clfrx_segments[-1].update(clfrx(0, first))
    for number, start in enumerate(headers):
        stop = headers[number + 1] if number + 1 < len(headers) else end
        batch.header_segments.append(Counter(index.type_counts(start, stop)))
        batch.clfrx_segments.append(clfrx(start, stop))
