"""Follow one log path across WebSphere rotation, truncation, deletion and re-creation."""

from __future__ import annotations

import os
import re
import stat as stat_module
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from stproxy_monitor.logs.parser import Batch, LogParser

FINGERPRINT_BYTES = 1024
CHUNK_BYTES = 4 << 20
# Bytes one poll reads at most: a long catch-up is many short polls, between which positions
# are saved and a stop request is seen.
POLL_BYTES = 16 << 20

Opener = Callable[[str], BinaryIO]
Stat = Callable[[str], os.stat_result]


def open_shared(path: str) -> BinaryIO:
    """Open for reading without blocking a writer's rename (FILE_SHARE_DELETE on Windows)."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        from stproxy_monitor.logs._winopen import open_share_delete  # noqa: PLC0415

        return open_share_delete(path)
    return open(path, "rb")


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What makes a file the same file: device, inode and its first bytes."""

    device: int
    inode: int
    fingerprint: bytes

    @property
    def key(self) -> tuple[int, int]:
        """Device and inode."""
        return self.device, self.inode

    def same_file(self, other: FileIdentity) -> bool:
        """Same device and inode, and the shorter fingerprint is a prefix of the longer."""
        if (self.device, self.inode) != (other.device, other.inode):
            return False
        short, long_ = sorted((self.fingerprint, other.fingerprint), key=len)
        return long_.startswith(short)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the reader is: which file, and how far into it."""

    identity: FileIdentity | None
    offset: int


class LogFollower:
    """Reads new bytes of one path on every poll; the file is never held open between polls."""

    def __init__(
        self,
        path: str,
        parser: LogParser,
        *,
        on_batch: Callable[[Batch], None],
        on_facts: Callable[..., None],
        on_counts: Callable[..., None],
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

    # -- the poll ------------------------------------------------------------------------
    def poll(self, now: float) -> int:  # noqa: PLR0911 - one return per case of the file's life
        """Read what is new, at most poll_bytes (draining rotated files first); bytes read."""
        self._left, self.behind = self._poll_bytes, False
        try:
            st = self._stat(self.path)
        except FileNotFoundError:
            return self._gone(now)
        except OSError:
            self._on_counts(read_errors=1)
            return 0
        if stat_module.S_ISDIR(st.st_mode):
            # A directory where a log was configured: a fact to report, not a read error.
            self._on_facts(present=False, directory=True, size=0, position=0)
            return 0
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key == self._unchanged and self.cursor.offset == st.st_size:
            # Nothing written since the last poll read to the end: no open, no fingerprint
            # (an idle daemon costs a stat per file per poll).
            self._emit(self.parser.idle(now, settle_seconds=self._settle))
            return 0
        self._unchanged = None
        identity = self._identity(self.path, st)
        if identity is None:
            return 0
        read = 0
        cur = self.cursor
        if cur.identity is not None and not cur.identity.same_file(identity):
            read += self._rotated(now, cur, identity)
            if self.behind:  # the rotated files are finished at the next poll
                return read
            cur = self.cursor
        elif cur.identity is not None and st.st_size < cur.offset:
            self._on_counts(truncations=1)
            self.parser.start_of_file()
            self._previous = None
            cur = Cursor(identity, 0)
        self.cursor = Cursor(identity, cur.offset)
        read += self._read(self.path, now)
        self._on_facts(present=True, directory=False, size=st.st_size, position=self.cursor.offset)
        if not self.behind:  # at the end of the data: a pending failure may be complete
            self._emit(self.parser.idle(now, settle_seconds=self._settle))
            if self.cursor.offset == st.st_size:
                self._unchanged = key
        return read

    def _gone(self, now: float) -> int:
        """The path names no file: drain the file it named if it was renamed, then wait."""
        read = 0
        if self.cursor.identity is not None:
            read = self._drain_renamed(now, self.cursor)
            if self.behind:
                return read
            self._on_counts(rotations=1)
            self.parser.start_of_file()
            self.cursor = Cursor(None, 0)
        self._on_facts(present=False, directory=False, size=0, position=0)
        self._emit(self.parser.idle(now, settle_seconds=self._settle))
        return read

    def _rotated(self, now: float, cur: Cursor, new: FileIdentity) -> int:
        """The path names another file: finish the old one and any rotated in between."""
        if cur.identity is not None and (cur.identity.device, cur.identity.inode) == (
            new.device,
            new.inode,
        ):
            # Same inode, other first bytes: truncated and rewritten in place.
            self._on_counts(truncations=1)
            self.parser.start_of_file()
            self._previous = None
            self.cursor = Cursor(new, 0)
            return 0
        read = self._drain_renamed(now, cur)
        if self.behind:
            return read
        self._on_counts(rotations=1)
        self.parser.start_of_file()
        self.cursor = Cursor(new, 0)
        return read

    def _drain_renamed(self, now: float, cur: Cursor) -> int:
        """Find the old file among rotated siblings by identity; read its rest and later ones."""
        siblings = self._rotated_siblings()
        found = None
        for index, (_name, identity) in enumerate(siblings):
            if cur.identity is not None and identity.same_file(cur.identity):
                found = index
                self.cursor = Cursor(identity, cur.offset)
                break
        if found is None:
            self._previous = None
            return 0
        read = 0
        for position, (name, identity) in enumerate(siblings[found:]):
            if position:
                # A later rotated file was itself created and rotated away since the last poll.
                self.parser.start_of_file()
                self._previous = self.cursor
                self.cursor = Cursor(identity, 0)
                self._on_counts(rotations=1)
            read += self._read(name, now)
            if self.behind:  # the cursor stays in this file; the next poll finds it again
                return read
        self._previous = self.cursor
        return read

    def resume_cursor(self, unconsumed: int) -> Cursor:
        """Where a restart must read again: `unconsumed` bytes before the read position.

        Bytes the parser still holds may go back into the file read before the current one;
        the cursor then points there, and a restart finds that file among the rotated ones.
        """
        cur = self.cursor
        if unconsumed <= cur.offset or self._previous is None:
            return Cursor(cur.identity, max(0, cur.offset - unconsumed))
        previous = self._previous
        return Cursor(previous.identity, max(0, previous.offset - (unconsumed - cur.offset)))

    # -- reading -------------------------------------------------------------------------
    def _read(self, name: str, now: float) -> int:
        """Read from the cursor to the end of `name` (or poll_bytes) in chunks; feed the parser."""
        offset = self.cursor.offset
        start = offset
        identity = self.cursor.identity
        try:
            with self._open(name) as handle:
                opened = _opened_file(handle)
                if identity is not None and opened not in (None, identity.key):
                    return 0  # the name now holds another file: the next poll finds ours
                handle.seek(offset)
                while chunk := handle.read(min(self._chunk, self._left)):
                    offset += len(chunk)
                    self._left -= len(chunk)
                    self.behind = self._left <= 0
                    # Before parsing: a chunk whose events were applied is never read again,
                    # even if the parser or the state raises on a later one.
                    self.cursor = Cursor(self.cursor.identity, offset)
                    self._emit(self.parser.feed(chunk, now))
        except FileNotFoundError:
            pass
        except OSError:
            self._on_counts(read_errors=1)
        self.cursor = Cursor(self.cursor.identity, offset)
        if offset > start:
            self._on_counts(bytes=offset - start)
            self._on_facts(last_read=now)
        return offset - start

    def _emit(self, batch: Batch) -> None:
        """Hand a non-empty batch to the state."""
        if batch.lines or batch.events or batch.long_lines or batch.severities:
            self._on_batch(batch)

    def _identity(self, name: str, st: os.stat_result) -> FileIdentity | None:
        """Device, inode and first bytes of a file; None if it vanished meanwhile."""
        try:
            with self._open(name) as handle:
                if _opened_file(handle) not in (None, (st.st_dev, st.st_ino)):
                    return None  # renamed between the stat and the open: look again next poll
                head = handle.read(FINGERPRINT_BYTES)
        except FileNotFoundError:
            return None
        except OSError:
            self._on_counts(read_errors=1)
            return None
        return FileIdentity(st.st_dev, st.st_ino, head)

    def _rotated_siblings(self) -> list[tuple[str, FileIdentity]]:
        """Rotated files of this log (`SystemOut_yy.MM.dd_HH.mm.ss.log`), oldest first."""
        directory, base = os.path.split(self.path)
        stem, suffix = os.path.splitext(base)
        pattern = re.compile(re.escape(stem) + r"_[0-9._-]+" + re.escape(suffix) + "$")
        try:
            names = sorted(n for n in self._listdir(directory or ".") if pattern.match(n))
        except OSError:
            return []
        return list(self._identities(os.path.join(directory, n) for n in names))

    def _identities(self, paths: Iterator[str]) -> Iterator[tuple[str, FileIdentity]]:
        """Identity of each path that still exists."""
        for path in paths:
            try:
                st = self._stat(path)
            except OSError:
                continue
            identity = self._identity(path, st)
            if identity is not None:
                yield path, identity


def _opened_file(handle: BinaryIO) -> tuple[int, int] | None:
    """Device and inode of an open file (None for a handle without one, e.g. a test double).

    A name is looked up again at every open: between a stat and an open WebSphere may have
    renamed it and created another file under it.
    """
    try:
        st = os.fstat(handle.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    return st.st_dev, st.st_ino
