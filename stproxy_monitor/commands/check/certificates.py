"""The check's certificate rule: the worst certificate of each file or log, days left."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from stproxy_monitor.certs.facts import CRITICAL_PROBLEMS
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
    rows.extend((row.path, row.as_info()) for row in log_rows)
    return rows


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
    findings += [
        _problem(labels[path], problem)
        for path, status in files.items()
        for problem, holds in status.problems.items()
        if holds
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


# What the status line says of each problem (the README's table says what to do).
_PROBLEM_TEXT = {
    "no_private_key": "holds no private key",
    "key_mismatch": "its private key is not the certificate's",
    "not_apple_issued": "not issued by Apple Worldwide Developer Relations",
    "sandbox_only": "a sandbox (development) certificate, not valid for production",
    "topic_mismatch": "for another app (the expected topic is not its UID nor a topic)",
    "legacy_unreadable": "PBES2/AES encrypted: older Java cannot read it "
    "(re-export with openssl pkcs12 -export -legacy)",
}


def _problem(label: str, problem: str) -> Finding:
    """A problem of a certificate file (certs.facts): CRITICAL or WARNING as the contract says."""
    status = Status.CRITICAL if problem in CRITICAL_PROBLEMS else Status.WARNING
    return Finding(status=status, text=f"{label}: {problem}: {_PROBLEM_TEXT[problem]}")


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
