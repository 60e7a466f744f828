"""Follow one log path across WebSphere rotation, truncation, deletion and re-creation.

The log is a sequence of files (logs/files.py): the rotated files in name order, then the live
one. The cursor names the file the reader last read (its identity taken from the very handle it
read) and how far; a poll reads the rest of that file, then every later file of the sequence
from its start. Files are located by identity, never by what a name held a moment ago.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_module
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import BinaryIO

from stproxy_monitor.logs.files import (
    FINGERPRINT_BYTES,
    FileIdentity,
    Opened,
    identify,
    rotated_siblings,
)
from stproxy_monitor.logs.parser import Batch, LogParser

CHUNK_BYTES = 4 << 20
# Bytes one poll reads at most: a long catch-up is many short polls, between which positions
# are saved and a stop request is seen.
POLL_BYTES = 16 << 20
# Enough of a line to tell a record header or the start banner from the rest of a record.
DECIDING_BYTES = 64

Opener = Callable[[str], BinaryIO]
Stat = Callable[[str], os.stat_result]


def open_shared(path: str) -> BinaryIO:
    """Open for reading without blocking a writer's rename (FILE_SHARE_DELETE on Windows)."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        from stproxy_monitor.logs._winopen import open_share_delete  # noqa: PLC0415

        return open_share_delete(path)
    return open(path, "rb")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the reader is: which file, how far into it, and which rotated files are behind it.

    `passed` is the newest rotated file name that was already there while the reader was in
    this file: rotated files named up to it are read (or history), later names are newer files
    (None: not known, e.g. a position saved by an older version).
    """

    identity: FileIdentity | None
    offset: int
    passed: str | None = None


@dataclass(frozen=True, slots=True)
class ReadCounts:
    """What one step of reading adds to a file's reader counters."""

    bytes: int = 0
    rotations: int = 0
    truncations: int = 0
    read_errors: int = 0
    lost_bytes: int = 0


@dataclass(frozen=True, slots=True)
class FileFacts:
    """The followed path as the last poll saw it."""

    present: bool
    size: int
    position: int
    directory: bool = False  # the path names a directory, not a log file


class _UnreadableError(Exception):
    """A file of the log is there but cannot be opened (counted as a read error)."""


