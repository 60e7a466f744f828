"""The custom Collector: fresh metric families from a state snapshot on every scrape."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stproxy_monitor.logs.events import REASONS
from stproxy_monitor.logs.state import Snapshot, State
from stproxy_monitor.metrics.exposition import Section, same_if_equal
from stproxy_monitor.metrics.health import SelfStatus, self_families

CERT_LABELS = ("source", "path", "node", "serial")
INFO_LABELS = (*CERT_LABELS, "subject", "issuer", "sha256")


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRow:
    """One certificate as exported: where it was seen and its validity."""

    source: str  # "file" | "log"
    path: str
    node: str
    serial: str
    subject: str
    issuer: str
    sha256: str
    not_before: float | None
    not_after: float


class CertificateViewLike(Protocol):
    """What a certificate provider returns for one scrape."""

    @property
    def rows(self) -> tuple[CertificateRow, ...]:
        """Certificates read from files (the same tuple while they are the same)."""
        ...

    @property
    def sections(self) -> Sequence[Section]:
        """read_ok, read errors and the cell rollout families."""
        ...


class CertificateProvider(Protocol):
    """Certificate files and cell checks (certmetrics.CertificateMonitor)."""

    def view(self, now: float, logs: Snapshot) -> CertificateViewLike:
        """Rows and extra families for this scrape."""
        ...


class PositionsStatus(Protocol):
    """Counters of the positions store (positions.PositionStore)."""

    load_errors: int
    save_errors: int
    last_save: float | None


class MonitorCollector(Collector):
    """Renders the daemon's state; never raises for a bad file, never blocks on a tail."""

    def __init__(
        self,
        state: State,
        *,
        clock: Callable[[], float] = time.time,
        certificates: CertificateProvider | None = None,
        reload_status: Callable[[], tuple[bool, float]] | None = None,
        watcher_alive: Callable[[], bool] | None = None,
        positions: Callable[[], PositionsStatus | None] | None = None,
    ) -> None:
        self._positions = positions
        self._state = state
        self._clock = clock
        self._certificates = certificates
        self._reload_status = reload_status
        self._watcher_alive = watcher_alive
        # (files, file rows) -> (rows, unique rows): see _rows.
        self._rows_memo: tuple[
            object, object, tuple[CertificateRow, ...], tuple[CertificateRow, ...]
        ]
        self._rows_memo = (None, None, (), ())
        self._status: SelfStatus | None = None

    def describe(self) -> Iterable[Metric]:
        """Nothing: the families depend on what is followed (no collect at register)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family, fresh from one snapshot."""
        for section in self.sections():
            yield from section.families()

    def sections(self) -> list[Section]:
        """This scrape's families in sections, keyed on what they are made from (see exposition).

        The expiry days move with the clock: their values are computed at every scrape.
        """
        now = self._clock()
        snapshot = self._state.snapshot()
        view = self._certificates.view(now, snapshot) if self._certificates else None
        _, rows = self._rows(snapshot, view)
        status = self._status = same_if_equal(self._status, self._self_status())
        return [
            Section(
                name="servers", key=snapshot.servers, families=lambda: server_families(snapshot)
            ),
            Section(
                name="certificate_validity", key=rows, families=lambda: validity_families(rows)
            ),
            Section(
                name="certificate_expiry",
                key=rows,
                families=lambda: [expiry_family(rows, now)],
                values=lambda: [expiry_days(row, now) for row in rows],
            ),
            Section(name="certificate_info", key=rows, families=lambda: [info_family(rows)]),
            *(view.sections if view else ()),
            Section(name="files", key=snapshot.files, families=lambda: file_families(snapshot)),
            Section(name="self", key=status, families=lambda: self_families(status)),
        ]

    def _rows(
        self, snapshot: Snapshot, view: CertificateViewLike | None
    ) -> tuple[tuple[CertificateRow, ...], tuple[CertificateRow, ...]]:
        """Rows from logs then files, and those with a label set of their own.

        The same tuples while neither source changed, or when the new rows are equal.
        """
        file_rows = view.rows if view else ()
        files, from_files, rows, unique = self._rows_memo
        if files is snapshot.files and from_files is file_rows:
            return rows, unique
        new = (*log_certificate_rows(snapshot), *file_rows)
        if new != rows:
            rows, unique = new, unique_certificates(new)
        self._rows_memo = (snapshot.files, file_rows, rows, unique)
        return rows, unique

    def _self_status(self) -> SelfStatus:
        """The self-metrics' values now."""
        store = self._positions() if self._positions is not None else None
        return SelfStatus(
            reload=self._reload_status() if self._reload_status is not None else None,
            positions=(
                None if store is None else (store.load_errors, store.save_errors, store.last_save)
            ),
            watcher_alive=self._watcher_alive() if self._watcher_alive is not None else None,
        )


