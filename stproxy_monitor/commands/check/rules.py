"""The rules of the ``check`` command: a pure evaluation of what was read, at a given time.

Each part (certificates, cells, APNS failures, logs) turns observations into findings (a state
and a sentence), Nagios performance data and a one-phrase summary for the OK case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath

from stproxy_monitor.certs.cell import CellReport
from stproxy_monitor.certs.files import node_from_path
from stproxy_monitor.certs.monitor import CertificateReading
from stproxy_monitor.certs.truststore import TRUSTSTORE_FILE_NAME
from stproxy_monitor.commands.nagios import Perf
from stproxy_monitor.metrics.certificates import CertificateRow
from stproxy_monitor.probe.result import ProbeResult
from stproxy_monitor.states import Status

_SEPARATORS = re.compile(r"[\\/]")
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Thresholds: days for certificates, seconds for the failure window and log staleness."""

    warn_days: float = 30.0
    critical_days: float = 7.0
    failure_window: float = 15 * 60.0
    stale_after: float = 60 * 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LogStream:
    """One configured log at check time: newest modification time (None: no file), HPEL mode."""

    path: str
    mtime: float | None
    hpel: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UndatedFailure:
    """A CLFRX0079W whose time could not be read, and the latest it can have been written:
    the time of the next record of its log whose time was read, else the log's modification
    time (None: neither is known)."""

    path: str
    reason: str
    latest: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Observations:
    """Everything the check read, before any rule is applied.

    ``failures`` holds (record time, reason) of every CLFRX0079W whose time was read,
    ``undated`` the others; ``log_problem`` says why the
    logs could not be read ("" when they could); ``unmatched`` lists certificate globs that
    match no file; ``configured`` names what the config has: "logs", "certificates", "profiles".
    """

    certificates: CertificateReading
    log_certificates: tuple[CertificateRow, ...] = ()
    failures: tuple[tuple[float, str], ...] = ()
    undated: tuple[UndatedFailure, ...] = ()
    streams: tuple[LogStream, ...] = ()
    log_problem: str = ""
    unmatched: tuple[str, ...] = ()
    configured: frozenset[str] = frozenset()
    probe: ProbeResult | None = None  # one probe now, when the config has probe:
    probe_problem: str = ""  # why it could not run


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem: its state, a short sentence for the status line, details for long output."""

    status: Status
    text: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """What one rule found."""

    findings: tuple[Finding, ...] = ()
    perfdata: tuple[Perf, ...] = ()
    summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The check's result: overall state, findings worst first, perfdata, OK summaries."""

    status: Status
    findings: tuple[Finding, ...]
    perfdata: tuple[Perf, ...]
    summaries: tuple[str, ...] = field(default=())


# -- labels --------------------------------------------------------------------------------


def short_labels(paths: Iterable[str]) -> dict[str, str]:
    """A short, unique name per path: ``<profile>/<node>`` for WebSphere copies,
    ``<profile>/<cell or node>/trust.p12`` for a profile's trust stores, else the name.

    Names that would collide become the shortest trailing parts of their paths that differ.
    """
    short = {path: _short(path) for path in paths}
    groups: dict[str, list[str]] = {}
    for path, label in short.items():
        groups.setdefault(label, []).append(path)
    for members in groups.values():
        if len(members) > 1:
            short.update(_unique_tails(members))
    return short


def _short(path: str) -> str:
    parts = _parts(path)
    node = node_from_path(path)
    if node and len(parts) >= 7 and parts[-5].casefold() == "cells":
        return f"{parts[-7]}/{node}"
    if parts and parts[-1].casefold() == TRUSTSTORE_FILE_NAME:
        # <profile>/config/cells/<cell>/trust.p12 and .../cells/<cell>/nodes/<node>/trust.p12
        if len(parts) >= 5 and parts[-3].casefold() == "cells":
            return f"{parts[-5]}/{parts[-2]}/{parts[-1]}"
        if len(parts) >= 7 and parts[-3].casefold() == "nodes" and parts[-5].casefold() == "cells":
            return f"{parts[-7]}/{parts[-2]}/{parts[-1]}"
    if len(parts) >= 2 and PurePath(path).suffix == ".log":
        return f"{parts[-2]}/{parts[-1]}"  # the server's directory tells logs apart
    return parts[-1] if parts else path


def _unique_tails(paths: Sequence[str]) -> dict[str, str]:
    """The fewest trailing path parts that tell ``paths`` apart (whole paths at worst)."""
    parts = {path: _parts(path) for path in paths}
    for depth in range(2, max(len(p) for p in parts.values()) + 1):
        tails = {path: "/".join(p[-depth:]) for path, p in parts.items()}
        if len(set(tails.values())) == len(tails):
            return tails
    return {path: path for path in paths}


def _parts(path: str) -> list[str]:
    return [part for part in _SEPARATORS.split(path) if part]


def perf_label(text: str) -> str:
    """``text`` with only letters, digits, ``_ . -`` (safe for every perfdata consumer)."""
    return _UNSAFE_LABEL.sub("_", text)


# -- cells and restarts --------------------------------------------------------------------


