"""Tests of stproxy_monitor.logs.timestamps: every locale form, date orders, zones and failures."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stproxy_monitor.logs.timestamps import ParsedTime, parse_timestamp

NEW_YORK = ZoneInfo("America/New_York")


def epoch(*fields: int, hours: float = 0, ms: int = 0) -> float:
    """Epoch seconds of a wall-clock time at a fixed UTC offset, computed with datetime alone."""
    zone = timezone(timedelta(hours=hours))
    return datetime(*fields, microsecond=ms * 1000, tzinfo=zone).timestamp()  # type: ignore[misc]


def parsed(text: str, **kwargs: object) -> ParsedTime:
    """parse_timestamp that must succeed."""
    result = parse_timestamp(text, **kwargs)  # type: ignore[arg-type]
    assert result is not None, text
    return result


# --- DOMAIN.md's locale table --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "order"),
    [
        # en_US: M/d/yy H:mm:ss:SSS z, hour not padded
        ("5/10/20 3:09:01:349 UTC", epoch(2020, 5, 10, 3, 9, 1, ms=349), "MDY"),
        ("4/16/18 10:23:45:123 EDT", epoch(2018, 4, 16, 10, 23, 45, hours=-4, ms=123), "MDY"),
        ("12/31/19 23:59:59:999 PST", epoch(2019, 12, 31, 23, 59, 59, hours=-8, ms=999), "MDY"),
        # en_GB, fr, pt_BR: dd/MM/yy HH:mm:ss:SSS z (Java's IST is India)
        ("18/05/17 09:47:21:308 IST", epoch(2017, 5, 18, 9, 47, 21, hours=5.5, ms=308), "DMY"),
        ("18/05/17 09:47:21:308 CEST", epoch(2017, 5, 18, 9, 47, 21, hours=2, ms=308), "DMY"),
        ("18/05/17 09:47:21:308 BRT", epoch(2017, 5, 18, 9, 47, 21, hours=-3, ms=308), "DMY"),
        ("03/02/21 00:00:00:000 GMT", epoch(2021, 2, 3), "DMY"),
        # de (reconstructed): dd.MM.yy HH:mm:ss:SSS z
        ("16.04.18 10:23:45:123 MESZ", epoch(2018, 4, 16, 10, 23, 45, hours=2, ms=123), "DMY"),
        ("05.01.18 07:00:00:001 MEZ", epoch(2018, 1, 5, 7, 0, 0, hours=1, ms=1), "DMY"),
        # zh_CN: yy-M-d H:mm:ss:SSS z, where CST is China Standard Time
        ("15-9-15 16:40:54:781 CST", epoch(2015, 9, 15, 16, 40, 54, hours=8, ms=781), "YMD"),
        ("18-12-3 1:02:03:004 CST", epoch(2018, 12, 3, 1, 2, 3, hours=8, ms=4), "YMD"),
        # ja (reconstructed): yy/MM/dd H:mm:ss:SSS z
        ("18/04/16 10:23:45:123 JST", epoch(2018, 4, 16, 10, 23, 45, hours=9, ms=123), "YMD"),
        ("05/06/07 8:00:00:000 JST", epoch(2005, 6, 7, 8, 0, 0, hours=9), "YMD"),
        # a zone without an abbreviation
        ("12/19/18 10:43:19:056 GMT+08:00", epoch(2018, 12, 19, 10, 43, 19, hours=8, ms=56), "MDY"),
        ("12/19/18 10:43:19 GMT-03:30", epoch(2018, 12, 19, 10, 43, 19, hours=-3.5), "MDY"),
        # Java 9+: a comma after the date
        ("4/3/24, 18:36:23:612 CEST", epoch(2024, 4, 3, 18, 36, 23, hours=2, ms=612), "MDY"),
        ("18/05/17, 09:47:21:308 BST", epoch(2017, 5, 18, 9, 47, 21, hours=1, ms=308), "DMY"),
        # real lines (../shared/real-logs): it with dots in the time, ko, ja, de
        ("04/02/20 11.14.05:743 CET", epoch(2020, 2, 4, 11, 14, 5, hours=1, ms=743), "DMY"),
        ("16. 12. 5   15:26:42:279 KST", epoch(2016, 12, 5, 15, 26, 42, hours=9, ms=279), "YMD"),
        ("06/11/10 23:11:48:874 JST", epoch(2006, 11, 10, 23, 11, 48, hours=9, ms=874), "YMD"),
        ("17.02.12 13:06:39:171 CET", epoch(2012, 2, 17, 13, 6, 39, hours=1, ms=171), "DMY"),
        ("31/05/17 11:14:31:120 CEST", epoch(2017, 5, 31, 11, 14, 31, hours=2, ms=120), "DMY"),
        ("18-9-13 10:36:01:279 GMT+08:00", epoch(2018, 9, 13, 10, 36, 1, hours=8, ms=279), "YMD"),
        ("11-1-18 16:40:54:781 CST", epoch(2011, 1, 18, 16, 40, 54, hours=8, ms=781), "YMD"),
    ],
)
def test_locale_forms(text: str, expected: float, order: str) -> None:
    """Each locale form of DOMAIN.md's table reads to the exact instant and its date order."""
    result = parsed(text)
    assert result.epoch == pytest.approx(expected, abs=1e-6)
    assert result.date_order == order


