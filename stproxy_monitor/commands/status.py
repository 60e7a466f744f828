"""The status page's facts, gathered from what the daemon has read (a pure function of it)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from stproxy_monitor.certs.cell import CellReport
from stproxy_monitor.certs.facts import problem_status
from stproxy_monitor.certs.files import CertificateEntry, FileStatus, node_from_path
from stproxy_monitor.certs.inspection import CertificateInfo, days_left
from stproxy_monitor.certs.monitor import CertificateReading
from stproxy_monitor.certs.truststore import TrustStoreReading
from stproxy_monitor.commands.check.rules import Limits, short_labels
from stproxy_monitor.commands.nagios import certificate_status
from stproxy_monitor.commands.problems import problems_of
from stproxy_monitor.logs.state import FileTotals, ServerTotals, Snapshot
from stproxy_monitor.metrics.certificates import CertificateRow, log_certificate_rows
from stproxy_monitor.paths import is_glob
from stproxy_monitor.states import Status, state_rank, worst_status
from stproxy_monitor.web.facts import (
    CellFact,
    CertificateFact,
    CertificateFile,
    NodeFact,
    ProbeFact,
    ReaderFact,
    ServerFact,
    StatusFacts,
    TrustStoreFact,
)

_RDN_SEPARATOR = re.compile(r"(?<!\\),")
# Attribute types that open a DN written least specific first (X.500 order, as Java prints it).
_BROAD_FIRST = frozenset({"C", "DC", "O", "L", "ST"})
_SPECIFIC_LAST = frozenset({"CN", "UID", "OU", "EMAILADDRESS", "SERIALNUMBER"})


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusInputs:
    """What the daemon holds at one moment, for :func:`gather_status`."""

    now: float
    version: str
    ready: bool
    logs: Snapshot
    certificates: CertificateReading
    limits: Limits
    log_patterns: tuple[str, ...] = ()  # configured log paths and globs
    certificate_patterns: tuple[str, ...] = ()  # configured certificate paths and globs
    probe: ProbeFact | None = None
    probe_configured: bool = False


def gather_status(inputs: StatusInputs) -> StatusFacts:
    """Every fact of the page, each list worst first, and the problems found in them."""
    facts = StatusFacts(
        version=inputs.version,
        now=inputs.now,
        ready=inputs.ready,
        warn_days=inputs.limits.warn_days,
        critical_days=inputs.limits.critical_days,
        certificates=tuple(certificate_files(inputs)),
        cells=tuple(cell_facts(inputs.certificates.cells)),
        truststores=tuple(truststore_facts(inputs.certificates.truststores)),
        servers=tuple(server_facts(inputs)),
        readers=tuple(reader_facts(inputs)),
        probe=inputs.probe,
        probe_configured=inputs.probe_configured,
    )
    problems = problems_of(
        facts,
        scans_without_cells=[s.profile for s in inputs.certificates.scans if not s.copies],
        unmatched_logs=unmatched(inputs.log_patterns, inputs.logs.files) if inputs.ready else [],
        unmatched_certificates=unmatched(
            inputs.certificate_patterns, inputs.certificates.snapshot.files
        ),
        failure_window=inputs.limits.failure_window,
    )
    return replace(facts, problems=tuple(problems))


def unmatched(patterns: Iterable[str], paths: Iterable[str]) -> list[str]:
    """The globs among ``patterns`` that match none of ``paths``."""
    known = list(paths)
    return [
        pattern
        for pattern in patterns
        if is_glob(pattern) and not any(fnmatch.fnmatchcase(p, pattern) for p in known)
    ]


# -- certificates ----------------------------------------------------------------------------


def certificate_files(inputs: StatusInputs) -> list[CertificateFile]:
    """Every certificate file and log certificate block, most urgent first."""
    snapshot = inputs.certificates.snapshot
    log_rows = list(log_certificate_rows(inputs.logs))
    labels = short_labels([*snapshot.files, *(row.path for row in log_rows)])
    entries: dict[str, list[CertificateEntry]] = {}
    for entry in snapshot.certificates:
        entries.setdefault(entry.path, []).append(entry)
    files = [
        _file(path, labels[path], status, entries.get(path, []), inputs)
        for path, status in snapshot.files.items()
    ]
    files.extend(_log_file(row, labels[row.path], inputs) for row in log_rows)
    return sorted(files, key=_urgency)


def _urgency(file: CertificateFile) -> tuple[int, float, str]:
    left = file.days_left
    return state_rank(file.state), float("-inf") if left is None else left, file.short_path


def _file(
    path: str,
    label: str,
    status: FileStatus,
    entries: Sequence[CertificateEntry],
    inputs: StatusInputs,
) -> CertificateFile:
    node = node_from_path(path)
    if not status.read_ok:
        return CertificateFile(
            source="file",
            path=path,
            short_path=label,
            node=node,
            state=Status.UNKNOWN,
            reason=status.reason,
            message=status.message,
        )
    infos = sorted((entry.info for entry in entries), key=lambda info: info.position)
    found = tuple(problem for problem, holds in status.problems.items() if holds)
    certificates = tuple(
        replace(_certificate(info, inputs), problems=found if info.is_leaf else ())
        for info in infos
    )
    return CertificateFile(
        source="file",
        path=path,
        short_path=label,
        node=node,
        state=worst_status([*(c.state for c in certificates), problem_status(found)]),
        certificates=certificates,
        problems=found,
    )


def _log_file(row: CertificateRow, label: str, inputs: StatusInputs) -> CertificateFile:
    fact = replace(_certificate(row.as_info(), inputs), environment="")  # a log block does not say
    return CertificateFile(
        source="log",
        path=row.path,
        short_path=label,
        node=row.node,
        state=fact.state,
        certificates=(fact,),
    )


def _certificate(info: CertificateInfo, inputs: StatusInputs) -> CertificateFact:
    limits, now = inputs.limits, inputs.now
    subject = rfc4514_order(info.subject)
    state = certificate_status(
        info, now, warn_days=limits.warn_days, critical_days=limits.critical_days
    )
    return CertificateFact(
        name=common_name(subject),
        subject=subject,
        issuer=rfc4514_order(info.issuer),
        serial=info.serial,
        sha256=info.sha256,
        not_before=info.not_before if info.not_before != float("-inf") else None,
        not_after=info.not_after,
        days_left=round(days_left(info, now), 1),
        state=state,
        validity=validity(info, now),
        chain=not info.is_leaf,
        not_yet_valid=now < info.not_before,
        environment=info.environment if info.is_leaf else "",  # a CA has none to speak of
        topic=info.uid or attribute(subject, "UID"),
    )


def validity(info: CertificateInfo, now: float) -> str:
    """Where ``now`` is in the certificate's validity, in words."""
    if now < info.not_before:
        wait = (info.not_before - now) / 86400
        return f"not valid before {day(info.not_before)} (in {wait:.1f} days)"
    left = days_left(info, now)
    if left < 0:
        return f"expired {-left:.1f} days ago ({day(info.not_after)})"
    return f"expires in {left:.1f} days ({day(info.not_after)})"