def server_families(snapshot: Snapshot) -> Iterator[Metric]:
    """Log-derived families, label `server`."""
    failures = CounterMetricFamily(
        "stproxy_apns_connection_failures",
        "CLFRX0079W records: the proxy could not reach APNS.",
        labels=("server", "reason"),
    )
    last = GaugeMetricFamily(
        "stproxy_apns_last_connection_failure_timestamp_seconds",
        "Time written in the last CLFRX0079W record.",
        labels=("server",),
    )
    start = GaugeMetricFamily(
        "stproxy_server_start_timestamp_seconds",
        "Time of the last WSVR0001I 'open for e-business'.",
        labels=("server",),
    )
    running = GaugeMetricFamily(
        "stproxy_server_running",
        "1 after WSVR0001I (started), 0 after WSVR0023I/WSVR0024I.",
        labels=("server",),
    )
    messages = CounterMetricFamily(
        "stproxy_log_messages", "Log records by event type letter.", labels=("server", "severity")
    )
    clfrx = CounterMetricFamily(
        "stproxy_clfrx_messages",
        "Sametime proxy CLFRX messages by severity.",
        labels=("server", "severity"),
    )
    for name, totals in sorted(snapshot.servers.items()):
        for reason in REASONS:
            failures.add_metric([name, reason], totals.failures[reason])
        if totals.last_failure is not None:
            last.add_metric([name], totals.last_failure)
        if totals.started is not None:
            start.add_metric([name], totals.started)
        if totals.running is not None:
            running.add_metric([name], int(totals.running))
        for severity, count in sorted(totals.severities.items()):
            messages.add_metric([name, severity], count)
        for severity, count in sorted(totals.clfrx.items()):
            clfrx.add_metric([name, severity], count)
    yield from (failures, last, start, running, messages, clfrx)


def log_certificate_rows(snapshot: Snapshot) -> Iterator[CertificateRow]:
    """The last certificate-status block seen in each log."""
    for path, totals in sorted(snapshot.files.items()):
        cert = totals.certificate
        if cert is None:
            continue
        yield CertificateRow(
            source="log",
            path=path,
            node=totals.node,
            serial="",
            subject=cert.subject,
            issuer=cert.issuer,
            sha256="",
            not_before=cert.not_before,
            not_after=cert.not_after,
        )


def unique_certificates(rows: Iterable[CertificateRow]) -> tuple[CertificateRow, ...]:
    """One row per label set (source, path, node, serial): the first one wins."""
    seen: set[tuple[str, ...]] = set()
    unique = []
    for row in rows:
        key = (row.source, row.path, row.node, row.serial)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return tuple(unique)


def certificate_families(rows: Iterable[CertificateRow], now: float) -> Iterator[Metric]:
    """Certificate validity families; one series per label set (first one wins)."""
    unique = unique_certificates(rows)
    yield from validity_families(unique)
    yield expiry_family(unique, now)
    yield info_family(unique)