def test_zh_tw_year_first_cst_is_china() -> None:
    """A year-first date is Chinese (zh_CN, zh_TW): CST there is China time, as on dashes."""
    assert parsed("2018/4/16   18:23:45:123 CST").epoch == epoch(
        2018, 4, 16, 18, 23, 45, hours=8, ms=123
    )


def test_java_short_zone_and_ambiguous_cst_default() -> None:
    """Outside zh_CN's dashed dates CST is Java's US Central time."""
    assert parsed("1/15/20 12:00:00:000 CST").epoch == epoch(2020, 1, 15, 12, hours=-6)


def test_missing_zone_is_utc_and_missing_millis_is_zero() -> None:
    """A timestamp without a zone is read as UTC; without milliseconds as .000."""
    assert parsed("5/10/20 3:09:01").epoch == epoch(2020, 5, 10, 3, 9, 1)


def test_short_millis_are_left_aligned() -> None:
    """A one-digit millisecond field is a fraction (.5 = 500 ms), not 5 ms."""
    assert parsed("5/10/20 3:09:01:5 UTC").epoch == epoch(2020, 5, 10, 3, 9, 1, ms=500)


def test_surrounding_whitespace_is_ignored() -> None:
    """Spaces around the bracket text do not matter."""
    assert parsed("  5/10/20 3:09:01:349 UTC  ").epoch == epoch(2020, 5, 10, 3, 9, 1, ms=349)


def test_lower_case_abbreviation_and_offset_forms() -> None:
    """Zone names are matched without regard to case; UTC+h and GMT+hhmm are offsets too."""
    assert parsed("5/10/20 3:09:01:000 utc").epoch == epoch(2020, 5, 10, 3, 9, 1)
    assert parsed("5/10/20 3:09:01:000 UTC+2").epoch == epoch(2020, 5, 10, 3, 9, 1, hours=2)
    assert parsed("5/10/20 3:09:01:000 GMT+0530").epoch == epoch(2020, 5, 10, 3, 9, 1, hours=5.5)


