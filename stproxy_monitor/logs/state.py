"""What the logs have told so far: applied under a lock, read as immutable snapshots."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import PurePath

from stproxy_monitor.logs.events import (
    ApnsFailure,
    CertificateStatus,
    HpelDetected,
    LegacyEndpoint,
    ProcessHeader,
    ServerLifecycle,
    SslHandshakeFailure,
)
from stproxy_monitor.logs.parser import Batch
from stproxy_monitor.logs.tailer import FileFacts, ReadCounts

# Distinct servers the header blocks of one log may name, and the longest name taken.
MAX_HEADER_SERVERS = 8
MAX_SERVER_NAME = 128
_NO_COUNTS = ReadCounts()
# APNS failures by the minute of their record time, kept for the status page's last hour and day.
FAILURE_BUCKET_SECONDS = 60
FAILURE_HORIZON_SECONDS = 86400
MAX_FAILURE_BUCKETS = 2 * FAILURE_HORIZON_SECONDS // FAILURE_BUCKET_SECONDS


@dataclass(slots=True)
class ServerTotals:
    """Per-server log facts (label `server`)."""

    failures: Counter[str] = field(default_factory=Counter)
    last_failure: float | None = None
    started: float | None = None
    stopped: float | None = None
    running: bool | None = None
    severities: Counter[str] = field(default_factory=Counter)
    clfrx: Counter[str] = field(default_factory=Counter)
    handshake_failures: Counter[str] = field(default_factory=Counter)  # CWPKI0022E by target
    legacy_endpoint: bool = False  # a record named the retired binary APNs API
    # minute (record time // 60) -> failures, only minutes within a day of the read time
    recent_failures: Counter[int] = field(default_factory=Counter)

    def failures_since(self, since: float) -> int:
        """Failures whose record time is `since` or later (to the minute)."""
        first = int(since // FAILURE_BUCKET_SECONDS)
        return sum(count for minute, count in self.recent_failures.items() if minute >= first)


@dataclass(slots=True)
class FileTotals:
    """Per-file reader facts (self-metrics, label `path`)."""

    configured_server: str | None = None
    header_server: str | None = None
    header_servers: set[str] = field(default_factory=set)  # every name taken from a header
    cell: str = ""
    node: str = ""
    lines: int = 0
    bytes: int = 0
    records: int = 0
    rotations: int = 0
    truncations: int = 0
    long_lines: int = 0
    unparsed_timestamps: int = 0
    read_errors: int = 0
    lost_bytes: int = 0
    position: int = 0
    size: int = 0
    present: bool = False
    directory: bool = False  # the configured path names a directory, not a log file
    hpel: bool = False
    last_read: float | None = None
    last_record: float | None = None
    certificate: CertificateStatus | None = None

    def server(self, path: str) -> str:
        """The server label: the config, else the log header, else the parent directory."""
        if self.configured_server:
            return self.configured_server
        if self.header_server:
            return self.header_server
        return PurePath(path).parent.name or "unknown"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of the state, rendered outside the lock; nobody changes it.

    While a part of the state does not change, successive snapshots share that part's dict: a
    scrape may reuse what it rendered from the very same (``is``) ``servers`` or ``files``.
    """

    servers: dict[str, ServerTotals]
    files: dict[str, FileTotals]


