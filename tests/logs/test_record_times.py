"""Tests of the record times the parser reads and counts as unparsed.

Besides the records that make an event (CLFRX0079W, WSVR000xI), the parser reads the time of
the first record of every region it is fed, whatever that record holds: a log whose time format
is not understood shows in the unparsed-timestamps count at once. A record is counted once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support import APNS_TEXT

from stproxy_monitor.logs.events import ApnsFailure
from stproxy_monitor.logs.parser import LogParser

NOW = 1_700_000_000.0
READABLE = "5/10/20 3:09:01:349 UTC"
UNREADABLE = "04/02/20 11h14m05 CET"  # no JVM writes this


def record(stamp: str, text: str = "TRAS0017I: The startup trace state is *=info.") -> str:
    return f"[{stamp}] 00000001 ManagerAdmin  I   {text}\n"


def failure(stamp: str) -> str:
    return f"[{stamp}] 0000004e APNSService   W   CLFRX0079W: {APNS_TEXT} Connection refused\n"


def unparsed(*chunks: str) -> int:
    """Unparsed timestamps counted over the feeds of the chunks, then finish."""
    parser = LogParser()
    total = sum(parser.feed(chunk.encode(), NOW).unparsed_timestamps for chunk in chunks)
    return total + parser.finish(NOW).unparsed_timestamps


def test_a_log_whose_times_are_unreadable_counts_without_any_event() -> None:
    """No failure, no lifecycle record: the first record of each read is read and counted."""
    assert unparsed(record(UNREADABLE) * 5) == 1
    assert unparsed(record(UNREADABLE) * 2, record(UNREADABLE) * 3) == 2


def test_readable_times_count_nothing() -> None:
    """Italian and Korean times (once unreadable) count nothing."""
    assert unparsed(record("04/02/20 11.14.05:743 CET") * 3) == 0
    assert unparsed(record("16. 12. 5   15:26:42:279 KST") * 3) == 0
    assert unparsed(record(READABLE), record(READABLE)) == 0


def test_an_unreadable_first_record_that_is_a_failure_counts_once() -> None:
    """The first record of a read that makes an event is read once, counted once."""
    parser = LogParser()
    batch = parser.feed(failure(UNREADABLE).encode() + record(READABLE).encode(), NOW)
    assert batch.unparsed_timestamps == 1
    assert [e for e in batch.events if isinstance(e, ApnsFailure)] == [
        ApnsFailure(reason="connection_refused", timestamp=NOW, timestamp_parsed=False)
    ]


def test_an_unreadable_failure_later_in_a_read_counts_with_the_first_record() -> None:
    """An unreadable first record and an unreadable failure after it: two records, two counts."""
    assert unparsed(record(UNREADABLE) + failure(UNREADABLE)) == 2
    assert unparsed(record(READABLE) + failure(UNREADABLE)) == 1


@pytest.mark.parametrize("learn_from", ["16/04/18 12:23:45:123 CEST", "5/04/18 12:23:45:123 CEST"])
def test_the_first_record_teaches_the_date_order(learn_from: str) -> None:
    """es (d/MM/yy): a first record that is certainly day first makes '5/11/18' 5 November."""
    parser = LogParser()
    parser.feed(record(learn_from).encode(), NOW)
    batch = parser.feed(failure("5/11/18 4:04:05:006 CET").encode(), NOW)
    batch.events += parser.finish(NOW).events
    expected = datetime(2018, 11, 5, 3, 4, 5, 6000, tzinfo=UTC).timestamp()
    assert [e.timestamp for e in batch.events if isinstance(e, ApnsFailure)] == [expected]
