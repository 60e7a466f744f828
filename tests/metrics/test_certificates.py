"""Tests for metrics.certificates: certificates and cell checks as metric families."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support import load_cert_generator

from stproxy_monitor.certs.monitor import CertificateMonitor
from stproxy_monitor.config import ProfileConfig
from stproxy_monitor.logs.state import State
from stproxy_monitor.metrics.certificates import CertificateFamilies


def _samples(monitor: CertificateMonitor, name: str) -> dict[str, float]:
    """path label -> value of one family's samples."""
    sections = CertificateFamilies(monitor).sections(0.0, State().snapshot())
    return {
        sample.labels["path"]: sample.value
        for section in sections
        for family in section.families()
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
