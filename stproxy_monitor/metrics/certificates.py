"""Every stproxy_apns_certificate_* family: from the logs' certificate blocks and the monitor.

One scrape's certificate families come from :class:`CertificateFamilies`, in sections keyed on
what they are made from (see exposition). To add a family: a function that builds it from the
rows or from the monitor's reading, and a Section in ``CertificateFamilies.sections`` (rows
sections) or ``_reading_sections`` (files and cells); the section's key must be the same object
while what the family is made from stays the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from stproxy_monitor.certs.apple import uid_from_dn
from stproxy_monitor.certs.cell import CellReport
from stproxy_monitor.certs.files import CertificateSnapshot
from stproxy_monitor.certs.inspection import READ_ERROR_REASONS, CertificateInfo, days_left
from stproxy_monitor.certs.monitor import CertificateMonitor, CertificateReading
from stproxy_monitor.certs.truststore import TrustStoreReading
from stproxy_monitor.logs.state import Snapshot
from stproxy_monitor.metrics.exposition import Section, same_if_equal

CERT_LABELS = ("source", "path", "node", "serial")
INFO_LABELS = (*CERT_LABELS, "subject", "issuer", "sha256", "environment", "topic")


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
    environment: str = "unknown"  # production, sandbox, both or unknown (certs.apple)
    topic: str = ""  # the subject's UID

    def as_info(self) -> CertificateInfo:
        """The row as a CertificateInfo: a log's block has no fingerprints, maybe no start."""
        return CertificateInfo(
            subject=self.subject,
            issuer=self.issuer,
            serial=self.serial,
            not_before=self.not_before if self.not_before is not None else float("-inf"),
            not_after=self.not_after,
            sha256=self.sha256,
            sha1="",
            md5="",
            is_leaf=True,
            position=0,
        )


class CertificateFamilies:
    """The certificate sections of each scrape: rows from the logs, then the monitor's files.

    Without a monitor (``scan``) only the rows the logs give are exported. Rows, and the key of
    each section, stay the very objects of the last scrape while what they are made from does.
    """

    def __init__(self, monitor: CertificateMonitor | None = None) -> None:
        self._monitor = monitor
        self._file_rows: tuple[CertificateSnapshot | None, tuple[CertificateRow, ...]] = (None, ())
        # (log files, file rows) -> (rows, unique rows): see _rows.
        self._rows_memo: tuple[
            object, object, tuple[CertificateRow, ...], tuple[CertificateRow, ...]
        ] = (None, None, (), ())
        self._cells: tuple[CellReport, ...] = ()
        self._restart: tuple[tuple[str, int], ...] = ()
        self._truststores: tuple[TrustStoreReading, ...] = ()

    def sections(self, now: float, logs: Snapshot) -> list[Section]:
        """This scrape's certificate families; the expiry days are computed at `now`."""
        reading = self._monitor.read(logs) if self._monitor is not None else None
        _, rows = self._rows(logs, reading)
        sections = [
            Section(
                name="certificate_validity", key=rows, families=lambda: validity_families(rows)
            ),
            Section(
                name="certificate_expiry",
                key=rows,
                families=lambda: [expiry_family(rows, now)],
                values=lambda: [days_left(row, now) for row in rows],
            ),
            Section(name="certificate_info", key=rows, families=lambda: [info_family(rows)]),
        ]
        if reading is not None:
            sections += self._reading_sections(reading)
        return sections

    def rows(self, logs: Snapshot) -> tuple[CertificateRow, ...]:
        """Every certificate known now, from the logs then the files (for the landing page)."""
        reading = self._monitor.read(logs) if self._monitor is not None else None
        return self._rows(logs, reading)[0]

    def _reading_sections(self, reading: CertificateReading) -> list[Section]:
        """read_ok and read errors of the files, the cell rollout, restart pending."""
        snapshot = reading.snapshot
        cells = self._cells = same_if_equal(self._cells, reading.cells)
        restart = self._restart = same_if_equal(
            self._restart, tuple(reading.restart_pending.items())
        )
        stores = self._truststores = same_if_equal(self._truststores, reading.truststores)
        return [
            Section(
                name="certificate_files", key=snapshot, families=lambda: read_families(snapshot)
            ),

            Section(name="cells", key=cells, families=lambda: cell_families(cells)),
            Section(
                name="restart_pending", key=restart, families=lambda: [restart_family(restart)]
            ),
            Section(name="truststores", key=stores, families=lambda: truststore_families(stores)),
        ]

    def _rows(
        self, logs: Snapshot, reading: CertificateReading | None
    ) -> tuple[tuple[CertificateRow, ...], tuple[CertificateRow, ...]]:
        """Rows from logs then files, and those with a label set of their own.

        The same tuples while neither source changed, or when the new rows are equal.
        """
        file_rows = self._rows_of_files(reading.snapshot) if reading is not None else ()
        files, from_files, rows, unique = self._rows_memo
        if files is logs.files and from_files is file_rows:
            return rows, unique
        new = (*log_certificate_rows(logs), *file_rows)
        if new != rows:
            rows, unique = new, unique_certificates(new)
        self._rows_memo = (logs.files, file_rows, rows, unique)
        return rows, unique

    def _rows_of_files(self, snapshot: CertificateSnapshot) -> tuple[CertificateRow, ...]:
        """The rows of the files' certificates: the same tuple while the snapshot is the same."""
        last, rows = self._file_rows
        if last is not snapshot:
            rows = tuple(file_certificate_rows(snapshot))
            self._file_rows = (snapshot, rows)
        return rows


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
            topic=uid_from_dn(cert.subject),
        )


