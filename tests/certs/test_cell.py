"""Tests for stproxy_monitor.certs.cell: cell discovery and the certificate rollout checks."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stproxy_monitor.certs.cell import (
    NodeCopy,
    ProfileScan,
    ProfileSpec,
    cell_reports,
    copy_in_use,
    distinct_leaves,
    forgotten_nodes,
    is_dmgr_candidate,
    missing_copies,
    pick_dmgr,
    restart_pending,
    scan_profile,
    sync_pending,
)
from stproxy_monitor.certs.files import PasswordSource

CELL = "stproxyCell"


def _scans(
    profiles: dict[str, str], password: PasswordSource | None, roles: dict[str, str] | None = None
) -> list[ProfileScan]:
    roles = roles or {}
    return [
        scan_profile(ProfileSpec(path=Path(path), role=roles.get(name, "auto"), password=password))
        for name, path in profiles.items()
    ]


def _password(manifest: dict[str, Any]) -> PasswordSource:
    return PasswordSource(file=Path(manifest["files"]["dmgr_node1"]["password_file"]))


def _copy(
    node: str,
    *,
    present: bool = True,
    content: str | None = "c",
    leaf: str | None = "l",
    manager: bool = False,
) -> NodeCopy:
    return NodeCopy(
        cell=CELL,
        node=node,
        path=f"/p/{node}/apns-prod.pkcs12",
        present=present,
        content_sha256=content if present else None,
        leaf_sha256=leaf if present else None,
        manager_node=manager,
    )


def _as_dict(report: Any) -> dict[str, Any]:
    return {
        "dmgr_profile": report.dmgr_profile,
        "distinct": report.distinct,
        "missing": dict(report.missing),
        "sync_pending": dict(report.sync_pending),
    }


def test_fixture_tree_reports_forgotten_node_missing_file_and_pending_sync(
    cert_manifest: dict[str, Any],
) -> None:
    """The fixture cell has 2 distinct certificates, node3 missing and node2 pending sync."""
    reports = cell_reports(_scans(cert_manifest["profiles"], _password(cert_manifest)))
    assert [r.cell for r in reports] == [CELL]
    assert _as_dict(reports[0]) == cert_manifest["cells"][CELL]


def test_checks_work_without_a_password(cert_manifest: dict[str, Any]) -> None:
    """Without a password the copies are compared by file content, with the same results."""
    reports = cell_reports(_scans(cert_manifest["profiles"], None))
    assert _as_dict(reports[0]) == cert_manifest["cells"][CELL]


def test_completed_rollout_leaves_only_the_unsynchronized_node(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """After copying the new certificate to every dmgr node, distinct is 1 and missing is 0."""
    root = tmp_path / "profiles"
    shutil.copytree(Path(cert_manifest["profiles"]["Dmgr01"]).parent, root)
    nodes = root / "Dmgr01" / "config" / "cells" / CELL / "nodes"
    for node in ("stproxyNode2", "stproxyNode3"):
        shutil.copy(nodes / "stproxyNode1" / "apns-prod.pkcs12", nodes / node / "apns-prod.pkcs12")
    profiles = {p.name: str(p) for p in root.iterdir()}
    report = cell_reports(_scans(profiles, _password(cert_manifest)))[0]
    assert report.distinct == 1
    assert dict(report.missing) == {"stproxyNode1": 0, "stproxyNode2": 0, "stproxyNode3": 0}
    assert dict(report.sync_pending) == {"stproxyNode1": 0, "stproxyNode2": 1}


def test_fixture_cell_names_the_forgotten_nodes(cert_manifest: dict[str, Any]) -> None:
    """node2 (older certificate) and node3 (no file) are the nodes the rollout forgot."""
    report = cell_reports(_scans(cert_manifest["profiles"], _password(cert_manifest)))[0]
    assert report.forgotten == ("stproxyNode2", "stproxyNode3")


def test_forgotten_nodes_are_those_without_the_newest_certificate() -> None:
    """The leaf that ends last is the rollout's target, whatever the node names' order."""
    copies = [
        replace(_copy("nodeA", leaf="old"), leaf_not_after=100.0),
        replace(_copy("nodeB", leaf="new"), leaf_not_after=200.0),
        replace(_copy("nodeC", leaf="new"), leaf_not_after=200.0),
        _copy("nodeD", present=False),
        _copy("manager", manager=True, leaf="other"),
    ]
    assert forgotten_nodes(copies) == ["nodeA", "nodeD"]
    assert forgotten_nodes(copies[1:3]) == []


def test_forgotten_nodes_without_readable_leaves_still_name_one() -> None:
    """Copies compared by content only: the first node is taken as the target, others named."""
    copies = [
        _copy("node1", content="a", leaf=None),
        _copy("node2", content="b", leaf=None),
        _copy("node3", content="a", leaf=None),
    ]
    assert forgotten_nodes(copies) == ["node2"]


def test_manager_node_is_never_reported_missing(cert_manifest: dict[str, Any]) -> None:
    """The deployment manager's own node directory (servers/dmgr) is left out of the checks."""
    dmgr = scan_profile(ProfileSpec(path=Path(cert_manifest["profiles"]["Dmgr01"])))
    manager = [c for c in dmgr.copies if c.manager_node]
    assert [c.node for c in manager] == ["stproxyCellManager01"]
    assert "stproxyCellManager01" not in missing_copies(dmgr.copies)


