"""Persisted reader positions and log-derived gauges: atomic writes, never a crash on bad files."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

from stproxy_monitor.logs.events import CertificateStatus
from stproxy_monitor.logs.files import FileIdentity
from stproxy_monitor.logs.tailer import Cursor

log = structlog.get_logger(__name__)
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRecord:
    """One followed file: where its reader stopped and what its header said."""

    device: int
    inode: int
    fingerprint: str  # base64 of the first bytes
    offset: int
    generation: int | None = None  # the inode's generation, where the file system keeps one
    passed: str | None = None  # the newest rotated file behind the reader (tailer.Cursor)
    header_server: str | None = None
    cell: str = ""
    node: str = ""
    certificate: dict[str, Any] | None = None

    def cursor(self) -> Cursor:
        """The reader cursor this record stands for."""
        identity = FileIdentity(
            self.device, self.inode, base64.b64decode(self.fingerprint), self.generation
        )
        return Cursor(identity, self.offset, self.passed)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerRecord:
    """Log-derived gauges of one server (counters restart at 0, as Prometheus expects)."""

    started: float | None = None
    stopped: float | None = None
    running: bool | None = None
    last_failure: float | None = None
    legacy_endpoint: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Positions:
    """Everything the daemon resumes from."""

    files: dict[str, FileRecord] = field(default_factory=dict)
    servers: dict[str, ServerRecord] = field(default_factory=dict)


def file_record(cursor: Cursor, unconsumed: int, **facts: Any) -> FileRecord | None:
    """A record for a cursor; the offset steps back over bytes not yet turned into events."""
    if cursor.identity is None:
        return None
    return FileRecord(
        device=cursor.identity.device,
        inode=cursor.identity.inode,
        fingerprint=base64.b64encode(cursor.identity.fingerprint).decode("ascii"),
        offset=max(0, cursor.offset - unconsumed),
        generation=cursor.identity.generation,
        passed=cursor.passed,
        **facts,
    )


def certificate_to_json(status: CertificateStatus | None) -> dict[str, Any] | None:
    """A log certificate status as JSON-ready data."""
    return None if status is None else asdict(status)


def certificate_from_json(data: object) -> CertificateStatus | None:
    """The inverse of certificate_to_json; None for anything malformed."""
    if not isinstance(data, dict):
        return None
    try:
        return CertificateStatus(**data)
    except TypeError:
        return None


def encode(positions: Positions) -> bytes:
    """The on-disk JSON."""
    doc = {
        "version": FORMAT_VERSION,
        "files": {path: asdict(rec) for path, rec in sorted(positions.files.items())},
        "servers": {name: asdict(rec) for name, rec in sorted(positions.servers.items())},
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")


def decode(data: bytes) -> Positions:
    """Parse the on-disk JSON; ValueError says what is wrong."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} positions document")
    try:
        files = {str(p): _file(rec) for p, rec in dict(doc.get("files", {})).items()}
        servers = {str(n): ServerRecord(**rec) for n, rec in dict(doc.get("servers", {})).items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed entry: {exc}") from None
    return Positions(files=files, servers=servers)


def _file(data: dict[str, Any]) -> FileRecord:
    """One file entry, checked: a non-negative int offset and a base64 fingerprint."""
    rec = FileRecord(**data)
    if not isinstance(rec.offset, int) or isinstance(rec.offset, bool) or rec.offset < 0:
        raise ValueError(f"bad offset {rec.offset!r}")
    base64.b64decode(rec.fingerprint, validate=True)
    if rec.generation is not None and (
        not isinstance(rec.generation, int) or isinstance(rec.generation, bool)
    ):
        raise ValueError(f"bad generation {rec.generation!r}")
    if rec.passed is not None and not isinstance(rec.passed, str):
        raise ValueError(f"bad passed {rec.passed!r}")
    return rec


class PositionStore:
    """Reads and atomically writes the positions file; failures are counted, never raised."""

    def __init__(self, path: str, *, fsync: Callable[[int], None] = os.fsync) -> None:
        self.path = path
        self._fsync = fsync
        self.load_errors = 0
        self.save_errors = 0
        self.saves = 0
        self.last_save: float | None = None

    def load(self) -> Positions:
        """The saved positions; empty (and reported) when missing, unreadable or corrupt."""
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return Positions()
        except OSError as exc:
            self.load_errors += 1
            log.error("positions_unreadable", path=self.path, error=exc.strerror or str(exc))
            return Positions()
        try:
            return decode(data)
        except ValueError as exc:
            self.load_errors += 1
            log.error("positions_corrupt", path=self.path, error=str(exc), action="replaced")
            return Positions()

    def save(self, positions: Positions, *, now: float) -> bool:
        """Write to a temporary file, fsync, rename over the old one; False on failure."""
        directory = os.path.dirname(os.path.abspath(self.path))
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".positions-", dir=directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(encode(positions))
                handle.flush()
                self._fsync(handle.fileno())
            os.replace(tmp, self.path)
            tmp = None
            _fsync_directory(directory, self._fsync)
        except OSError as exc:
            self.save_errors += 1
            log.error("positions_save_failed", path=self.path, error=exc.strerror or str(exc))
            return False
        finally:
            if tmp is not None:
                _remove_quietly(tmp)
        self.saves += 1
        self.last_save = now
        return True


def _fsync_directory(directory: str, fsync: Callable[[int], None]) -> None:
    """Make the rename durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: str) -> None:
    """Remove a leftover temporary file."""
    with contextlib.suppress(OSError):
        os.remove(path)
