"""Tests for certs.monitor: configured files and profiles read, cell and restart checks."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import load_cert_generator

from stproxy_monitor.certs.monitor import CertificateMonitor
from stproxy_monitor.config import CertificateConfig, ProfileConfig
from stproxy_monitor.logs.events import ProcessHeader, ServerLifecycle
from stproxy_monitor.logs.parser import Batch
from stproxy_monitor.logs.state import Snapshot, State


def _profiles(manifest: dict[str, Any]) -> tuple[ProfileConfig, ...]:
    password = manifest["files"]["dmgr_node1"]["password_file"]
    return tuple(
        ProfileConfig(path=path, password_file=password) for path in manifest["profiles"].values()
    )


def _started(node: str, at: float) -> Snapshot:
    """Logs in which STProxyServer on ``node`` of the fixture cell started at ``at``."""
    state = State()
    header = ProcessHeader(cell="stproxyCell", node=node, server="STProxyServer")
    start = ServerLifecycle(state="started", server="STProxyServer", timestamp=at)
    state.apply("/logs/STProxyServer/SystemOut.log", Batch(events=[header, start]), now=at)
    return state.snapshot()


@pytest.mark.parametrize(("mtime_offset", "expected"), [(-60.0, 0), (60.0, 1)])
def test_restart_pending_compares_the_node_profile_copy_with_the_last_start(
    tmp_path: Path, mtime_offset: float, expected: int
) -> None:
    """The node profile's copy changed after the server's start means a restart is pending."""
    manifest: dict[str, Any] = load_cert_generator().generate(tmp_path / "c", datetime.now(UTC))
    start = 1_700_000_000.0
    in_use = manifest["files"]["node1_copy"]["path"]
    os.utime(in_use, (start + mtime_offset, start + mtime_offset))
    os.utime(manifest["files"]["dmgr_node1"]["path"], (start + 3600, start + 3600))
    reading = CertificateMonitor((), _profiles(manifest)).read(_started("stproxyNode1", start))
    assert dict(reading.restart_pending) == {"STProxyServer": expected}
    assert [cell.forgotten for cell in reading.cells] == [("stproxyNode2", "stproxyNode3")]


def test_update_reads_the_new_configuration_from_scratch(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """After update only the new files are read, and read errors are counted anew."""
    missing = str(tmp_path / "gone.pkcs12")
    valid = cert_manifest["files"]["valid"]
    monitor = CertificateMonitor((CertificateConfig(path=missing),), ())
    first = monitor.read(State().snapshot()).snapshot
    assert dict(first.read_errors_total) == {(missing, "missing"): 1}
    monitor.update(
        (CertificateConfig(path=valid["path"], password_file=valid["password_file"]),), ()
    )
    second = monitor.read(State().snapshot()).snapshot
    assert list(second.files) == [valid["path"]]
    assert second.files[valid["path"]].read_ok
    assert dict(second.read_errors_total) == {}
    monitor.update((CertificateConfig(path=missing),), ())
    third = monitor.read(State().snapshot()).snapshot
    assert dict(third.read_errors_total) == {(missing, "missing"): 1}
