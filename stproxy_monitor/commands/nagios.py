"""Nagios/Icinga terms of ``cert`` and ``check``: certificate states by thresholds, perfdata."""

from __future__ import annotations

from dataclasses import dataclass

from stproxy_monitor.certs.inspection import CertificateInfo, days_left
from stproxy_monitor.states import Status


def status_for(days_left: float, warn_days: float, critical_days: float) -> int:
    """OK, WARNING below ``warn_days``, CRITICAL below ``critical_days`` (so also once expired)."""
    if days_left < critical_days:
        return Status.CRITICAL
    if days_left < warn_days:
        return Status.WARNING
    return Status.OK


def certificate_status(
    info: CertificateInfo, now: float, *, warn_days: float, critical_days: float
) -> Status:
    """Status of one certificate at ``now``: a certificate not yet valid is CRITICAL too.

    A not-yet-valid certificate is rejected by APNS exactly like an expired one, so an operator
    who installed it too early has the same outage.
    """
    if now < info.not_before:
        return Status.CRITICAL
    return Status(status_for(days_left(info, now), warn_days, critical_days))


@dataclass(frozen=True, slots=True, kw_only=True)
class Perf:
    """One Nagios performance value: ``'label'=value[uom];warn;crit;min;max``."""

    label: str
    value: float
    uom: str = ""
    warn: str = ""
    crit: str = ""
    minimum: str = ""
    digits: int = 0

    def render(self) -> str:
        """The value in Nagios syntax; empty trailing fields are left out."""
        fields = [f"{self.value:.{self.digits}f}{self.uom}", self.warn, self.crit, self.minimum]
        return f"'{self.label}'=" + ";".join(fields).rstrip(";")