class LogFollower:
    """Reads new bytes of one path on every poll; no file is held open between polls."""

    def __init__(
        self,
        path: str,
        parser: LogParser,
        *,
        on_batch: Callable[[Batch], None],
        on_facts: Callable[[FileFacts], None],
        on_counts: Callable[[ReadCounts], None],
        opener: Opener = open_shared,
        stat: Stat = os.stat,
        listdir: Callable[[str], list[str]] = os.listdir,
        chunk_bytes: int = CHUNK_BYTES,
        cursor: Cursor | None = None,
        settle_seconds: float = 1.0,
        poll_bytes: int = POLL_BYTES,
    ) -> None:
        self.path = path
        self.parser = parser
        self._on_batch = on_batch
        self._on_facts = on_facts
        self._on_counts = on_counts
        self._open = opener
        self._stat = stat
        self._listdir = listdir
        self._chunk = chunk_bytes
        self.cursor = cursor or Cursor(None, 0)
        # Where the file read before the current one ended: bytes the parser still holds may
        # have come from there (a failure whose first line ended the rotated file).
        self._previous: Cursor | None = None
        self._settle = settle_seconds
        self._poll_bytes = poll_bytes
        self._left = poll_bytes
        self.behind = False  # the last poll stopped at poll_bytes: there is more to read now
        self._unchanged: tuple[int, int, int, int] | None = None  # stat of a file read to its end
        self._size = 0  # size of the cursor's file when it was last opened
        self.present = False  # the path named a file at the last poll
        self._in_live = cursor is not None  # the cursor's file was the live one when last read
        self._file_start = False  # nothing fed yet from the cursor's file since start_of_file

    # -- the poll ------------------------------------------------------------------------
    def poll(self, now: float) -> int:
        """Read what is new, at most poll_bytes (rotated files first, in order); bytes read."""
        self._left, self.behind = self._poll_bytes, False
        try:
            st: os.stat_result | None = self._stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError:
            self._on_counts(ReadCounts(read_errors=1))
            return 0
        if st is not None and stat_module.S_ISDIR(st.st_mode):
            # A directory where a log was configured: a fact to report, not a read error.
            self.present = False
            self._on_facts(FileFacts(present=False, size=0, position=0, directory=True))
            return 0
        key = None if st is None else (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key is not None and key == self._unchanged and self.cursor.offset == key[2]:
            # Nothing written since the last poll read to the end: no open, no listing (an
            # idle daemon costs a stat per file per poll).
            self._emit(self.parser.idle(now, settle_seconds=self._settle))
            return 0
        self._unchanged = None
        with contextlib.ExitStack() as files:
            try:
                live = self._open_identified(self.path, files)
                read, at_live_end = self._follow(now, live, files)
            except _UnreadableError:  # a file of the log cannot be opened: the position is kept
                return 0
        self.present = bool(live)
        if live:
            self._on_facts(FileFacts(present=True, size=live.size, position=self.cursor.offset))
        else:
            self._on_facts(FileFacts(present=False, size=0, position=0))
        if not self.behind:  # at the end of the data: a pending failure may be complete
            self._emit(self.parser.idle(now, settle_seconds=self._settle))
            if (
                at_live_end
                and live
                and key is not None
                and (live.identity.key == key[:2] and self.cursor.offset == key[2])
            ):
                self._unchanged = key
        return read

    def _follow(
        self, now: float, live: Opened | None, files: contextlib.ExitStack
    ) -> tuple[int, bool]:
        """Read on from the cursor; (bytes read, whether the reader ended in the live file)."""
        cur = self.cursor
        if live is not None and cur.identity is not None and cur.passed is not None:
            if cur.identity.same_file(live.identity) and live.size >= cur.offset:
                self.cursor = Cursor(live.identity, cur.offset, cur.passed)
                return self._read(live, cur.offset, now), True
            if cur.identity.same_file(live.identity) or cur.identity.rewritten(live.identity):
                # Same inode, shorter or other first bytes: truncated (copy-truncate, in place).
                self._on_counts(ReadCounts(truncations=1))
                self._start_of_file()
                self._previous = None
                names = rotated_siblings(self.path, self._listdir)
                passed = os.path.basename(names[-1]) if names else ""
                self.cursor = Cursor(live.identity, 0, passed)  # a copy is not read again
                return self._read(live, 0, now, growing=True), True
        return self._through_rotated(now, live, files)

    def _through_rotated(
        self, now: float, live: Opened | None, files: contextlib.ExitStack
    ) -> tuple[int, bool]:
        """The cursor's file is not the live one: read it and every later file, in order.

        `rotations` counts the files that stopped being the live one: the reader's own, and
        each file that was rotated away before the reader got to it.
        """
        sequence, newest, live = self._sequence(live, files)
        steps, found = self._steps(sequence, live)
        if not found and self._in_live and self.cursor.identity is not None:
            self._on_counts(ReadCounts(rotations=1))  # its file is gone: deleted
            self._in_live = False
        if not steps:
            passed = newest if self.cursor.passed is None else self.cursor.passed
            # Its file gone (or none yet): what comes next is named after `passed`.
            self.cursor = Cursor(None, 0, passed)
            return 0, False
        read = 0
        for index, (file, offset) in enumerate(steps):
            if index or not found:  # on to the next file, from its start
                self._previous = self.cursor if self.cursor.identity is not None else None
                if self._previous is not None:
                    self._start_of_file()
                if file is not live:
                    self._on_counts(ReadCounts(rotations=1))
            elif self._in_live and file is not live:  # the reader's file was rotated away
                self._on_counts(ReadCounts(rotations=1))
            self._in_live = file is live
            passed = newest if file is live else os.path.basename(file.name)
            self.cursor = Cursor(file.identity, offset, passed)
            read += self._read(file, offset, now, growing=file is live)
            if self.behind:  # the cursor stays in this file; the next poll finds it again
                return read, False
        return read, steps[-1][0] is live

    def _sequence(
        self, live: Opened | None, files: contextlib.ExitStack
    ) -> tuple[list[Opened], str, Opened | None]:
        """The log's files in order, the newest rotated name, the live file (None if rotated).

        The live file was opened before the directory is listed: any file rotated away before
        it was created is in the listing, and if the live file itself was rotated since, it is
        there too (under its new name, with the same identity).
        """
        sequence: list[Opened] = []
        for name in rotated_siblings(self.path, self._listdir):
            found = self._open_identified(name, files)  # unreadable: raises, never skipped
            if found is not None:
                sequence.append(found)
        newest = os.path.basename(sequence[-1].name) if sequence else ""
        if live is not None and any(o.identity.key == live.identity.key for o in sequence):
            live = None  # rotated since it was opened: it is read under its new name
        if live is not None:
            sequence.append(live)
        return sequence, newest, live

    def _steps(
        self, sequence: list[Opened], live: Opened | None
    ) -> tuple[list[tuple[Opened, int]], bool]:
        """(file, offset) to read: the rest of the cursor's file, then each later file whole;
        and whether the cursor's file is still there.

        When the cursor's file is gone (deleted, or nothing read yet), after it come the
        rotated files newer than `passed`, then the live file; without `passed` (the first
        poll, a position saved by an older version) the rotated files there are history.
        """
        cur = self.cursor
        if cur.identity is not None:
            for index, file in enumerate(sequence):
                if cur.identity.same_file(file.identity):
                    later = [(o, 0) for o in sequence[index + 1 :]]
                    return [(file, cur.offset), *later], True
            self._on_counts(ReadCounts(lost_bytes=max(0, self._size - cur.offset)))
        passed = cur.passed
        return [
            (file, 0)
            for file in sequence
            if file is live or (passed is not None and os.path.basename(file.name) > passed)
        ], False

    def resume_cursor(self, unconsumed: int) -> Cursor:
        """Where a restart must read again: `unconsumed` bytes before the read position.

        Bytes the parser still holds may go back into the file read before the current one;
        the cursor then points there, and a restart finds that file among the rotated ones.
        """
        cur = self.cursor
        if unconsumed <= cur.offset or self._previous is None:
            return replace(cur, offset=max(0, cur.offset - unconsumed))
        previous = self._previous
        return replace(previous, offset=max(0, previous.offset - (unconsumed - cur.offset)))

    # -- reading -------------------------------------------------------------------------
    def _open_identified(self, name: str, files: contextlib.ExitStack) -> Opened | None:
        """`name` opened, with the identity of what was opened; None: no such file.

        Raises _UnreadableError (the error counted) when the file is there but cannot be opened.
        """
        try:
            handle = files.enter_context(self._open(name))
        except FileNotFoundError:
            return None
        except OSError:
            self._on_counts(ReadCounts(read_errors=1))
            raise _UnreadableError(name) from None
        found = identify(handle)
        if found is None:  # a handle without a file (a test double): identity by name
            try:
                st = self._stat(name)
                handle.seek(0)
                head = handle.read(FINGERPRINT_BYTES)
            except OSError:
                return None
            return Opened(name, handle, FileIdentity(st.st_dev, st.st_ino, head), st.st_size)
        identity, size = found
        return Opened(name, handle, identity, size)

    def _start_of_file(self) -> None:
        """The next bytes fed come from the start of another file (or a truncated one)."""
        self.parser.start_of_file()
        self._file_start = True

    def _read(self, file: Opened, offset: int, now: float, *, growing: bool = True) -> int:
        """Read `file` from `offset` to its end (or poll_bytes) in chunks; feed the parser.

        The first bytes of a file after a line left unfinished in the previous one decide
        whether they go on with that line (a record split across a rotation) or start anew:
        while the file may still grow they are fed only once there are enough to tell.
        """
        start = offset
        self._size = file.size
        try:
            if self._file_start and growing and self.parser.partial_bytes:
                file.handle.seek(offset)
                head = file.handle.read(DECIDING_BYTES)
                if len(head) < DECIDING_BYTES and b"\n" not in head:
                    return 0
            self._file_start = False
            file.handle.seek(offset)
            while chunk := file.handle.read(min(self._chunk, self._left)):
                offset += len(chunk)
                self._left -= len(chunk)
                self.behind = self._left <= 0
                # Before parsing: a chunk whose events were applied is never read again,
                # even if the parser or the state raises on a later one.
                self.cursor = replace(self.cursor, offset=offset)
                self._size = max(self._size, offset)
                self._emit(self.parser.feed(chunk, now))
        except OSError:
            self._on_counts(ReadCounts(read_errors=1))
        self.cursor = replace(self.cursor, offset=offset)
        if offset > start:
            self._on_counts(ReadCounts(bytes=offset - start))
        return offset - start

    def _emit(self, batch: Batch) -> None:
        """Hand a non-empty batch to the state."""
        if batch.lines or batch.events or batch.long_lines or batch.severities:
            self._on_batch(batch)
