"""Tests for metrics.certificates: certificates and cell checks as metric families."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import load_cert_generator

from stproxy_monitor.config import ProfileConfig
from stproxy_monitor.logs.events import ProcessHeader, ServerLifecycle
from stproxy_monitor.logs.parser import Batch
from stproxy_monitor.logs.state import Snapshot, State
from stproxy_monitor.metrics.certificates import CertificateMonitor


def _samples(monitor: CertificateMonitor, name: str) -> dict[str, float]:
    """path label -> value of one family's samples."""
    view = monitor.view(0.0, State().snapshot())
    return {
        sample.labels["path"]: sample.value
        for family in view.families
        for sample in family.samples
        if sample.name == name
    }


def test_profile_path_with_glob_characters_is_taken_literally(tmp_path: Path) -> None:
    """A profile under a directory named with [ ] still has its certificate files read."""
    manifest: dict[str, Any] = load_cert_generator().generate(
        tmp_path / "WebSphere [prod]", datetime.now(UTC)
    )
    password = manifest["files"]["dmgr_node1"]["password_file"]
    profiles = tuple(
        ProfileConfig(path=path, password_file=password) for path in manifest["profiles"].values()
    )
    read_ok = _samples(CertificateMonitor((), profiles), "stproxy_apns_certificate_read_ok")
    expected = {manifest["files"][case]["path"]: 1.0 for case in ("dmgr_node1", "dmgr_node2")}
    expected |= {manifest["files"][case]["path"]: 1.0 for case in ("node1_copy", "node2_copy")}
    assert read_ok == expected


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
