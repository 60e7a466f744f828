"""The check's probe line: one probe now, its result as a Nagios state (pure over the result)."""

from __future__ import annotations

from stproxy_monitor.commands.check.rules import Finding, Part
from stproxy_monitor.commands.nagios import Perf
from stproxy_monitor.probe.result import ProbeResult
from stproxy_monitor.states import Status


def probe_part(result: ProbeResult | None, problem: str = "") -> Part:
    """accepted is OK; the certificate results CRITICAL; the others UNKNOWN (the exit status of
    `probe`, read as a plugin state). ``problem``: why no probe could run (UNKNOWN)."""
    if result is None:
        text = f"APNs probe not run: {problem or 'no probe: section'}"
        return Part(findings=(Finding(status=Status.UNKNOWN, text=text),))
    perf = Perf(
        label="probe_duration", value=result.duration_seconds, uom="s", minimum="0", digits=3
    )
    if result.success:
        return Part(perfdata=(perf,), summary=f"APNs accepted the certificate ({result.endpoint})")
    text = f"APNs probe of {result.endpoint}: {result.result}"
    finding = Finding(status=Status(result.exit_status), text=text, detail=result.message)
    return Part(findings=(finding,), perfdata=(perf,))