def rdns(dn: str) -> list[str]:
    """The ``TYPE=value`` parts of a DN written with commas (escaped commas kept)."""
    return [part.strip() for part in _RDN_SEPARATOR.split(dn) if part.strip()]


def rfc4514_order(dn: str) -> str:
    """The DN most specific part first, as RFC 4514 (and the certificate files) write it.

    Logs print Java's X.500 order (``C=US, O=IBM, ..., CN=..., UID=...``); it is reversed so that
    a certificate reads the same from a log and from a file.
    """
    parts = rdns(dn)
    if len(parts) > 1 and _type(parts[0]) in _BROAD_FIRST and _type(parts[-1]) in _SPECIFIC_LAST:
        parts.reverse()
    return ",".join(parts)


def attribute(dn: str, name: str) -> str:
    """The value of the first ``name=`` part of a DN, else ""."""
    for part in rdns(dn):
        if _type(part) == name:
            return part.split("=", 1)[1].strip()
    return ""


def common_name(dn: str) -> str:
    """The DN's CN, else the whole DN."""
    return attribute(dn, "CN") or dn


def _type(rdn: str) -> str:
    return rdn.split("=", 1)[0].strip().upper()


# -- cells, servers, readers -----------------------------------------------------------------


def cell_facts(reports: Iterable[CellReport]) -> Iterator[CellFact]:
    """One fact per cell with a deployment manager profile, a row per node."""
    for report in reports:
        nodes = tuple(
            NodeFact(
                node=node,
                missing=bool(report.missing.get(node)),
                forgotten=node in report.forgotten,
                sync_pending=(
                    bool(report.sync_pending[node]) if node in report.sync_pending else None
                ),
            )
            for node in sorted({*report.missing, *report.sync_pending, *report.forgotten})
        )
        state = Status.OK
        if any(n.sync_pending for n in nodes):
            state = Status.WARNING
        if any(n.missing or n.forgotten for n in nodes) or report.distinct > 1:
            state = Status.CRITICAL
        yield CellFact(
            cell=report.cell,
            dmgr_profile=report.dmgr_profile,
            distinct=report.distinct,
            state=state,
            nodes=nodes,
        )