class State:
    """Thread-safe accumulation of log batches; the tailer writes, the scrape reads.

    Every change bumps the version of the part it touches (servers, files); ``snapshot()`` copies
    a part again only when its version moved.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, ServerTotals] = {}
        self._files: dict[str, FileTotals] = {}
        self._servers_version = 0
        self._files_version = 0
        self._snapshot = Snapshot(servers={}, files={})
        self._snapshot_versions = (0, 0)
        # While a change waits for its position to be saved, scrapes get the last snapshot
        # they were given (withheld), so that a crash never re-counts what was served.
        self._withheld = 0
        self._published = self._snapshot

    def register(self, path: str, *, server: str | None = None) -> None:
        """Declare a followed file (so that it shows up before anything is read)."""
        with self._lock:
            self._files_version += 1
            totals = self._files.setdefault(path, FileTotals())
            totals.configured_server = server

    def apply(self, path: str, batch: Batch, *, now: float) -> None:
        """Add what one parsed chunk of `path` held."""
        with self._lock:
            self._servers_version += 1
            self._files_version += 1
            totals = self._files.setdefault(path, FileTotals())
            totals.lines += batch.lines
            totals.long_lines += batch.long_lines
            totals.unparsed_timestamps += batch.unparsed_timestamps
            if batch.records:
                totals.records += batch.records
                totals.last_record = now
            self._apply_events(path, totals, batch, now)

    def _apply_events(self, path: str, totals: FileTotals, batch: Batch, now: float) -> None:
        """Events in order: a header switches the server label for what follows it."""
        segments = batch.header_segments
        before = _before_headers(batch.severities, segments)
        clfrx_before = _before_headers(batch.clfrx, batch.clfrx_segments)
        opens_with_header = bool(batch.events) and isinstance(batch.events[0], ProcessHeader)
        # Nothing before a leading header, or nothing at all (a batch cut inside the header's
        # line): no series for the old label.
        server = ServerTotals()
        if before or clfrx_before or (batch.events and not opens_with_header):
            server = self._servers.setdefault(totals.server(path), ServerTotals())
            server.severities.update(before)
            server.clfrx.update(clfrx_before)
        headers = 0
        for event in batch.events:
            match event:
                case ProcessHeader():
                    if _takes_header_server(totals, event.server):
                        totals.header_server, totals.cell, totals.node = (
                            event.server,
                            event.cell,
                            event.node,
                        )
                    server = self._servers.setdefault(totals.server(path), ServerTotals())
                    if headers < len(segments):
                        server.severities.update(segments[headers])
                        server.clfrx.update(batch.clfrx_segments[headers])
                    headers += 1
                case ApnsFailure():
                    server.failures[event.reason] += 1
                    server.last_failure = event.timestamp
                    if event.timestamp_parsed:  # else its time is unknown, not the read time
                        _note_recent(server.recent_failures, event.timestamp, now)
                case ServerLifecycle():
                    _apply_lifecycle(server, event)
                case CertificateStatus():
                    totals.certificate = event
                case HpelDetected():
                    totals.hpel = True
                case SslHandshakeFailure():
                    server.handshake_failures[event.target] += 1
                case LegacyEndpoint():
                    server.legacy_endpoint = True

    def restore_server(
        self,
        name: str,
        *,
        started: float | None,
        stopped: float | None,
        running: bool | None,
        last_failure: float | None,
        legacy_endpoint: bool = False,
    ) -> None:
        """Set a server's gauges from saved positions (counters start again at 0)."""
        with self._lock:
            self._servers_version += 1
            totals = self._servers.setdefault(name, ServerTotals())
            totals.started, totals.stopped = started, stopped
            totals.running, totals.last_failure = running, last_failure
            totals.legacy_endpoint = legacy_endpoint

    def restore_file(
        self,
        path: str,
        *,
        header_server: str | None,
        cell: str,
        node: str,
        certificate: CertificateStatus | None,
    ) -> None:
        """Set a file's header facts from saved positions."""
        with self._lock:
            self._files_version += 1
            totals = self._files.setdefault(path, FileTotals())
            totals.header_server, totals.cell, totals.node = header_server, cell, node
            totals.certificate = certificate

    def update_file(self, path: str, facts: FileFacts) -> None:
        """Set what the last poll saw of a file (present, a directory, size, position).

        The tailer reports them on every poll of every file: the facts a file already has are
        no change (the version stays).
        """
        with self._lock:
            totals = self._files.get(path)
            if totals is None:
                totals = self._files[path] = FileTotals()
                self._files_version += 1
            seen = (facts.present, facts.directory, facts.size, facts.position)
            if (totals.present, totals.directory, totals.size, totals.position) != seen:
                totals.present, totals.directory, totals.size, totals.position = seen
                self._files_version += 1

    def count_file(self, path: str, counts: ReadCounts, *, now: float | None = None) -> None:
        """Add to the reader counters of a file; bytes read at `now` set its last read time."""
        with self._lock:
            totals = self._files.get(path)
            if totals is None:
                totals = self._files[path] = FileTotals()
                self._files_version += 1
            if counts == _NO_COUNTS:
                return
            self._files_version += 1
            totals.bytes += counts.bytes
            totals.rotations += counts.rotations
            totals.truncations += counts.truncations
            totals.read_errors += counts.read_errors
            totals.lost_bytes += counts.lost_bytes
            if counts.bytes and now is not None:
                totals.last_read = now

    def snapshot(self) -> Snapshot:
        """What may be served: the totals now, or while withheld the last snapshot served."""
        with self._lock:
            if not self._withheld:
                self._published = self._current()
            return self._published

    def current(self) -> Snapshot:
        """The totals now, withheld or not (what a positions save records)."""
        with self._lock:
            return self._current()

    @contextlib.contextmanager
    def withheld(self) -> Iterator[None]:
        """Changes made meanwhile are not served until the block ends (its position saved)."""
        with self._lock:
            self._withheld += 1
        try:
            yield
        finally:
            with self._lock:
                self._withheld -= 1
                if not self._withheld:  # published: the next scrape serves it
                    self._published = self._current()

    def _current(self) -> Snapshot:
        """Copies of every total, under the lock (a part that has not changed is shared)."""
        versions = (self._servers_version, self._files_version)
        if versions == self._snapshot_versions:
            return self._snapshot
        last = self._snapshot
        servers = (
            last.servers if versions[0] == self._snapshot_versions[0] else self._copy_servers()
        )
        files = last.files if versions[1] == self._snapshot_versions[1] else self._copy_files()
        self._snapshot = Snapshot(servers=servers, files=files)
        self._snapshot_versions = versions
        return self._snapshot

    def _copy_servers(self) -> dict[str, ServerTotals]:
        """A copy of every server's totals (called under the lock)."""
        return {
            name: replace(
                t,
                failures=Counter(t.failures),
                severities=Counter(t.severities),
                clfrx=Counter(t.clfrx),
                handshake_failures=Counter(t.handshake_failures),
                recent_failures=Counter(t.recent_failures),
            )
            for name, t in self._servers.items()
        }

    def _copy_files(self) -> dict[str, FileTotals]:
        """A copy of every file's facts (called under the lock)."""
        return {
            path: replace(t, header_servers=set(t.header_servers))
            for path, t in self._files.items()
        }


