"""Parse WebSphere basic-format timestamps in every JVM locale form (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_TIMESTAMP = re.compile(
    r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4}),?\s+"
    r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})(?:[:.,](?P<ms>\d{1,3}))?"
    r"(?:\s+(?P<zone>\S+))?\s*$"
)
_OFFSET_ZONE = re.compile(r"^(?:GMT|UTC)(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")

# Hours east of UTC for the abbreviations a JVM prints. Ambiguous ones take Java's meaning
# (CST = US Central, IST = India); the operator overrides them with a log's `timezone`.
ZONE_OFFSETS: dict[str, float] = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "WET": 0,
    "WEST": 1,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "MEZ": 1,
    "MESZ": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
    "IST": 5.5,
    "JST": 9,
    "KST": 9,
    "HKT": 8,
    "SGT": 8,
    "AWST": 8,
    "ACST": 9.5,
    "ACDT": 10.5,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "BRT": -3,
    "ART": -3,
}
# zh_CN writes dates as yy-M-d: there CST is China Standard Time.
_DASH_ZONE_OFFSETS: dict[str, float] = {"CST": 8}
# Zones whose locales write year first with slashes (ja: yy/MM/dd).
_YEAR_FIRST_ZONES = frozenset({"JST", "KST"})


@dataclass(frozen=True, slots=True)
class ParsedTime:
    """Epoch seconds, and the date order that was used (learnt when it was unambiguous)."""

    epoch: float
    date_order: str
    certain: bool


def parse_timestamp(
    text: str, *, date_order: str | None = None, tz: tzinfo | None = None
) -> ParsedTime | None:
    """Read the text between a record's brackets; None when it is not a readable time."""
    m = _TIMESTAMP.match(text.strip())
    if m is None:
        return None
    zone = m["zone"] or ""
    order, certain = _date_order(m, zone, date_order)
    fields = dict(zip(order, (m["a"], m["b"], m["c"]), strict=True))
    year = int(fields["Y"])
    if year < 100:
        year += 2000
    try:
        local = datetime(
            year,
            int(fields["M"]),
            int(fields["D"]),
            int(m["H"]),
            int(m["M"]),
            int(m["S"]),
            int((m["ms"] or "0").ljust(3, "0")) * 1000,
        )
    except ValueError:
        return None
    offset = _resolve_zone(local, zone, m["sep"], tz)
    if offset is None:
        return None
    return ParsedTime(local.replace(tzinfo=offset).timestamp(), order, certain)


def _date_order(  # noqa: PLR0911 - one return per rule reads best
    m: re.Match[str], zone: str, configured: str | None
) -> tuple[str, bool]:
    """Decide the field order of the date: configured, else from the separator and values."""
    if configured:
        return configured, True
    sep = m["sep"]
    if sep == ".":
        return "DMY", True
    if sep == "-":
        return "YMD", True
    a, b = m["a"], m["b"]
    if len(a) > 2 or int(a) > 31 or zone.upper() in _YEAR_FIRST_ZONES:
        return "YMD", True
    if int(a) > 12:
        return "DMY", True
    if int(b) > 12:
        return "MDY", True
    if len(a) == 1 or len(b) == 1:
        return "MDY", True  # en_US pads neither month nor day; the other locales pad both
    if a.startswith("0") or b.startswith("0"):
        return "DMY", True
    return "MDY", False


def _resolve_zone(local: datetime, zone: str, sep: str, tz: tzinfo | None) -> tzinfo | None:
    """The zone of a timestamp: an explicit offset is exact, then the configured zone, the table."""
    upper = zone.upper()
    m = _OFFSET_ZONE.match(upper)
    if m:
        minutes = int(m["h"]) * 60 + int(m["m"] or 0)
        if minutes >= 24 * 60:
            return None
        return timezone(timedelta(minutes=minutes if m["sign"] == "+" else -minutes))
    if tz is not None:
        return _configured_zone(local, zone, tz)
    if not upper:
        return UTC
    hours = (_DASH_ZONE_OFFSETS if sep == "-" else {}).get(upper, ZONE_OFFSETS.get(upper))
    if hours is None:
        return None
    return timezone(timedelta(hours=hours))


def _configured_zone(local: datetime, zone: str, tz: tzinfo) -> tzinfo:
    """A configured IANA zone; the abbreviation picks the side of a DST fold."""
    first = local.replace(tzinfo=tz)
    second = local.replace(tzinfo=tz, fold=1)
    if zone and second.tzname() == zone and first.tzname() != zone:
        return _fixed(second)
    return _fixed(first)


def _fixed(aware: datetime) -> tzinfo:
    """Freeze the offset of an aware datetime so that replace() keeps its fold decision."""
    offset = aware.utcoffset()
    return timezone(offset if offset is not None else timedelta(0))
