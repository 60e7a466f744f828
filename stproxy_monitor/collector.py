"""The custom Collector: fresh metric families from a state snapshot on every scrape."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from stproxy_monitor import __version__
from stproxy_monitor.events import REASONS
from stproxy_monitor.state import Snapshot, State

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
    def rows(self) -> list[CertificateRow]:
        """Certificates read from files."""
        ...

    @property
    def families(self) -> list[Metric]:
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

    def describe(self) -> Iterable[Metric]:
        """Nothing: the families depend on what is followed (no collect at register)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family, fresh from one snapshot."""
        now = self._clock()
        snapshot = self._state.snapshot()
        rows, extra = self._certificate_view(now, snapshot)
        yield from server_families(snapshot)
        yield from certificate_families(rows, now)
        yield from extra
        yield from file_families(snapshot)
        yield from self._self_families()

    def certificate_rows(self, now: float) -> list[CertificateRow]:
        """Every certificate known now (for the landing page)."""
        return self._certificate_view(now, self._state.snapshot())[0]

    def _certificate_view(
        self, now: float, snapshot: Snapshot
    ) -> tuple[list[CertificateRow], list[Metric]]:
        """Certificates from logs and, when configured, from files, plus the cell families."""
        rows = list(log_certificate_rows(snapshot))
        if self._certificates is None:
            return rows, []
        view = self._certificates.view(now, snapshot)
        return rows + view.rows, view.families

    def _self_families(self) -> Iterator[Metric]:
        """Build info, reload status and watcher health."""
        info = InfoMetricFamily(
            "stproxy_monitor_build",
            "stproxy-monitor build information.",
            labels=("version", "python_version"),
        )
        info.add_metric([__version__, platform.python_version()], {})
        yield info
        if self._reload_status is not None:
            ok, when = self._reload_status()
            yield GaugeMetricFamily(
                "stproxy_monitor_config_last_reload_successful",
                "1 if the last configuration (re)load succeeded.",
                value=int(ok),
            )
            yield GaugeMetricFamily(
                "stproxy_monitor_config_last_reload_success_timestamp_seconds",
                "Time of the last successful configuration (re)load.",
                value=when,
            )
        store = self._positions() if self._positions is not None else None
        if store is not None:
            yield CounterMetricFamily(
                "stproxy_monitor_positions_load_errors",
                "Positions files found unreadable or corrupt (then replaced).",
                value=store.load_errors,
            )
            yield CounterMetricFamily(
                "stproxy_monitor_positions_save_errors",
                "Failed writes of the positions file (full disk, read-only directory).",
                value=store.save_errors,
            )
            if store.last_save is not None:
                yield GaugeMetricFamily(
                    "stproxy_monitor_positions_last_save_timestamp_seconds",
                    "Time of the last successful positions write.",
                    value=store.last_save,
                )
        if self._watcher_alive is not None:
            yield GaugeMetricFamily(
                "stproxy_monitor_watcher_alive",
                "1 while the file-system event observer runs; the periodic stat works without it.",
                value=int(self._watcher_alive()),
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


def certificate_families(rows: Iterable[CertificateRow], now: float) -> Iterator[Metric]:
    """Certificate validity families; one series per label set (first one wins)."""
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
    days = GaugeMetricFamily(
        "stproxy_apns_certificate_expiry_days",
        "Days until the certificate expires (negative once expired).",
        labels=CERT_LABELS,
    )
    info = GaugeMetricFamily(
        "stproxy_apns_certificate_info", "Identity of each certificate.", labels=INFO_LABELS
    )
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        key = [row.source, row.path, row.node, row.serial]
        if tuple(key) in seen:
            continue
        seen.add(tuple(key))
        not_after.add_metric(key, row.not_after)
        if row.not_before is not None:
            not_before.add_metric(key, row.not_before)
        days.add_metric(key, (row.not_after - now) / 86400.0)
        info.add_metric([*key, row.subject, row.issuer, row.sha256], 1)
    yield from (not_after, not_before, days, info)


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
