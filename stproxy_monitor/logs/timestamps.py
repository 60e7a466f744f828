"""Parse WebSphere basic-format timestamps in every JVM locale form (pure).

WebSphere writes a record's time with the JVM locale's SHORT date + MEDIUM time pattern, with
``:SSS z`` put after the seconds, every hour letter made ``H`` (0-23) and the am/pm marker
blanked (``DateFormatHelper``); so Korean ``yy. M. d a h:mm:ss`` becomes ``yy. M. d   H:mm:ss:SSS
z``, three blanks where the marker was. Java 9+ (CLDR data) adds commas and four-digit years.
12-hour forms that keep their marker (AM/PM, 오전/오후, 上午/下午, 午前/午後; before or after the
time) are read too, for loggers that do not blank it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_AM = ("AM", "오전", "上午", "午前")
_PM = ("PM", "오후", "下午", "午後")
_MARKER = "|".join(_AM + _PM)
_TIMESTAMP = re.compile(
    # The date: "/", "." or "-"; Korean puts a blank after each dot ("yy. M. d", CLDR "d.").
    r"(?P<a>\d{1,4})(?P<sep>[/.\-])(?P<gap> ?)(?P<b>\d{1,2})(?P=sep)(?P=gap)(?P<c>\d{1,4})"
    r"\.?,?\s+"
    rf"(?:(?P<pre>{_MARKER})\s*)?"
    # The time: Italian (Java 8 data) writes H.mm.ss; the milliseconds always follow a colon.
    r"(?P<H>\d{1,2})(?P<tsep>[:.])(?P<M>\d{2})(?P=tsep)(?P<S>\d{2})(?:[:.,](?P<ms>\d{1,3}))?"
    rf"(?:\s+(?P<post>{_MARKER}))?"
    r"(?:\s+(?P<zone>\S+))?"
    rf"(?:\s+(?P<late>{_MARKER}))?\s*$",
    re.IGNORECASE,
)
_OFFSET_ZONE = re.compile(r"^(?:GMT|UTC)(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")

# Hours east of UTC for the abbreviations a JVM prints. Ambiguous ones take Java's meaning
# (CST = US Central, IST = India); the operator overrides them with a log's `timezone`.
ZONE_OFFSETS: dict[str, float] = {
    "UTC": 0,
    "UT": 0,
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
    "SAST": 2,
    "MSK": 3,
    "TRT": 3,
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
    "PKT": 5,
    "IST": 5.5,
    "ICT": 7,
    "WIB": 7,
    "HKT": 8,
    "SGT": 8,
    "MYT": 8,
    "PHT": 8,
    "TST": 8,  # Asia/Taipei in Java's zh_TW names
    "AWST": 8,
    "JST": 9,
    "KST": 9,
    "ACST": 9.5,
    "ACDT": 10.5,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "BRT": -3,
    "BRST": -2,
    "ART": -3,
}
# Only Chinese locales write the year first (zh_CN yy-M-d, zh_TW yyyy/M/d): there CST is China.
_YEAR_FIRST_OFFSETS: dict[str, float] = {"CST": 8}
# Zones whose locales write year first with slashes (ja: yy/MM/dd; ko: yy. M. d).
_YEAR_FIRST_ZONES = frozenset({"JST", "KST"})
# With dashes both zh_CN (yy-M-d) and nl (d-M-yy) are possible; the zone tells them apart.
_CHINESE_ZONES = frozenset({"CST", "HKT", "TST", "GMT+08:00", "UTC+08:00", "GMT+8", "UTC+8"})
_EUROPEAN_ZONES = frozenset({"CET", "CEST", "MEZ", "MESZ", "WET", "WEST", "EET", "EEST", "BST"})


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
    if m is None or (m["pre"] and (m["post"] or m["late"])) or (m["post"] and m["late"]):
        return None
    zone = m["zone"] or ""
    order, certain = _date_order(m, zone.upper(), date_order)
    fields = dict(zip(order, (m["a"], m["b"], m["c"]), strict=True))
    year = int(fields["Y"])
    if year < 100:
        year += 2000
    try:
        local = datetime(
            year,
            int(fields["M"]),
            int(fields["D"]),
            _hour(int(m["H"]), m["pre"] or m["post"] or m["late"]),
            int(m["M"]),
            int(m["S"]),
            int((m["ms"] or "0").ljust(3, "0")) * 1000,
        )
    except ValueError:
        return None
    offset = _resolve_zone(local, zone, order, tz)
    if offset is None:
        return None
    return ParsedTime(local.replace(tzinfo=offset).timestamp(), order, certain)


def _hour(hour: int, marker: str | None) -> int:
    """The 0-23 hour of a 12-hour clock reading (an hour over 12 is already 0-23)."""
    if marker is None or hour > 12:
        return hour
    if marker.upper() in _PM:
        return hour % 12 + 12
    return hour % 12


def _date_order(  # noqa: PLR0911 - one return per rule reads best
    m: re.Match[str], zone: str, configured: str | None
) -> tuple[str, bool]:
    """Decide the field order of the date: configured, else from the separator and values."""
    if configured:
        return configured, True
    a, b, c, sep = m["a"], m["b"], m["c"], m["sep"]
    if m["gap"] or len(a) > 2 or int(a) > 31:  # a day is at most 31
        return "YMD", True
    if len(c) > 2:  # a four-digit year last (CLDR en_GB, fr, pt_BR, nl, pl, ru): day first
        return "DMY", True
    if sep == ".":
        return "DMY", True
    if sep == "-":
        return _dash_order(a, c, zone)
    if zone in _YEAR_FIRST_ZONES:
        return "YMD", True
    if int(a) > 12:  # a month is at most 12
        return "DMY", True
    if int(b) > 12:
        return "MDY", True
    if a.startswith("0") or b.startswith("0"):
        return "DMY", True  # en_US pads neither month nor day; the other locales pad one
    return "MDY", False  # en_US, or es's d/MM/yy on a day 1-9 in October-December


def _dash_order(a: str, c: str, zone: str) -> tuple[str, bool]:
    """zh_CN yy-M-d or nl d-M-yy (Java 8 data); sv and nl (Java 9+) have four-digit years."""
    if len(c) == 1:  # the year is always two digits: a one-digit last field is a day
        return "YMD", True
    if len(a) == 1 or int(c) > 31:  # likewise for the first field
        return "DMY", True
    if zone in _CHINESE_ZONES:
        return "YMD", True
    if zone in _EUROPEAN_ZONES:
        return "DMY", True
    return "YMD", False


def _resolve_zone(local: datetime, zone: str, order: str, tz: tzinfo | None) -> tzinfo | None:
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
    hours = (_YEAR_FIRST_OFFSETS if order == "YMD" else {}).get(upper, ZONE_OFFSETS.get(upper))
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