def file_certificate_rows(snapshot: CertificateSnapshot) -> Iterator[CertificateRow]:
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
            environment=info.environment,
            topic=info.uid,
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
        days.add_metric([row.source, row.path, row.node, row.serial], days_left(row, now))
    return days


def info_family(rows: Iterable[CertificateRow]) -> Metric:
    """Identity of each certificate (rows with distinct label sets)."""
    info = GaugeMetricFamily(
        "stproxy_apns_certificate_info", "Identity of each certificate.", labels=INFO_LABELS
    )
    for row in rows:
        labels = [row.source, row.path, row.node, row.serial, row.subject, row.issuer]
        info.add_metric([*labels, row.sha256, row.environment, row.topic], 1)
    return info


def read_families(snapshot: CertificateSnapshot) -> Iterator[Metric]:
    """read_ok{path}, read_errors_total{path, reason} and problem{path, problem}."""
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
    yield problem_family(snapshot)


def problem_family(snapshot: CertificateSnapshot) -> Metric:
    """problem{path, problem}: 1 where it holds, 0 where checked and it does not (files read)."""
    family = GaugeMetricFamily(
        "stproxy_apns_certificate_problem",
        "1 where the problem holds for the certificate file, 0 where it was checked and does "
        "not: no_private_key, key_mismatch, not_apple_issued, sandbox_only, topic_mismatch, "
        "legacy_unreadable.",
        labels=("path", "problem"),
    )
    for path, status in sorted(snapshot.files.items()):
        for problem, holds in status.problems.items():
            family.add_metric([path, problem], int(holds))
    return family


def truststore_families(readings: Iterable[TrustStoreReading]) -> Iterator[Metric]:
    """truststore_read_ok{path} and truststore_trusts_apns{path, node} (for stores read)."""
    read_ok = GaugeMetricFamily(
        "stproxy_apns_truststore_read_ok",
        "1 if the trust store was read; 0 when missing, the password is wrong or it is corrupt.",
        labels=("path",),
    )
    trusts = GaugeMetricFamily(
        "stproxy_apns_truststore_trusts_apns",
        "1 when the trust store holds USERTrust RSA Certification Authority or AAA Certificate "
        "Services (subject and key), 0 when it holds neither: APNs' servers are not trusted.",
        labels=("path", "node"),
    )
    for reading in readings:
        read_ok.add_metric([reading.path], int(reading.read_ok))
        if reading.trusts_apns is not None:
            trusts.add_metric([reading.path, reading.node], int(reading.trusts_apns))
    yield from (read_ok, trusts)


def restart_family(pending: Iterable[tuple[str, int]]) -> Metric:
    """restart_pending{server}: the certificate in use changed after the last start."""
    family = GaugeMetricFamily(
        "stproxy_apns_certificate_restart_pending",
        "1 where the certificate file in use changed after the server's last start.",
        labels=("server",),
    )
    for server, value in pending:
        family.add_metric([server], value)
    return family


def cell_families(reports: Iterable[CellReport]) -> Iterator[Metric]:
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
