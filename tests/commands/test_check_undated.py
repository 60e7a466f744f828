"""Tests of `check` on APNS failures whose time cannot be read: never taken for "now".

`check` reads the logs from their start at every run. A CLFRX0079W whose time could not be read
gets the time of the read in the parser; taken at face value, the same old record would be
"in the last 15 min" at every run, forever. The check bounds it instead: no later than the next
record of its log whose time was read, nor than the log's modification time.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from stproxy_monitor.commands.check.plugin import check_command
from stproxy_monitor.config import load_config

REPO = Path(__file__).resolve().parents[2]
T = 1_800_000_000.0  # the check's "now"
UNREADABLE = "[99/99/99 99:99:99:999 XYZ]"
APNS = "0000004e APNSService   W   CLFRX0079W: Unable to establish an SSL connection to the APNS"


def stamp(epoch: float) -> str:
    """A record time as en_US writes it, UTC."""
    t = time.gmtime(epoch)
    return f"[{t.tm_mon}/{t.tm_mday}/{t.tm_year % 100:02d} {t.tm_hour}:{t.tm_min:02d}:00:000 UTC]"


def failure(when: str) -> str:
    return f"{when} {APNS} service Connection refused: connect\n"


def started(epoch: float) -> str:
    return f"{stamp(epoch)} 00000001 WsServerImpl  A   WSVR0001I: Server S open for e-business\n"


def check(tmp_path: Path, text: str, *, mtime: float) -> tuple[int, str]:
    """check over one log holding `text`, modified at `mtime`, at T."""
    log = tmp_path / "STProxyServer" / "SystemOut.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)
    os.utime(log, (mtime, mtime))
    config = tmp_path / "check.yml"
    config.write_text(yaml.safe_dump({"logs": [{"path": str(log)}]}))
    out = io.StringIO()
    status = check_command(load_config(config), now=T, environ={}, out=out)
    return status, out.getvalue()


def test_an_unreadable_failure_in_a_log_untouched_for_30_minutes_is_old(tmp_path: Path) -> None:
    """Its log was last written 30 minutes ago: the failure is older than the window, OK."""
    status, output = check(tmp_path, failure(UNREADABLE), mtime=T - 1800)
    assert status == 0, output
    assert output.startswith("STPROXY OK - no APNS failures in the last 15 min (1 older")
    assert "'apns_failures_recent'=0" in output


def test_a_later_dated_record_bounds_it_in_a_fresh_log(tmp_path: Path) -> None:
    """The log is written a minute ago, but a record dated 2 hours ago follows the failure."""
    text = failure(UNREADABLE) + started(T - 7200)
    status, output = check(tmp_path, text, mtime=T - 60)
    assert status == 0, output
    assert "CLFRX0079W" not in output


def test_one_that_may_be_recent_is_a_warning_never_critical(tmp_path: Path) -> None:
    """Nothing dated follows it and the log was written a minute ago: WARNING, named apart."""
    status, output = check(tmp_path, started(T - 7200) + failure(UNREADABLE), mtime=T - 60)
    assert status == 1, output
    first = output.splitlines()[0]
    assert first.startswith(
        "STPROXY WARNING - 1 APNS connection failure (CLFRX0079W) with a time that cannot be "
        "read, maybe in the last 15 min (connection_refused) in STProxyServer/SystemOut.log"
    )
    assert "'apns_failures_recent'=0" in first


def test_dated_recent_failures_stay_critical_beside_undated_ones(tmp_path: Path) -> None:
    """A failure dated 5 minutes ago is CRITICAL; an undated one before a record 2 hours old
    is not reported, one just before the recent failure may be recent: a WARNING line too."""
    old = failure(UNREADABLE) + started(T - 7200)
    status, output = check(tmp_path, old + failure(stamp(T - 300)), mtime=T - 60)
    assert status == 2, output
    assert "1 APNS connection failure (CLFRX0079W) in the last 15 min" in output
    assert "with a time that cannot be read" not in output
    status, output = check(tmp_path, old + failure(UNREADABLE) + failure(stamp(T - 300)), mtime=T)
    assert status == 2, output
    assert output.splitlines()[2].startswith("WARNING: 1 APNS connection failure (CLFRX0079W) ")


def test_check_on_the_fixtures_pages_for_no_old_record() -> None:
    """The repository's fixtures (logs from 2017-2024, one failure with an unreadable time):
    `check` reports no APNS failure, recent or maybe recent, now; what stays CRITICAL there is
    the certificates those logs report as expired."""
    result = subprocess.run(
        [sys.executable, "-m", "stproxy_monitor", "check", "-c", str(REPO / "fixtures/demo.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert "'apns_failures_recent'=0" in lines[0], result.stdout
    assert not [line for line in lines if "APNS connection failure" in line], result.stdout
    assert "(1 older with a time that cannot be read)" in lines[-1]
    critical = [line for line in lines[1:] if line.startswith("CRITICAL: ")]
    assert critical and all("expired" in line for line in critical), result.stdout
