"""The ``check`` command: one Nagios/Icinga status line over everything the config names.

Reading is done here with the daemon's own pieces: the certificate files and profiles through
:class:`~stproxy_monitor.certs.monitor.CertificateMonitor`, the configured logs once
from their start through :func:`~stproxy_monitor.commands.scan.scan_files`. The rules are pure
functions (:mod:`~stproxy_monitor.commands.check.rules`,
:mod:`~stproxy_monitor.commands.check.certificates`) that :func:`evaluate` applies
to what was read; :func:`render` writes their verdict as plugin output::

    STPROXY <STATE> - <worst problems> | 'label'=value[uom];warn;crit;min ...
    <STATE>: <one line per problem, worst first>
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from stproxy_monitor.certs.monitor import CertificateMonitor
from stproxy_monitor.commands.check.certificates import certificate_part, certificate_rows
from stproxy_monitor.commands.check.failures import FailureLog, bounded
from stproxy_monitor.commands.check.probe import probe_part
from stproxy_monitor.commands.check.rules import (
    Finding,
    Limits,
    LogStream,
    Observations,
    Part,
    Verdict,
    cell_part,
    failure_part,
    log_part,
    restart_part,
)
from stproxy_monitor.commands.check.truststores import truststore_part
from stproxy_monitor.commands.probe import daemon_probe
from stproxy_monitor.commands.scan import group_streams, scan_files
from stproxy_monitor.config import Config, LogConfig, ParseOptions
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.logs.files import writes_hpel
from stproxy_monitor.metrics.certificates import log_certificate_rows
from stproxy_monitor.paths import expand_glob, is_glob
from stproxy_monitor.probe.client import run_probe
from stproxy_monitor.states import Status, state_rank, worst_status

PLUGIN = "STPROXY"
SUMMARY_PROBLEMS = 3
_SPACES = re.compile(r"\s+")

ExpandGlob = Callable[[str], list[str]]


def check_command(
    config: Config,
    *,
    now: float,
    environ: Mapping[str, str],
    out: TextIO,
    expand: ExpandGlob = expand_glob,
) -> int:
    """Check everything ``config`` names at ``now``; write the plugin output, return 0-3.

    Never raises for what it reads: an unexpected error is reported as UNKNOWN (3).
    """
    try:
        observed = observe(config, now=now, environ=environ, expand=expand)
        verdict = evaluate(observed, now=now, limits=limits_of(config))
        text, status = render(verdict), verdict.status
    except Exception as exc:  # a plugin must answer with a state, never a traceback
        text, status = internal_error(exc), Status.UNKNOWN
    out.write(text)
    return int(status)


def limits_of(config: Config) -> Limits:
    """The thresholds of ``config`` (minutes turned into seconds)."""
    return Limits(
        warn_days=config.warn_days,
        critical_days=config.critical_days,
        failure_window=config.failure_window_minutes * 60,
        stale_after=config.stale_minutes * 60,
    )


# -- rules ---------------------------------------------------------------------------------


def evaluate(observed: Observations, *, now: float, limits: Limits) -> Verdict:
    """Apply every rule to ``observed`` at ``now``; perfdata follow what is configured.

    Among problems of one state the order is: APNS failures (an outage now), certificates,
    cells, restarts, logs, configuration.
    """
    parts = _certificate_parts(observed, now, limits)
    if "logs" in observed.configured:
        failures = failure_part(
            observed.failures, now=now, window=limits.failure_window, undated=observed.undated
        )
        parts.insert(0, failures)
        parts.append(log_part(observed.streams, observed.log_problem, now=now, limits=limits))
    if "probe" in observed.configured:
        parts.insert(0, probe_part(observed.probe, observed.probe_problem))
    parts.append(_configuration_part(observed))
    findings = [finding for part in parts for finding in part.findings]
    return Verdict(
        status=worst_status(finding.status for finding in findings),
        findings=tuple(sorted(findings, key=lambda finding: state_rank(finding.status))),
        perfdata=tuple(perf for part in parts for perf in part.perfdata),
        summaries=tuple(part.summary for part in parts if part.summary),
    )


def _configuration_part(observed: Observations) -> Part:
    """Nothing configured, or certificate globs that match no file: UNKNOWN."""
    findings = [
        Finding(status=Status.UNKNOWN, text=f"no certificate file matches {pattern}")
        for pattern in observed.unmatched
    ]
    if not observed.configured:
        text = (
            "nothing to check: the config names no logs, certificates, profiles or truststores"
        )
        findings.append(Finding(status=Status.UNKNOWN, text=text))
    return Part(findings=tuple(findings))


def _certificate_parts(observed: Observations, now: float, limits: Limits) -> list[Part]:
    """Certificates, cells and restarts."""
    reading = observed.certificates
    has_profiles = "profiles" in observed.configured
    has_files = has_profiles or "certificates" in observed.configured
    rows = certificate_rows(reading.snapshot.certificates, observed.log_certificates)
    return [
        certificate_part(reading.snapshot.files, rows, now=now, limits=limits),
        cell_part(
            reading.cells,
            [scan.profile for scan in reading.scans if not scan.copies],
            with_perfdata=has_profiles,
        ),
        restart_part(
            reading.restart_pending,
            with_perfdata=has_files and "logs" in observed.configured,
        ),
        truststore_part(
            reading.truststores,
            with_perfdata=has_profiles or "truststores" in observed.configured,
        ),
    ]


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogReading:
    """The configured logs, read once: state, streams and why reading stopped (if it did)."""

    state: FailureLog
    streams: tuple[LogStream, ...]
    problem: str


def observe(
    config: Config, *, now: float, environ: Mapping[str, str], expand: ExpandGlob
) -> Observations:
    """Read every log, certificate file and profile the config names."""
    logs = read_logs(config.logs, now=now, expand=expand)
    snapshot = logs.state.snapshot()
    monitor = CertificateMonitor(
        config.certificates,
        config.profiles,
        truststores=config.truststores,
        expected_topic=config.expected_topic,
        environ=environ,
    )
    return Observations(
        certificates=monitor.read(snapshot),
        log_certificates=tuple(log_certificate_rows(snapshot)),
        failures=tuple(logs.state.failures),
        undated=bounded(logs.state.undated, {stream.path: stream.mtime for stream in logs.streams}),
        streams=logs.streams,
        log_problem=logs.problem,
        unmatched=tuple(
            c.path for c in config.certificates if is_glob(c.path) and not expand(c.path)
        ),
        configured=configured_sections(config),
        **_probe_once(config, environ),
    )


def _probe_once(config: Config, environ: Mapping[str, str]) -> dict[str, Any]:
    """One probe when the config has a probe: section (Observations' probe fields)."""
    if config.probe is None:
        return {}
    try:
        spec = daemon_probe(config)()
    except ConfigError as exc:
        return {"probe_problem": "; ".join(exc.problems)}
    return {"probe": run_probe(spec, environ=environ)}


def configured_sections(config: Config) -> frozenset[str]:
    """Which of "logs", "certificates", "profiles", "truststores" the config fills."""
    sections = {"logs": config.logs, "certificates": config.certificates}
    sections["profiles"] = config.profiles
    sections["truststores"] = config.truststores
    sections["probe"] = () if config.probe is None else (config.probe,)
    return frozenset(name for name, entries in sections.items() if entries)


def read_logs(entries: Sequence[LogConfig], *, now: float, expand: ExpandGlob) -> LogReading:
    """Scan every configured log from its start with its own options; stat each stream."""
    files, absent = log_files(entries, expand)
    groups = group_streams(files)
    owners = {live: files[members[0]] for live, members in groups.items()}

    def options_for(live: str) -> tuple[ParseOptions, str | None]:
        return owners[live].options, owners[live].server

    state, problem = FailureLog(), ""
    try:
        scan_files(list(files), options_for=options_for, clock=lambda: now, state=state)
    except OSError as exc:  # scanning stops there: the state holds what came before
        problem = f"cannot read the logs: {exc.filename or '?'}: {exc.strerror or exc}"
    streams = [LogStream(path=live, mtime=newest_mtime(group)) for live, group in groups.items()]
    streams += [LogStream(path=path, mtime=None, hpel=writes_hpel(path)) for path in absent]
    return LogReading(state, tuple(streams), problem)


def log_files(
    entries: Sequence[LogConfig], expand: ExpandGlob
) -> tuple[dict[str, LogConfig], list[str]]:
    """Existing files of every entry (the first entry naming a file wins), entries with none."""
    files: dict[str, LogConfig] = {}
    absent: list[str] = []
    for entry in entries:
        paths = expand(entry.path) if is_glob(entry.path) else [entry.path]
        found = [path for path in paths if os.path.isfile(path)]
        if not found:
            absent.append(entry.path)
        for path in found:
            files.setdefault(path, entry)
    return files, absent


def newest_mtime(paths: Sequence[str]) -> float | None:
    """The latest modification time among ``paths`` (None when none can be stat'ed)."""
    times = []
    for path in paths:
        try:
            times.append(os.stat(path).st_mtime)
        except OSError:
            continue
    return max(times, default=None)


# -- output --------------------------------------------------------------------------------


def render(verdict: Verdict) -> str:
    """The status line with perfdata, then one line per problem and what was checked."""
    worst = [f.text for f in verdict.findings if f.status == verdict.status]
    summary = "; ".join(worst[:SUMMARY_PROBLEMS])
    if len(worst) > SUMMARY_PROBLEMS:
        summary += f" (+{len(worst) - SUMMARY_PROBLEMS} more)"
    if not worst:
        summary = "; ".join(verdict.summaries) or "nothing to report"
    perfdata = " ".join(perf.render() for perf in verdict.perfdata)
    lines = [f"{PLUGIN} {verdict.status.name} - {clean(summary)}"]
    if perfdata:
        lines[0] += f" | {perfdata}"
    return "\n".join(lines + long_output(verdict)) + "\n"


def long_output(verdict: Verdict) -> list[str]:
    """Every finding, worst first, and what was checked; nothing when line 1 says it all."""
    findings = verdict.findings
    if not findings or (len(findings) == 1 and not findings[0].detail and not verdict.summaries):
        return []
    lines = []
    for finding in findings:
        detail = f" - {finding.detail}" if finding.detail else ""
        lines.append(clean(f"{finding.status.name}: {finding.text}{detail}"))
    if verdict.summaries:
        lines.append(clean("checked: " + "; ".join(verdict.summaries)))
    return lines


def internal_error(exc: Exception) -> str:
    """The UNKNOWN line for an unexpected error: its type and a capped, one-line message."""
    message = clean(f"{type(exc).__name__}: {exc}")[:300]
    return f"{PLUGIN} UNKNOWN - internal error: {message}\n"


def clean(text: str) -> str:
    """One line without ``|`` (which would start perfdata)."""
    return _SPACES.sub(" ", text.replace("|", "/")).strip()
