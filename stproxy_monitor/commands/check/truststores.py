"""The check's trust store rule: every trust store read must trust APNs' server roots."""

from __future__ import annotations

from collections.abc import Sequence

from stproxy_monitor.certs.truststore import APNS_ROOTS, TrustStoreReading
from stproxy_monitor.commands.check.rules import Finding, Part, plural, short_labels
from stproxy_monitor.commands.nagios import Perf
from stproxy_monitor.states import Status

_ROOTS = " nor ".join(root.name for root in APNS_ROOTS)


def truststore_part(readings: Sequence[TrustStoreReading], *, with_perfdata: bool) -> Part:
    """CRITICAL for a store without either root, UNKNOWN for one that cannot be read."""
    labels = short_labels(reading.path for reading in readings)
    findings = []
    for reading in readings:
        label = labels[reading.path]
        if not reading.read_ok:
            findings.append(
                Finding(
                    status=Status.UNKNOWN,
                    text=f"trust store {label}: cannot read ({reading.reason})",
                    detail=reading.message,
                )
            )
        elif not reading.trusts_apns:
            findings.append(
                Finding(
                    status=Status.CRITICAL,
                    text=f"trust store {label}: trusts neither {_ROOTS}: every APNs connection "
                    "fails (CWPKI0022E)",
                )
            )
    trusting = sum(1 for reading in readings if reading.trusts_apns)
    read = sum(1 for reading in readings if reading.read_ok)
    summary = f"{trusting} of {plural(read, 'trust store')} trust APNs" if read else ""
    perfdata = (
        (Perf(label="truststores_without_apns_root", value=read - trusting, crit="0", minimum="0"),)
        if with_perfdata
        else ()
    )
    return Part(findings=tuple(findings), perfdata=perfdata, summary=summary)
