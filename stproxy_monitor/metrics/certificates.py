"""Certificates and cell rollout checks as metric families, refreshed once per scrape."""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from stproxy_monitor.certs.cell import (
    CellReport,
    ProfileScan,
    ProfileSpec,
    cell_reports,
    copy_in_use,
    restart_pending,
    scan_profile,
)
from stproxy_monitor.certs.files import (
    CertificateCache,
    CertificateSnapshot,
    CertificateSource,
    PasswordSource,
)
from stproxy_monitor.config import CertificateConfig, ProfileConfig
from stproxy_monitor.logs.state import Snapshot
from stproxy_monitor.metrics.collector import CertificateRow
from stproxy_monitor.metrics.exposition import Section, same_if_equal

READ_ERROR_REASONS = ("missing", "permission", "bad_password", "corrupt")
PROFILE_GLOB = os.path.join("config", "cells", "*", "nodes", "*", "apns-prod.pkcs12")


def password_source(password_file: str | None, password_env: str | None) -> PasswordSource | None:
    """A PasswordSource from config keys, None when neither is set."""
    if password_file is None and password_env is None:
        return None
    return PasswordSource(file=Path(password_file) if password_file else None, env=password_env)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateReading:
    """One refresh of everything configured, before it becomes metric families.

    ``restart_pending`` maps each server with a seen start and a known certificate file to 0/1
    (the first log of a server, by path, wins).
    """

    snapshot: CertificateSnapshot
    scans: tuple[ProfileScan, ...]
    cells: tuple[CellReport, ...]
    restart_pending: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class CertificateView:
    """What one scrape knows about certificates: rows plus the extra families, in sections.

    ``rows`` and each section's key are the very objects of the previous view while what they
    are made from is the same (see exposition.Section).
    """

    rows: tuple[CertificateRow, ...]
    sections: tuple[Section, ...]

    @property
    def families(self) -> list[Metric]:
        """Every family of the sections."""
        return [family for section in self.sections for family in section.families()]


class _StatKeyedReader:
    """read_bytes that re-reads a file only when its stat identity changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int, int, int], bytes]] = {}

    def __call__(self, path: Path) -> bytes:
        """The bytes of `path` (cached while device, inode, size and mtime stay the same)."""
        st = path.stat()
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                return hit[1]
        data = path.read_bytes()
        with self._lock:
            self._cache[path] = (key, data)
        return data


class CertificateMonitor:
    """Configured certificate files and WebSphere profiles, inspected when they change."""

    def __init__(
        self,
        certificates: tuple[CertificateConfig, ...],
        profiles: tuple[ProfileConfig, ...],
        *,
        environ: Mapping[str, str] = os.environ,
        read_bytes: Callable[[Path], bytes] | None = None,
    ) -> None:
        sources = [
            CertificateSource(
                path=c.path, password=password_source(c.password_file, c.password_env)
            )
            for c in certificates
        ]
        sources += [
            CertificateSource(
                # The profile path is literal: escape [ * ? so that only PROFILE_GLOB globs.
                path=os.path.join(glob.escape(p.path), PROFILE_GLOB),
                password=password_source(p.password_file, p.password_env),
            )
            for p in profiles
        ]
        self._environ = environ
        self._read = read_bytes or _StatKeyedReader()
        self._cache = CertificateCache(sources, environ=environ)
        self._specs = [
            ProfileSpec(
                path=Path(p.path),
                role=p.role,
                password=password_source(p.password_file, p.password_env),
            )
            for p in profiles
        ]
        self._single_file = (
            len(certificates) == 1
            and not profiles
            and not any(ch in certificates[0].path for ch in "*?[")
        )
        # The last view's parts, given again while equal to the new ones (see view).
        self._rows_memo: tuple[CertificateSnapshot | None, tuple[CertificateRow, ...]] = (None, ())
        self._cells_memo: tuple[CellReport, ...] = ()
        self._restart_memo: tuple[tuple[str, int], ...] = ()

    def read(self, logs: Snapshot) -> CertificateReading:
        """Refresh (only changed files are re-read) and run the cell and restart checks."""
        snapshot = self._cache.refresh()
        scans = [
            scan_profile(spec, read_bytes=self._read, environ=self._environ) for spec in self._specs
        ]
        return CertificateReading(
            snapshot=snapshot,
            scans=tuple(scans),
            cells=tuple(cell_reports(scans)),
            restart_pending=MappingProxyType(self._restarts(snapshot, scans, logs)),
        )

    def view(self, now: float, logs: Snapshot) -> CertificateView:
        """Refresh; rows and the families in sections keyed on what they are made from."""
        reading = self.read(logs)
        snapshot, rows = self._rows_memo
        if snapshot is not reading.snapshot:
            snapshot, rows = reading.snapshot, tuple(_rows(reading.snapshot))
            self._rows_memo = (snapshot, rows)
        cells = self._cells_memo = same_if_equal(self._cells_memo, reading.cells)
        restart = self._restart_memo = same_if_equal(
            self._restart_memo, tuple(reading.restart_pending.items())
        )
        sections = (
            Section(
                name="certificate_files", key=snapshot, families=lambda: _read_families(snapshot)
            ),
            Section(name="cells", key=cells, families=lambda: _cell_families(cells)),
            Section(
                name="restart_pending", key=restart, families=lambda: [_restart_family(restart)]
            ),
        )
        return CertificateView(rows=rows, sections=sections)

    def _restarts(
        self, snapshot: CertificateSnapshot, scans: list[ProfileScan], logs: Snapshot
    ) -> dict[str, int]:
        """server -> 1 where the certificate in use changed after the server's last start."""
        result: dict[str, int] = {}
        for path, totals in sorted(logs.files.items()):
            server = totals.server(path)
            started = logs.servers.get(server)
            if server in result or started is None or started.started is None:
                continue
            mtime = self._mtime_in_use(snapshot, scans, totals.cell, totals.node)
            if mtime is not None:
                result[server] = int(restart_pending(started.started, mtime))
        return result

    def _mtime_in_use(
        self, snapshot: CertificateSnapshot, scans: list[ProfileScan], cell: str, node: str
    ) -> float | None:
        """mtime of the file a server on (cell, node) reads; the only file if just one is set."""
        if cell and node and scans:
            copy = copy_in_use(scans, cell, node)
            if copy is not None:
                return copy.mtime
        if self._single_file:
            statuses = list(snapshot.files.values())
            return statuses[0].mtime if statuses else None
        return None