def cell_part(
    reports: Sequence[CellReport], empty_profiles: Sequence[str], *, with_perfdata: bool
) -> Part:
    """Forgotten nodes (CRITICAL), pending resynchronizations (WARNING), empty profiles."""
    findings = [
        Finding(status=Status.UNKNOWN, text=f"profile {path}: no config/cells/*/nodes/* found")
        for path in empty_profiles
    ]
    for report in reports:
        findings.extend(_cell_findings(report))
    forgotten = sum(len(report.forgotten) for report in reports)
    pending = sum(sum(report.sync_pending.values()) for report in reports)
    perfdata = (
        Perf(label="nodes_forgotten", value=forgotten, crit="0", minimum="0"),
        Perf(label="sync_pending", value=pending, warn="0", minimum="0"),
    )
    whole = [report.cell for report in reports if not report.forgotten]
    summary = f"{', '.join(whole)}: one certificate on every node" if whole else ""
    return Part(
        findings=tuple(findings), perfdata=perfdata if with_perfdata else (), summary=summary
    )


def _cell_findings(report: CellReport) -> Iterator[Finding]:
    dmgr = PurePath(report.dmgr_profile).name
    missing = [node for node, flag in sorted(report.missing.items()) if flag]
    behind = [node for node in report.forgotten if node not in missing]
    if missing:
        text = f"cell {report.cell}: no apns-prod.pkcs12 for {', '.join(missing)} in {dmgr}"
        yield Finding(status=Status.CRITICAL, text=text)
    if report.distinct > 1:
        text = (
            f"cell {report.cell}: {report.distinct} different certificates in {dmgr}, "
            f"{', '.join(behind)} not on the newest"
        )
        yield Finding(status=Status.CRITICAL, text=text)
    pending = [node for node, flag in sorted(report.sync_pending.items()) if flag]
    if pending:
        text = f"cell {report.cell}: full resynchronize pending for {', '.join(pending)}"
        yield Finding(status=Status.WARNING, text=text)


def restart_part(pending: Mapping[str, int], *, with_perfdata: bool) -> Part:
    """Servers still running with the previous certificate (WARNING)."""
    servers = sorted(server for server, flag in pending.items() if flag)
    findings = tuple(
        Finding(
            status=Status.WARNING,
            text=f"{server}: restart pending (certificate file changed after the last start)",
        )
        for server in servers
    )
    perfdata = (Perf(label="restart_pending", value=len(servers), warn="0", minimum="0"),)
    return Part(findings=findings, perfdata=perfdata if with_perfdata else ())


# -- logs ----------------------------------------------------------------------------------


def failure_part(
    failures: Sequence[tuple[float, str]],
    *,
    now: float,
    window: float,
    undated: Sequence[UndatedFailure] = (),
) -> Part:
    """CLFRX0079W records dated within the window (or later: clocks drift) are CRITICAL.

    One whose time cannot be read is never taken for "now" (the check reads the logs from
    their start at every run: an old one would page at every run): older than the window
    when the latest it can have been written is, else a WARNING of its own.
    """
    recent = sorted(failure for failure in failures if failure[0] >= now - window)
    maybe = [u for u in undated if u.latest is None or u.latest >= now - window]
    minutes = f"{window / 60:g} min"
    perfdata = (Perf(label="apns_failures_recent", value=len(recent), crit="0", minimum="0"),)
    findings = []
    if recent:
        reasons = ", ".join(sorted({reason for _, reason in recent}))
        text = (
            f"{plural(len(recent), 'APNS connection failure')} (CLFRX0079W) in the last "
            f"{minutes} ({reasons}), the last at {_time(recent[-1][0])}"
        )
        findings.append(Finding(status=Status.CRITICAL, text=text))
    if maybe:
        labels = short_labels(u.path for u in maybe)
        text = (
            f"{plural(len(maybe), 'APNS connection failure')} (CLFRX0079W) with a time that "
            f"cannot be read, maybe in the last {minutes} "
            f"({', '.join(sorted({u.reason for u in maybe}))}) in "
            f"{', '.join(sorted(set(labels.values())))}"
        )
        detail = "set the log's timezone or date_order, or report its time format"
        findings.append(Finding(status=Status.WARNING, text=text, detail=detail))
    older = len(undated) - len(maybe)
    summary = "" if recent else f"no APNS failures in the last {minutes}"
    if summary and older:
        summary += f" ({older} older with a time that cannot be read)"
    return Part(findings=tuple(findings), perfdata=perfdata, summary=summary)


def log_part(streams: Sequence[LogStream], problem: str, *, now: float, limits: Limits) -> Part:
    """Missing or stale logs (WARNING), unreadable logs (UNKNOWN), the oldest log's age."""
    labels = short_labels(stream.path for stream in streams)
    texts = [_log_problem(stream, labels[stream.path], now, limits) for stream in streams]
    findings = [Finding(status=Status.WARNING, text=text) for text in texts if text]
    if problem:
        findings.insert(0, Finding(status=Status.UNKNOWN, text=problem))
    ages = [now - stream.mtime for stream in streams if stream.mtime is not None]
    perfdata: tuple[Perf, ...] = ()
    if ages:
        stale = f"{limits.stale_after:.0f}"
        perfdata = (Perf(label="log_age", value=max(ages), uom="s", warn=stale, minimum="0"),)
    fresh = plural(texts.count(""), "log")
    return Part(findings=tuple(findings), perfdata=perfdata, summary=f"{fresh} fresh")


def _log_problem(stream: LogStream, label: str, now: float, limits: Limits) -> str:
    if stream.mtime is None and stream.hpel:
        return f"{stream.path}: no such file, the server writes binary HPEL logs (logdata/*.wbl)"
    if stream.mtime is None:
        return f"{stream.path}: no such log file"
    age = now - stream.mtime
    if age > limits.stale_after:
        limit = _duration(limits.stale_after)
        return f"{label}: not written for {_duration(age)} (stale after {limit})"
    return ""


def plural(count: int, noun: str) -> str:
    """``1 log``, ``2 logs``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