def truststore_facts(readings: Iterable[TrustStoreReading]) -> list[TrustStoreFact]:
    """Every trust store read or found: without the APNs roots CRITICAL, unreadable UNKNOWN
    (as ``check``); worst first."""
    stores = list(readings)
    labels = short_labels(store.path for store in stores)
    facts = [
        TrustStoreFact(
            path=store.path,
            short_path=labels[store.path],
            node=store.node,
            state=(
                Status.UNKNOWN
                if not store.read_ok
                else Status.OK
                if store.trusts_apns
                else Status.CRITICAL
            ),
            read_ok=store.read_ok,
            trusts_apns=store.trusts_apns,
            roots=store.roots,
            certificates=store.certificates,
            reason=store.reason,
            message=store.message,
        )
        for store in stores
    ]
    return sorted(facts, key=lambda t: (state_rank(t.state), t.short_path))


def server_facts(inputs: StatusInputs) -> list[ServerFact]:
    """Every server seen in the logs: failures in the last hour and day, restart pending."""
    restarts = inputs.certificates.restart_pending
    facts = [
        _server(name, totals, restarts.get(name), inputs)
        for name, totals in inputs.logs.servers.items()
    ]
    return sorted(facts, key=lambda s: (state_rank(s.state), -s.failures_last_day, s.server))


def _server(
    name: str, totals: ServerTotals, restart: int | None, inputs: StatusInputs
) -> ServerFact:
    now = inputs.now
    recent = totals.failures_since(now - inputs.limits.failure_window)
    state = Status.CRITICAL if recent else Status.WARNING if restart else Status.OK
    return ServerFact(
        server=name,
        failures_last_hour=totals.failures_since(now - 3600),
        failures_last_day=totals.failures_since(now - 86400),
        failures_total=sum(totals.failures.values()),
        last_failure=totals.last_failure,
        started=totals.started,
        running=totals.running,
        restart_pending=None if restart is None else bool(restart),
        state=state,
    )


def reader_facts(inputs: StatusInputs) -> list[ReaderFact]:
    """Every followed log: present, lag, HPEL; problems first."""
    labels = short_labels(inputs.logs.files)
    facts = [
        _reader(path, labels[path], totals, inputs.ready)
        for path, totals in inputs.logs.files.items()
    ]
    return sorted(facts, key=lambda r: (state_rank(r.state), r.short_path))


def _reader(path: str, label: str, totals: FileTotals, ready: bool) -> ReaderFact:
    missing = ready and not totals.present
    return ReaderFact(
        path=path,
        short_path=label,
        server=totals.server(path),
        present=totals.present,
        directory=totals.directory,
        hpel=totals.hpel,
        size=totals.size,
        position=totals.position,
        read_errors=totals.read_errors,
        last_read=totals.last_read,
        last_record=totals.last_record,
        state=Status.WARNING if missing or totals.directory or totals.hpel else Status.OK,
    )


def day(timestamp: float) -> str:
    """A date, UTC."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