def _rows(snapshot: CertificateSnapshot) -> Iterator[CertificateRow]:
    """One row per certificate of every readable file."""
    for entry in snapshot.certificates:
        info = entry.info
        yield CertificateRow(
            source="file",
            path=entry.path,
            node=entry.node,
            serial=info.serial,
            subject=info.subject,
            issuer=info.issuer,
            sha256=info.sha256,
            not_before=info.not_before,
            not_after=info.not_after,
        )


def _read_families(snapshot: CertificateSnapshot) -> Iterator[Metric]:
    """read_ok{path} and read_errors_total{path, reason}."""
    ok = GaugeMetricFamily(
        "stproxy_apns_certificate_read_ok",
        "1 if the certificate file was read and parsed, else 0.",
        labels=("path",),
    )
    errors = CounterMetricFamily(
        "stproxy_apns_certificate_read_errors",
        "Failed reads of a certificate file, by reason.",
        labels=("path", "reason"),
    )
    for path, status in sorted(snapshot.files.items()):
        ok.add_metric([path], int(status.read_ok))
        for reason in READ_ERROR_REASONS:
            errors.add_metric([path, reason], snapshot.read_errors_total.get((path, reason), 0))
    yield ok
    yield errors


def _restart_family(pending: Iterable[tuple[str, int]]) -> Metric:
    """restart_pending{server}: the certificate in use changed after the last start."""
    family = GaugeMetricFamily(
        "stproxy_apns_certificate_restart_pending",
        "1 where the certificate file in use changed after the server's last start.",
        labels=("server",),
    )
    for server, value in pending:
        family.add_metric([server], value)
    return family


def _cell_families(reports: Iterable[CellReport]) -> Iterator[Metric]:
    """distinct{cell}, missing{cell,node}, sync_pending{cell,node}."""
    distinct = GaugeMetricFamily(
        "stproxy_apns_certificate_distinct",
        "Different leaf certificates held by the cell's nodes in the "
        "deployment manager profile (> 1: a node was forgotten).",
        labels=("cell",),
    )
    missing = GaugeMetricFamily(
        "stproxy_apns_certificate_missing",
        "1 where a node directory has no apns-prod.pkcs12.",
        labels=("cell", "node"),
    )
    pending = GaugeMetricFamily(
        "stproxy_apns_certificate_sync_pending",
        "1 where the dmgr master copy and the node's synchronized copy "
        "differ (full resynchronize not done).",
        labels=("cell", "node"),
    )
    for report in reports:
        distinct.add_metric([report.cell], report.distinct)
        for node, value in sorted(report.missing.items()):
            missing.add_metric([report.cell, node], value)
        for node, value in sorted(report.sync_pending.items()):
            pending.add_metric([report.cell, node], value)
    yield from (distinct, missing, pending)
