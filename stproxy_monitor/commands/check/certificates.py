"""The check's certificate rule: the worst certificate of each file or log, days left."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from stproxy_monitor.certs.files import CertificateEntry, FileStatus
from stproxy_monitor.certs.inspection import CertificateInfo, days_left
from stproxy_monitor.commands.check.rules import (
    Finding,
    Limits,
    Part,
    perf_label,
    plural,
    short_labels,
)
from stproxy_monitor.commands.nagios import Perf, certificate_status
from stproxy_monitor.metrics.certificates import CertificateRow
from stproxy_monitor.states import Status, worst_status


def certificate_rows(
    entries: Iterable[CertificateEntry], log_rows: Iterable[CertificateRow]
) -> list[tuple[str, CertificateInfo]]:
    """(path, certificate) of every certificate file entry and every log certificate block."""
    rows = [(entry.path, entry.info) for entry in entries]
    rows.extend((row.path, _log_info(row)) for row in log_rows)
    return rows


def _log_info(row: CertificateRow) -> CertificateInfo:
    """A certificate-status block of a log as a CertificateInfo (it has no fingerprints)."""
    return CertificateInfo(
        subject=row.subject,
        issuer=row.issuer,
        serial=row.serial,
        not_before=row.not_before if row.not_before is not None else float("-inf"),
        not_after=row.not_after,
        sha256=row.sha256,
        sha1="",
        md5="",
        is_leaf=True,
        position=0,
    )


def certificate_part(
    files: Mapping[str, FileStatus],
    rows: Sequence[tuple[str, CertificateInfo]],
    *,
    now: float,
    limits: Limits,
) -> Part:
    """Worst certificate of each file or log, unreadable files, days-left perfdata."""
    by_path: dict[str, list[CertificateInfo]] = {}
    for path, info in rows:
        by_path.setdefault(path, []).append(info)
    labels = short_labels([*files, *by_path])
    findings = [
        _unreadable(labels[path], status) for path, status in files.items() if not status.read_ok
    ]
    days: dict[str, float] = {}
    for path, infos in by_path.items():
        finding, days[labels[path]] = _file_finding(labels[path], infos, now, limits)
        findings.append(finding)
    problems = tuple(f for f in findings if f.status != Status.OK)
    if not days:
        return Part(findings=problems)
    soonest = min(days, key=days.__getitem__)
    summary = (
        f"{plural(len(rows), 'certificate')} in {plural(len(days), 'file')}, soonest ends in "
        f"{days[soonest]:.1f} days ({soonest})"
    )
    perfdata = [
        _days_perf(f"days_left_{perf_label(label)}", d, limits) for label, d in days.items()
    ]
    minimum = _days_perf("days_left_min", days[soonest], limits)
    return Part(findings=problems, perfdata=(minimum, *perfdata), summary=summary)


def _unreadable(label: str, status: FileStatus) -> Finding:
    return Finding(
        status=Status.UNKNOWN, text=f"{label}: cannot read ({status.reason})", detail=status.message
    )


def _file_finding(
    label: str, infos: Sequence[CertificateInfo], now: float, limits: Limits
) -> tuple[Finding, float]:
    """The most urgent certificate of one file as a finding, and the file's least days left."""

    def state(info: CertificateInfo) -> Status:
        return certificate_status(
            info, now, warn_days=limits.warn_days, critical_days=limits.critical_days
        )

    worst = worst_status(state(info) for info in infos)
    urgent = min((i for i in infos if state(i) == worst), key=lambda i: i.not_after)
    least = min(days_left(info, now) for info in infos)
    role = "" if urgent.is_leaf else " (chain certificate)"
    return Finding(status=worst, text=f"{label}{role}: {_validity(urgent, now)}"), least


def _validity(info: CertificateInfo, now: float) -> str:
    if now < info.not_before:
        return f"not valid before {_day(info.not_before)}"
    left = days_left(info, now)
    if left < 0:
        return f"expired {-left:.1f} days ago ({_day(info.not_after)})"
    return f"expires in {left:.1f} days ({_day(info.not_after)})"


def _days_perf(label: str, days: float, limits: Limits) -> Perf:
    # "N:" is the Nagios range "alert when below N" (a bare N would mean "above N").
    return Perf(
        label=label,
        value=days,
        uom="d",
        warn=f"{limits.warn_days:g}:",
        crit=f"{limits.critical_days:g}:",
        digits=1,
    )


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