# --- date order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "order", "certain"),
    [
        ("16.04.18 10:23:45:123 MESZ", "DMY", True),  # dots: German
        ("15-9-15 16:40:54:781 CST", "YMD", True),  # dashes: Chinese
        ("2020/05/10 03:09:01:000 UTC", "YMD", True),  # four-digit year first
        ("32/01/05 03:09:01:000 UTC", "YMD", True),  # first field cannot be a day
        ("18/04/16 10:23:45:123 JST", "YMD", True),  # Japanese zone: year first
        ("18/04/16 10:23:45:123 KST", "YMD", True),  # Korean zone: year first
        ("18/05/17 09:47:21:308 IST", "DMY", True),  # first field > 12: a day
        ("5/13/20 3:09:01:349 UTC", "MDY", True),  # second field > 12: a day
        ("12/19/18 10:43:19:056 UTC", "MDY", True),  # second field > 12
        # unpadded: en_US, or es (d/MM/yy) on a day 1-9 of October-December: the file's
        # certain dates decide
        ("5/10/20 3:09:01:349 UTC", "MDY", False),
        ("10/5/20 3:09:01:349 UTC", "MDY", False),
        ("5/04/18 12:23:45:123 CEST", "DMY", True),  # es d/MM/yy: a padded month
        ("16-4-18 12:23:45:123 CEST", "DMY", True),  # nl d-M-yy: a European zone
        ("5-4-18 12:23:45:123 UTC", "DMY", True),  # nl: a one-digit first field is a day
        ("18-4-5 12:23:45:123 UTC", "YMD", True),  # zh_CN: a one-digit last field is a day
        ("18-4-16 18:23:45:123 GMT+08:00", "YMD", True),  # zh_CN: a Chinese zone
        ("16-04-18 12:23:45:123 UTC", "YMD", False),  # dashes, nothing tells: zh_CN's order
        ("16/04/2018 12:23:45:123 CEST", "DMY", True),  # Java 9+: a four-digit year last
        ("16. 12. 5   15:26:42:279 KST", "YMD", True),  # ko: "yy. M. d"
        ("05/10/20 03:09:01:349 UTC", "DMY", True),  # zero-padded: en_GB family
        ("10/05/20 03:09:01:349 UTC", "DMY", True),  # zero-padded day
        ("10/11/20 10:09:01:349 UTC", "MDY", False),  # nothing tells: a guess
    ],
)
def test_date_order_inference(text: str, order: str, certain: bool) -> None:
    """The date order comes from the separator, the field values, padding and the zone."""
    result = parsed(text)
    assert (result.date_order, result.certain) == (order, certain)


def test_inferred_orders_give_the_right_days() -> None:
    """Padding decides between 5 October (en_GB) and 10 May (en_US) for the same digits."""
    assert parsed("05/10/20 03:09:01:000 UTC").epoch == epoch(2020, 10, 5, 3, 9, 1)
    assert parsed("5/10/20 3:09:01:000 UTC").epoch == epoch(2020, 5, 10, 3, 9, 1)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("MDY", epoch(2012, 10, 11, 8, 0, 0)),
        ("DMY", epoch(2012, 11, 10, 8, 0, 0)),
        ("YMD", epoch(2010, 11, 12, 8, 0, 0)),
    ],
)
def test_configured_date_order_wins(order: str, expected: float) -> None:
    """A configured date order is used as it is and reported as certain."""
    result = parsed("10/11/12 8:00:00:000 UTC", date_order=order)
    assert result.epoch == expected
    assert (result.date_order, result.certain) == (order, True)


def test_configured_date_order_overrides_the_separator() -> None:
    """Even a dotted date follows the configured order (an operator knows best)."""
    assert parsed("04.16.18 10:00:00:000 UTC", date_order="MDY").epoch == epoch(2018, 4, 16, 10)


def test_configured_order_that_contradicts_the_values_is_unreadable() -> None:
    """A configured order that makes the month 18 gives None rather than a wrong time."""
    assert parse_timestamp("18/05/17 09:47:21:308 IST", date_order="MDY") is None


# --- configured IANA zone ------------------------------------------------------------------


def test_configured_zone_overrides_ambiguous_abbreviation() -> None:
    """With Asia/Shanghai configured an en_US 'CST' is China time, not US Central."""
    result = parsed("1/15/20 12:00:00:000 CST", tz=ZoneInfo("Asia/Shanghai"))
    assert result.epoch == epoch(2020, 1, 15, 12, hours=8)


