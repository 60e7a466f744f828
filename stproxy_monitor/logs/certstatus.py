"""Certificate-status lines in a log: the IBM tool's block and users' patterns (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stproxy_monitor.logs.events import CertificateStatus

IBM_BLOCK = re.compile(
    r"^\s*(?P<key>IssuerDN|SubjectDN|From \(yyyy-mm-dd\)|To \(yyyy-mm-dd\)|MD5)"
    r"\s*:\s*(?P<value>.*?)\s*$"
)


def _parse_day(value: str, fmt: str) -> float | None:
    """A certificate date as epoch seconds (UTC), or None when unreadable."""
    try:
        return datetime.strptime(value.strip(), fmt).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def block_status(block: dict[str, str]) -> CertificateStatus | None:
    """A CertificateStatus from the IBM tool's fields, None when the To date is unreadable."""
    not_after = _parse_day(block.get("To", ""), "%Y-%m-%d")
    if not_after is None:
        return None
    return CertificateStatus(
        not_after=not_after,
        not_before=_parse_day(block.get("From", ""), "%Y-%m-%d"),
        subject=block.get("SubjectDN", ""),
        issuer=block.get("IssuerDN", ""),
        md5=block.get("MD5", "").replace(":", "").lower(),
    )


def pattern_status(found: re.Match[str], fmt: str) -> CertificateStatus | None:
    """A CertificateStatus from a user pattern's named groups (not_after is required)."""
    groups = found.groupdict()
    not_after = _parse_day(groups.get("not_after") or "", fmt)
    if not_after is None:
        return None
    before = groups.get("not_before")
    return CertificateStatus(
        not_after=not_after,
        not_before=_parse_day(before, fmt) if before else None,
        subject=groups.get("subject") or "",
        issuer=groups.get("issuer") or "",
        md5=(groups.get("md5") or "").replace(":", "").lower(),
    )


@dataclass(slots=True)
class IbmBlock:
    """The IBM tool's block as its lines come (IssuerDN, SubjectDN, From, To, MD5)."""

    fields: dict[str, str] = field(default_factory=dict)

    def line(self, key: str, value: str) -> CertificateStatus | None:
        """Add one key's line; the status at To, again with MD5 when it follows."""
        name = key.split(" ", maxsplit=1)[0]
        if name == "IssuerDN" and "To" in self.fields:
            self.fields = {}
        self.fields[name] = value
        event = None
        if name in ("To", "MD5") and "To" in self.fields:
            event = block_status(self.fields)
            if name == "MD5":
                self.fields = {}
        return event
