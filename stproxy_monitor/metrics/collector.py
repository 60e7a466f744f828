"""The custom Collector: fresh metric families from a state snapshot on every scrape.

The certificate families are metrics.certificates'; the self-metrics are metrics.health'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stproxy_monitor.certs.monitor import CertificateMonitor
from stproxy_monitor.logs.events import HANDSHAKE_TARGETS
from stproxy_monitor.logs.reasons import REASONS
from stproxy_monitor.logs.state import Snapshot, State
from stproxy_monitor.metrics.certificates import CertificateFamilies
from stproxy_monitor.metrics.exposition import Section, same_if_equal
from stproxy_monitor.metrics.health import SelfStatus, self_families


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
        certificates: CertificateMonitor | None = None,
        reload_status: Callable[[], tuple[bool, float]] | None = None,
        watcher_alive: Callable[[], bool] | None = None,
        positions: Callable[[], PositionsStatus | None] | None = None,
    ) -> None:
        self._positions = positions
        self._state = state
        self._clock = clock
        self._certificates = CertificateFamilies(certificates)
        self._reload_status = reload_status
        self._watcher_alive = watcher_alive
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
        certificates = self._certificates.sections(now, snapshot)
        status = self._status = same_if_equal(self._status, self._self_status())
        return [
            Section(
                name="servers", key=snapshot.servers, families=lambda: server_families(snapshot)
            ),
            *certificates,
            Section(name="files", key=snapshot.files, families=lambda: file_families(snapshot)),
            Section(name="self", key=status, families=lambda: self_families(status)),
        ]

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
    handshakes = CounterMetricFamily(
        "stproxy_websphere_ssl_handshake_failures",
        "CWPKI0022E records (WebSphere did not trust a server's certificate), by target: "
        "apns for a host under push.apple.com, else other.",
        labels=("server", "target"),
    )
    legacy = GaugeMetricFamily(
        "stproxy_apns_legacy_endpoint",
        "1 once a record showed the proxy using the retired binary APNs API "
        "(gateway/feedback.push.apple.com, ports 2195/2196): no certificate can fix delivery.",
        labels=("server",),
    )
    for name, totals in sorted(snapshot.servers.items()):
        for reason in REASONS:
            failures.add_metric([name, reason], totals.failures[reason])
        for target in HANDSHAKE_TARGETS:
            handshakes.add_metric([name, target], totals.handshake_failures[target])
        legacy.add_metric([name], int(totals.legacy_endpoint))
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
    yield from (failures, last, start, running, messages, clfrx, handshakes, legacy)


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