def test_configured_zone_for_irish_ist() -> None:
    """With Europe/Dublin configured 'IST' is Irish Summer Time (+1), not India (+5:30)."""
    result = parsed("18/05/17 09:47:21:308 IST", tz=ZoneInfo("Europe/Dublin"))
    assert result.epoch == epoch(2017, 5, 18, 9, 47, 21, hours=1, ms=308)


def test_configured_zone_follows_daylight_saving() -> None:
    """The configured zone's offset on that date is used: EST in January, EDT in July."""
    assert parsed("1/15/20 12:00:00:000 EST", tz=NEW_YORK).epoch == epoch(2020, 1, 15, 17)
    assert parsed("7/15/20 12:00:00:000 EDT", tz=NEW_YORK).epoch == epoch(2020, 7, 15, 16)


@pytest.mark.parametrize(
    ("zone", "utc_hour"),
    [("EDT", 5), ("EST", 6)],
)
def test_dst_fold_is_resolved_by_the_abbreviation(zone: str, utc_hour: int) -> None:
    """On the fall-back day 1:30 happens twice in New York; EDT is the first, EST the second."""
    result = parsed(f"11/5/23 1:30:00:000 {zone}", tz=NEW_YORK)
    assert result.epoch == datetime(2023, 11, 5, utc_hour, 30, tzinfo=UTC).timestamp()


def test_dst_fold_without_abbreviation_takes_the_first() -> None:
    """Without a zone abbreviation the repeated hour is read as its first occurrence (EDT)."""
    result = parsed("11/5/23 1:30:00:000", tz=NEW_YORK)
    assert result.epoch == datetime(2023, 11, 5, 5, 30, tzinfo=UTC).timestamp()


def test_dst_fold_unrelated_abbreviation_takes_the_first() -> None:
    """An abbreviation that names neither side of the fold does not pick the second."""
    result = parsed("11/5/23 1:30:00:000 XYZ", tz=NEW_YORK)
    assert result.epoch == datetime(2023, 11, 5, 5, 30, tzinfo=UTC).timestamp()


def test_numeric_offset_wins_over_configured_zone() -> None:
    """An explicit GMT+08:00 is exact, so a configured zone (meant for abbreviations) is ignored."""
    result = parsed("12/19/18 10:43:19:056 GMT+08:00", tz=NEW_YORK)
    assert result.epoch == epoch(2018, 12, 19, 10, 43, 19, hours=8, ms=56)


# --- unreadable --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "13/13/20 3:09:01:349 UTC",  # no month 13
        "2/30/20 3:09:01:349 UTC",  # no 30 February
        "5/10/20 24:09:01:349 UTC",  # no hour 24
        "5/10/20 3:61:01:349 UTC",  # no minute 61
        "5/10/20 3:09:01:349 XYZ",  # unknown zone
        "5/10/20 3:09:01:349 GMT+99:00",  # offset beyond a day
        "99/99/99 99:99:99:999 XYZ",  # the fixtures' unreadable stamp
        "",
        "hello world",
        "5/10/20",  # no time
        "3:09:01:349 UTC",  # no date
        "5-10/20 3:09:01:349 UTC",  # mixed separators
        "5/10/20 3:09:01:349 UTC extra",  # trailing garbage
        "\x00\xff\ufffd",
    ],
)
def test_unreadable_timestamps_return_none(text: str) -> None:
    """Text that is not a readable time gives None, never an exception."""
    assert parse_timestamp(text) is None


def test_unknown_zone_is_readable_with_a_configured_zone() -> None:
    """A configured zone gives an unknown abbreviation a meaning."""
    result = parsed("5/10/20 3:09:01:349 XYZ", tz=ZoneInfo("Europe/Berlin"))
    assert result.epoch == epoch(2020, 5, 10, 3, 9, 1, hours=2, ms=349)


# --- every JVM locale, from Java's own patterns ----------------------------------------------

