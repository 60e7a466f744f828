"""Tests for stproxy_monitor.logs.state: snapshots are copies, shared only while nothing changed."""

from __future__ import annotations

from collections import Counter

from stproxy_monitor.logs.events import ApnsFailure
from stproxy_monitor.logs.parser import Batch
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.tailer import FileFacts, ReadCounts

LOG = "/logs/STProxyServer/SystemOut.log"


def failure_batch() -> Batch:
    """One CLFRX0079W record (timed out)."""
    return Batch(
        severities=Counter(W=1),
        events=[ApnsFailure(reason="timed_out", timestamp=1_800_000_000.0)],
        lines=1,
        records=1,
    )


def test_snapshot_is_reused_while_nothing_changes() -> None:
    """Two snapshots with no change in between are the same object."""
    state = State()
    state.register(LOG)
    state.apply(LOG, failure_batch(), now=1.0)
    assert state.snapshot() is state.snapshot()


def test_setting_a_fact_to_its_current_value_is_no_change() -> None:
    """The tailer's per-poll present/size/position with unchanged values keeps the snapshot."""
    state = State()
    state.update_file(LOG, FileFacts(present=True, size=10, position=10))
    first = state.snapshot()
    state.update_file(LOG, FileFacts(present=True, size=10, position=10))
    state.count_file(LOG, ReadCounts(bytes=0))
    assert state.snapshot() is first


def test_a_file_fact_changes_the_files_part_only() -> None:
    """A new size gives new file facts; the servers part is still the same dict."""
    state = State()
    state.apply(LOG, failure_batch(), now=1.0)
    first = state.snapshot()
    state.update_file(LOG, FileFacts(present=False, size=20, position=0))
    second = state.snapshot()
    assert second.files is not first.files
    assert second.servers is first.servers
    assert (first.files[LOG].size, second.files[LOG].size) == (0, 20)
    state.count_file(LOG, ReadCounts(rotations=1))
    assert state.snapshot().files[LOG].rotations == 1


def test_a_batch_changes_both_parts_and_earlier_snapshots_stay_as_they_were() -> None:
    """A record is seen in the next snapshot; the one taken before still shows the old count."""
    state = State()
    state.register(LOG, server="proxy")
    state.apply(LOG, failure_batch(), now=1.0)
    before = state.snapshot()
    state.apply(LOG, failure_batch(), now=2.0)
    after = state.snapshot()
    assert after.servers is not before.servers
    assert after.files is not before.files
    assert before.servers["proxy"].failures["timed_out"] == 1
    assert after.servers["proxy"].failures["timed_out"] == 2
    assert (before.files[LOG].records, after.files[LOG].records) == (1, 2)


def test_restored_gauges_change_the_servers_part() -> None:
    """Gauges restored from saved positions are in the next snapshot."""
    state = State()
    first = state.snapshot()
    state.restore_server("proxy", started=5.0, stopped=None, running=True, last_failure=None)
    second = state.snapshot()
    assert second.servers is not first.servers
    assert second.servers["proxy"].started == 5.0
