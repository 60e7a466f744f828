"""The watcher's voice: a catch-up's failures as one summary, live ones one by one; directories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from support import APNS_TEXT, append, en_us_time

from stproxy_monitor.config import LogConfig
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.watcher import LogWatcher

START = datetime(2018, 4, 14, 13, 0, 0, tzinfo=UTC)


def failure(at: datetime) -> bytes:
    """A CLFRX0079W whose cause is on its first line, then an ordinary record closing it."""
    return (
        f"[{en_us_time(at)}] 0000004e APNSService   W   CLFRX0079W: {APNS_TEXT} "
        f"connect timed out\n[{en_us_time(at)}] 00000001 ManagerAdmin  I   TRAS0017I: x\n"
    ).encode()


def watcher_for(path: Path, state: State) -> LogWatcher:
    """A watcher without an observer, settling at once."""
    return LogWatcher(
        (LogConfig(path=str(path)),), state, observer_factory=None, settle_seconds=0.0
    )


def test_catch_up_failures_are_one_summary_and_live_ones_are_logged_one_by_one(
    tmp_path: Path,
) -> None:
    """Three old failures: one warning with count, first and last (each at debug level only);
    a new one: its own warning."""
    log = tmp_path / "STProxyServer" / "SystemOut.log"
    log.parent.mkdir()
    log.write_bytes(b"".join(failure(START + timedelta(days=d)) for d in (0, 30, 400)))
    watcher = watcher_for(log, State())
    with structlog.testing.capture_logs() as events:
        watcher.poll_all()
        watcher.poll_all()
    summaries = [e for e in events if e["event"] == "apns_failures_in_catch_up"]
    assert summaries == [
        {
            "event": "apns_failures_in_catch_up",
            "log_level": "warning",
            "path": str(log),
            "count": 3,
            "first": "2018-04-14T13:00:00Z",
            "last": "2019-05-19T13:00:00Z",
            "reasons": {"timed_out": 3},
        }
    ]
    each = [e for e in events if e["event"] == "apns_failure"]
    assert [(e["log_level"], e["catch_up"]) for e in each] == [("debug", True)] * 3
    append(log, failure(START + timedelta(days=500)))
    with structlog.testing.capture_logs() as events:
        watcher.poll_all()
    live = [e for e in events if e["event"].startswith("apns_failure")]
    assert [(e["event"], e["log_level"], e["reason"]) for e in live] == [
        ("apns_failure", "warning", "timed_out")
    ]


def test_a_log_missing_at_start_has_no_catch_up(tmp_path: Path) -> None:
    """A log that appears later is live: its failures are logged one by one."""
    log = tmp_path / "SystemOut.log"
    watcher = watcher_for(log, State())
    with structlog.testing.capture_logs() as events:
        watcher.poll_all()
        log.write_bytes(failure(START) + failure(START + timedelta(minutes=1)))
        watcher.poll_all()
    assert [e["event"] for e in events if e["event"].startswith("apns_")] == ["apns_failure"] * 2


def test_a_directory_given_as_a_log_is_a_fact_not_a_read_error(tmp_path: Path) -> None:
    """The state says directory, not present; no read error is counted poll after poll."""
    state = State()
    watcher = watcher_for(tmp_path, state)
    for _ in range(3):
        watcher.poll_all()
    totals = state.snapshot().files[str(tmp_path)]
    assert totals.directory
    assert not totals.present
    assert totals.read_errors == 0