def validity_families(rows: Iterable[CertificateRow]) -> Iterator[Metric]:
    """not_after and not_before of rows with distinct label sets."""
    not_after = GaugeMetricFamily(
        "stproxy_apns_certificate_not_after_timestamp_seconds",
        "Certificate end of validity.",
        labels=CERT_LABELS,
    )
    not_before = GaugeMetricFamily(
        "stproxy_apns_certificate_not_before_timestamp_seconds",
        "Certificate start of validity.",
        labels=CERT_LABELS,
    )
    for row in rows:
        key = [row.source, row.path, row.node, row.serial]
        not_after.add_metric(key, row.not_after)
        if row.not_before is not None:
            not_before.add_metric(key, row.not_before)
    yield from (not_after, not_before)


def expiry_family(rows: Iterable[CertificateRow], now: float) -> Metric:
    """Days until each certificate expires, at `now` (rows with distinct label sets)."""
    days = GaugeMetricFamily(
        "stproxy_apns_certificate_expiry_days",
        "Days until the certificate expires (negative once expired).",
        labels=CERT_LABELS,
    )
    for row in rows:
        days.add_metric([row.source, row.path, row.node, row.serial], expiry_days(row, now))
    return days


def expiry_days(row: CertificateRow, now: float) -> float:
    """Days from `now` until the certificate expires (negative once expired)."""
    return (row.not_after - now) / 86400.0


def info_family(rows: Iterable[CertificateRow]) -> Metric:
    """Identity of each certificate (rows with distinct label sets)."""
    info = GaugeMetricFamily(
        "stproxy_apns_certificate_info", "Identity of each certificate.", labels=INFO_LABELS
    )
    for row in rows:
        info.add_metric(
            [row.source, row.path, row.node, row.serial, row.subject, row.issuer, row.sha256], 1
        )
    return info


def file_families(snapshot: Snapshot) -> Iterator[Metric]:
    """Reader self-metrics, label `path`."""
    spec = (
        ("lines_read", "counter", "Lines read.", "lines"),
        ("bytes_read", "counter", "Bytes read.", "bytes"),
        ("records_read", "counter", "Log records read.", "records"),
        ("rotations", "counter", "Rotations (rename, delete and re-create) seen.", "rotations"),
        ("truncations", "counter", "Truncations (copy-truncate, in place) seen.", "truncations"),
        ("long_lines", "counter", "Lines longer than the cap (truncated).", "long_lines"),
        (
            "unparsed_timestamps",
            "counter",
            "Records whose time could not be read (read time used).",
            "unparsed_timestamps",
        ),
        ("read_errors", "counter", "Failed attempts to read the file.", "read_errors"),
        (
            "lost_bytes",
            "counter",
            "Bytes of a rotated file that disappeared before they were read.",
            "lost_bytes",
        ),
        ("read_position_bytes", "gauge", "Offset the reader has reached.", "position"),
        ("file_size_bytes", "gauge", "Size of the file at the last look.", "size"),
        ("file_present", "gauge", "1 if the file exists.", "present"),
        (
            "path_is_directory",
            "gauge",
            "1 if the configured path is a directory, not a log file.",
            "directory",
        ),
        ("hpel_detected", "gauge", "1 if the server writes binary HPEL logs instead.", "hpel"),
        ("last_read_timestamp_seconds", "gauge", "Last time new bytes were read.", "last_read"),
        ("last_record_timestamp_seconds", "gauge", "Last time a record was read.", "last_record"),
    )
    for suffix, kind, doc, attr in spec:
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        family = cls(f"stproxy_monitor_{suffix}", doc, labels=("path",))
        for path, totals in sorted(snapshot.files.items()):
            value = getattr(totals, attr)
            if value is not None:
                family.add_metric([path], float(value))
        yield family
    info = GaugeMetricFamily(
        "stproxy_monitor_log_info",
        "Each followed log with the server label its records get (join on path).",
        labels=("path", "server", "cell", "node"),
    )
    for path, totals in sorted(snapshot.files.items()):
        info.add_metric([path, totals.server(path), totals.cell, totals.node], 1)
    yield info