def _before_headers(total: Counter[str], segments: list[Counter[str]]) -> Counter[str]:
    """What of a batch's total came before its first process header."""
    before = Counter(total)
    for segment in segments:
        before.subtract(segment)
    return +before


def _note_recent(buckets: Counter[int], timestamp: float, now: float) -> None:
    """Count a failure in its minute when within a day of `now` (later ones too: clocks drift).

    Minutes older than a day are dropped, and at most MAX_FAILURE_BUCKETS are kept (the
    earliest go first), so a catch-up of years of failures keeps nothing and a storm stays small.
    """
    horizon = int((now - FAILURE_HORIZON_SECONDS) // FAILURE_BUCKET_SECONDS)
    minute = int(timestamp // FAILURE_BUCKET_SECONDS)
    if minute < horizon:
        return
    buckets[minute] += 1
    for old in [m for m in buckets if m < horizon]:
        del buckets[old]
    while len(buckets) > MAX_FAILURE_BUCKETS:
        del buckets[min(buckets)]


def _takes_header_server(totals: FileTotals, name: str) -> bool:
    """Whether a header's server name may become a label: a log names few servers in its life.

    A label value is a series per reason and severity, forever: garbage header blocks naming
    ever new servers must not grow the exposition without bound.
    """
    if name == totals.header_server or name in totals.header_servers:
        return True
    if len(name) > MAX_SERVER_NAME or len(totals.header_servers) >= MAX_HEADER_SERVERS:
        return False
    totals.header_servers.add(name)
    return True


def _apply_lifecycle(server: ServerTotals, event: ServerLifecycle) -> None:
    """Started / stopping / stopped moves the server's running flag and times."""
    if event.state == "started":
        server.started = event.timestamp
        server.running = True
    else:
        server.stopped = event.timestamp
        server.running = False