JVM_CASES = Path(__file__).parent / "jvm" / "timestamp_cases.tsv"
LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "pt-BR", "nl-NL", "pl-PL")
LOCALES += ("sv-SE", "ru-RU", "ko-KR", "zh-TW", "zh-CN", "ja-JP")
MARKERS = ("AM", "PM", "오전", "오후", "上午", "下午")


def jvm_cases() -> list[tuple[str, str, str, str, int]]:
    """Rows of timestamp_cases.tsv: locale, provider, pattern, text, epoch ms (written by Java
    17 from each locale's SHORT date + MEDIUM time pattern: see WebSphereTimestamps.java)."""
    with JVM_CASES.open(encoding="utf-8", newline="") as handle:
        return [
            (locale, provider, pattern, text, int(ms))
            for locale, provider, pattern, text, ms in csv.reader(handle, delimiter="\t")
        ]


def pattern_order(pattern: str) -> str:
    """The date order a Java pattern writes: the order of its y, M and d letters."""
    return "".join(dict.fromkeys(re.sub(r"[^yMd]", "", pattern))).upper()


def test_the_jvm_table_covers_every_locale_and_both_data_sets() -> None:
    """Each locale of the issue has its WebSphere form under Java 8 (COMPAT) and 9+ (CLDR)
    data, and 12-hour forms with their marker where the locale has one."""
    cases = jvm_cases()
    forms = {(locale, provider) for locale, provider, *_ in cases}
    assert forms == {(locale, p) for locale in LOCALES for p in ("COMPAT", "CLDR")}
    twelve_hour = [text for _, _, pattern, text, _ in cases if "a" in pattern]
    markers = {word for text in twelve_hour for word in re.findall("|".join(MARKERS), text)}
    assert markers == set(MARKERS)


@pytest.mark.parametrize(
    ("locale", "provider", "pattern", "text", "ms"),
    jvm_cases(),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_jvm_locale_form_reads_to_its_instant(
    locale: str, provider: str, pattern: str, text: str, ms: int
) -> None:
    """A time Java wrote with the locale's pattern reads to the instant it was written at; a
    date the text alone cannot order reads right with the pattern's order, which a parser
    learns from the file's unambiguous dates (and its guess is never called certain)."""
    order = pattern_order(pattern)
    result = parsed(text)
    if result.certain:
        assert (result.date_order, result.epoch) == (order, pytest.approx(ms / 1000, abs=1e-6))
    else:
        assert parsed(text, date_order=order).epoch == pytest.approx(ms / 1000, abs=1e-6)


def test_pattern_order_reads_java_patterns() -> None:
    """The helper above reads the order of the date fields of a Java pattern."""
    assert pattern_order("M/d/yy H:mm:ss:SSS z") == "MDY"
    assert pattern_order("yy. M. d a h:mm:ss:SSS z") == "YMD"
    assert pattern_order("dd/MM/y, HH:mm:ss:SSS z") == "DMY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18/04/16 午後 7:23:45:123 JST", epoch(2018, 4, 16, 19, 23, 45, hours=9, ms=123)),
        ("18/04/16 午前 12:05:00:000 JST", epoch(2018, 4, 16, 0, 5, hours=9)),
        ("4/16/18 7:23:45:123 PM EDT", epoch(2018, 4, 16, 19, 23, 45, hours=-4, ms=123)),
        ("4/16/18 12:00:00:000 pm UTC", epoch(2018, 4, 16, 12)),
        ("4/16/18 19:23:45:123 PM UTC", epoch(2018, 4, 16, 19, 23, 45, ms=123)),
    ],
)
def test_am_pm_markers(text: str, expected: float) -> None:
    """Markers before or after the time make a 12-hour reading 0-23 (an hour over 12 stays)."""
    assert parsed(text).epoch == expected


def test_two_markers_are_unreadable() -> None:
    """A time with a marker on both sides is not a time any pattern writes."""
    assert parse_timestamp("4/16/18 오후 7:23:45:123 PM UTC") is None
