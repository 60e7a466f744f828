"""A crash right after failures were counted counts none of them again (issue 12).

The real daemon follows a log with its positions file saved only every hour: the periodic save
never covers what these tests count. Failures are appended; as soon as a scrape shows them the
daemon is killed (SIGKILL, as the OOM killer or a power loss would), restarted, and must count
none of them again, several times in a row. Before, the restarted daemon re-read from the last
periodic save and counted them twice (and ApnsConnectionFailing fired for an outage that was
over).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import REPO, Records, append, load_script

KILLS = 4
FAILURES_A_LIFE = 7


def load_soak() -> ModuleType:
    """bench/soak.py by path: the daemon harness and the scrape helpers."""
    return load_script(REPO / "bench" / "soak.py")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Any]:
    """A daemon (not started) on <tmp>/STProxyServer/SystemOut.log; killed at the end."""
    soak = load_soak()
    log = tmp_path / "STProxyServer" / "SystemOut.log"
    log.parent.mkdir()
    port = soak.free_port()
    config = tmp_path / "stproxy-monitor.json"
    config.write_text(
        json.dumps(
            {
                "listen": f"127.0.0.1:{port}",
                "logs": [str(log)],
                "positions_file": str(tmp_path / "positions.json"),
                "positions_interval": 3600,
                "poll_interval": 0.2,
            }
        )
    )
    found = soak.Daemon(config, port, tmp_path)
    found.log = log
    yield found
    found.close()


def _counted(soak: ModuleType, daemon: Any) -> int:
    """The failures counter of a scrape, all labels."""
    return int(sum(soak.failures_by_reason(daemon.samples()).values()))


def _caught_up(soak: ModuleType, daemon: Any) -> bool:
    """The daemon has read the log to its end."""
    size = daemon.log.stat().st_size
    return bool(soak.daemon_file_facts(daemon.url, str(daemon.log)) == (size, size))


@pytest.mark.e2e
def test_sigkill_right_after_failures_were_counted_counts_none_again(daemon: Any) -> None:
    """Killed within moments of a scrape showing new failures, restarted: none counted again."""
    soak = load_soak()
    rec = Records()
    append(daemon.log, rec.header() + rec.info())
    written: Counter[tuple[int, str]] = Counter()
    delays = []
    for life in range(1, KILLS + 2):
        daemon.start()
        daemon.wait_ready()
        deadline = time.monotonic() + 30
        while not _caught_up(soak, daemon):
            assert time.monotonic() < deadline, "the restarted daemon did not catch up"
            time.sleep(0.02)
        time.sleep(0.5)  # a few polls more: anything re-read would be counted by now
        assert _counted(soak, daemon) == 0, f"life {life} counted failures of a killed life"
        if life > KILLS:
            break
        for n in range(FAILURES_A_LIFE):
            reason = ("timed_out", "connection_refused", "other")[n % 3]
            append(daemon.log, rec.failure(reason))
            written[round(rec.time.timestamp() * 1000), reason] += 1
        append(daemon.log, rec.info())
        deadline = time.monotonic() + 30
        while (count := _counted(soak, daemon)) < FAILURES_A_LIFE:
            assert time.monotonic() < deadline, "the failures were not counted"
        seen = time.monotonic()
        daemon.proc.send_signal(signal.SIGKILL)
        delays.append(time.monotonic() - seen)
        daemon.proc.wait(timeout=30)
        assert count == FAILURES_A_LIFE
    daemon.stop(signal.SIGTERM)
    counted: Counter[tuple[int, str]] = Counter()
    for life in range(1, daemon.lives + 1):
        counted += daemon.events(life)
    assert counted == written  # every failure once, in the life that read it
    print(f"SIGKILL {KILLS} times, each {max(delays) * 1000:.1f} ms at most after the scrape")