def test_scan_records_content_leaf_and_mtime(cert_manifest: dict[str, Any]) -> None:
    """A node copy carries its content hash, its leaf fingerprint and its modification time."""
    scan = scan_profile(
        ProfileSpec(
            path=Path(cert_manifest["profiles"]["STPAppProfile1"]),
            password=_password(cert_manifest),
        )
    )
    (copy,) = scan.copies
    expected = cert_manifest["files"]["node1_copy"]
    assert copy.path == expected["path"]
    assert copy.leaf_sha256 == expected["certificates"][0]["sha256"]
    assert copy.mtime == pytest.approx(Path(expected["path"]).stat().st_mtime)


def test_profile_without_cells_scans_empty(tmp_path: Path) -> None:
    """A directory that is not a WebSphere profile yields no node copies."""
    assert scan_profile(ProfileSpec(path=tmp_path / "absent")).copies == ()


def test_auto_role_uses_marker_then_node_count() -> None:
    """Auto: a servers/dmgr marker or several node directories make a dmgr candidate."""
    one = ProfileScan(profile="a", copies=(_copy("n1"),))
    two = ProfileScan(profile="b", copies=(_copy("n1"), _copy("n2")))
    marked = ProfileScan(profile="c", copies=(_copy("m", present=False, manager=True),))
    assert not is_dmgr_candidate(one, CELL)
    assert is_dmgr_candidate(two, CELL)
    assert is_dmgr_candidate(marked, CELL)


def test_explicit_role_overrides_auto_detection() -> None:
    """A profile configured as dmgr wins; one configured as node is never the dmgr."""
    big = ProfileScan(profile="big", role="node", copies=(_copy("n1"), _copy("n2")))
    small = ProfileScan(profile="small", role="dmgr", copies=(_copy("n1"),))
    assert pick_dmgr([big, small], CELL) is small
    assert pick_dmgr([big], CELL) is None


def test_marker_beats_node_count_among_candidates() -> None:
    """Between auto candidates, the one holding servers/dmgr is the deployment manager."""
    many = ProfileScan(profile="node", copies=(_copy("n1"), _copy("n2"), _copy("n3")))
    marked = ProfileScan(profile="dmgr", copies=(_copy("m", manager=True), _copy("n1")))
    assert pick_dmgr([many, marked], CELL) is marked


def test_distinct_counts_leaf_certificates_not_file_bytes() -> None:
    """Two exports of one certificate (different bytes, same leaf) count as one."""
    copies = [_copy("n1", content="a", leaf="L"), _copy("n2", content="b", leaf="L")]
    assert distinct_leaves(copies) == 1
    copies.append(_copy("n3", content="c", leaf=None))  # unreadable: compared by content
    assert distinct_leaves(copies) == 2
    copies.append(_copy("n4", present=False))
    assert distinct_leaves(copies) == 2


def test_sync_pending_only_for_nodes_present_in_both() -> None:
    """sync_pending reports nodes whose master and synchronized copies were both read."""
    master = [_copy("n1", content="x"), _copy("n2", content="y"), _copy("n3", present=False)]
    synced = [_copy("n1", content="x"), _copy("n2", content="z"), _copy("n3"), _copy("n4")]
    assert sync_pending(master, synced) == {"n1": 0, "n2": 1}


def test_copy_in_use_prefers_the_node_profile(cert_manifest: dict[str, Any]) -> None:
    """The copy a server reads is the node profile's synchronized one, else the dmgr's."""
    scans = _scans(cert_manifest["profiles"], None)
    in_use = copy_in_use(scans, CELL, "stproxyNode2")
    assert in_use is not None
    assert in_use.path == cert_manifest["files"]["node2_copy"]["path"]
    assert copy_in_use(scans, CELL, "stproxyNode3") is None


@pytest.mark.parametrize(
    ("start", "mtime", "expected"),
    [
        (1000.0, 2000.0, True),
        (2000.0, 1000.0, False),
        (1000.0, 1000.0, False),
        (None, 2000.0, False),
        (1000.0, None, False),
    ],
)
def test_restart_pending(start: float | None, mtime: float | None, expected: bool) -> None:
    """Restart is pending only when the file changed after the server's last known start."""
    assert restart_pending(start, mtime) is expected


def test_profile_spec_rejects_unknown_role(tmp_path: Path) -> None:
    """A profile role is auto, dmgr or node."""
    with pytest.raises(ValueError, match="role must be one of"):
        ProfileSpec(path=tmp_path, role="primary")
