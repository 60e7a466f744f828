"""WebSphere cell discovery and the APNS certificate rollout checks across profiles.

The walk (:func:`scan_profile`) reads ``<profile>/config/cells/*/nodes/*/apns-prod.pkcs12``; the
checks (:func:`cell_reports`, :func:`restart_pending`) are pure functions over its results.

The deployment manager (dmgr) profile of a cell is the one configured with role "dmgr"; with role
"auto" a profile qualifies when one of its node directories holds ``servers/dmgr/`` (the
deployment manager's own node) or when it has more than one node directory in the cell. Among
several candidates the explicit one wins, then the one with the ``servers/dmgr`` marker, then
the one with most node directories, then the first given. The deployment manager's own node
never holds the APNS certificate, so it is left out of every check.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from stproxy_monitor.certs.files import CERTIFICATE_FILE_NAME, PasswordSource, ReadBytes
from stproxy_monitor.certs.inspection import CertificateInfo, inspect_certificates
from stproxy_monitor.errors import CertificateError

ROLES = ("auto", "dmgr", "node")


def _read_file(path: Path) -> bytes:
    return path.read_bytes()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSpec:
    """A configured WebSphere profile directory, its role and its PKCS#12 password source."""

    path: Path
    role: str = "auto"
    password: PasswordSource | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            roles = ", ".join(ROLES)
            raise ValueError(f"ProfileSpec: role must be one of {roles} (got {self.role!r})")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeCopy:
    """One node directory of one profile and its apns-prod.pkcs12, if any.

    ``content_sha256`` hashes the file's bytes (None when absent or unreadable);
    ``leaf_sha256`` and ``leaf_not_after`` are the leaf certificate's fingerprint and end of
    validity (None when it cannot be inspected).
    """

    cell: str
    node: str
    path: str
    present: bool
    content_sha256: str | None = None
    leaf_sha256: str | None = None
    leaf_not_after: float | None = None
    mtime: float | None = None
    manager_node: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileScan:
    """Every node directory found in one profile."""

    profile: str
    role: str = "auto"
    copies: tuple[NodeCopy, ...] = ()

    def in_cell(self, cell: str) -> list[NodeCopy]:
        """The node directories of ``cell`` in this profile."""
        return [copy for copy in self.copies if copy.cell == cell]


@dataclass(frozen=True, slots=True, kw_only=True)
class CellReport:
    """The rollout checks of one cell (node -> 0/1 maps; the dmgr's own node is left out).

    ``forgotten`` names the nodes that miss out on the rollout (see :func:`forgotten_nodes`).
    """

    cell: str
    dmgr_profile: str
    distinct: int
    missing: Mapping[str, int]
    sync_pending: Mapping[str, int]
    forgotten: tuple[str, ...] = ()


def scan_profile(
    spec: ProfileSpec,
    *,
    read_bytes: ReadBytes = _read_file,
    environ: Mapping[str, str] = os.environ,
) -> ProfileScan:
    """Walk ``<profile>/config/cells/*/nodes/*/``; unreadable directories are skipped.

    Without a usable password the copies are still compared by content; only ``leaf_sha256``
    stays None.
    """
    try:
        secret = (
            None
            if spec.password is None
            else spec.password.resolve(environ=environ, read_bytes=read_bytes)
        )
    except CertificateError:
        secret = None
    copies = [
        _scan_node(cell_dir.name, node_dir, secret, read_bytes)
        for cell_dir in _subdirs(spec.path / "config" / "cells")
        for node_dir in _subdirs(cell_dir / "nodes")
    ]
    return ProfileScan(profile=str(spec.path), role=spec.role, copies=tuple(copies))


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(child for child in path.iterdir() if child.is_dir())
    except OSError:
        return []


def _scan_node(cell: str, node_dir: Path, secret: bytes | None, read_bytes: ReadBytes) -> NodeCopy:
    path = node_dir / CERTIFICATE_FILE_NAME
    manager = (node_dir / "servers" / "dmgr").is_dir()
    absent = NodeCopy(
        cell=cell, node=node_dir.name, path=str(path), present=False, manager_node=manager
    )
    try:
        data = read_bytes(path)
        mtime = path.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return absent
    except OSError:
        return replace(absent, present=True)  # there, but cannot be compared
    digest = hashlib.sha256(data)
    leaf = _leaf(data, digest.digest(), secret)
    return replace(
        absent,
        present=True,
        content_sha256=digest.hexdigest(),
        leaf_sha256=None if leaf is None else leaf.sha256,
        leaf_not_after=None if leaf is None else leaf.not_after,
        mtime=mtime,
    )


_LEAF_CACHE: OrderedDict[bytes, CertificateInfo | None] = OrderedDict()
_LEAF_CACHE_SIZE = 256
_LEAF_LOCK = threading.Lock()


def _leaf(data: bytes, content_digest: bytes, secret: bytes | None) -> CertificateInfo | None:
    """The leaf of a node copy; decrypted once per (content, password), not on every scrape."""
    key = content_digest + hashlib.sha256(secret or b"").digest()
    with _LEAF_LOCK:
        if key in _LEAF_CACHE:
            _LEAF_CACHE.move_to_end(key)
            return _LEAF_CACHE[key]
    try:
        infos = inspect_certificates(data, secret)
    except CertificateError:
        leaf = None
    else:
        leaf = next((info for info in infos if info.is_leaf), None)
    with _LEAF_LOCK:
        _LEAF_CACHE[key] = leaf
        while len(_LEAF_CACHE) > _LEAF_CACHE_SIZE:
            _LEAF_CACHE.popitem(last=False)
    return leaf


def is_dmgr_candidate(scan: ProfileScan, cell: str) -> bool:
    """Whether ``scan`` may be the deployment manager profile of ``cell`` (see module doc)."""
    if scan.role != "auto":
        return scan.role == "dmgr"
    nodes = scan.in_cell(cell)
    return any(copy.manager_node for copy in nodes) or len(nodes) > 1


def pick_dmgr(scans: Sequence[ProfileScan], cell: str) -> ProfileScan | None:
    """The deployment manager profile of ``cell`` among ``scans``, or None."""
    candidates = [scan for scan in scans if scan.in_cell(cell) and is_dmgr_candidate(scan, cell)]

    def rank(scan: ProfileScan) -> tuple[bool, bool, int]:
        nodes = scan.in_cell(cell)
        return scan.role == "dmgr", any(c.manager_node for c in nodes), len(nodes)

    return max(candidates, key=rank, default=None)  # max keeps the first of equals


def _identities(copies: Sequence[NodeCopy]) -> dict[str, str]:
    """node -> what it holds: the leaf fingerprint, else the file content; unreadable ones out."""
    return {
        copy.node: copy.leaf_sha256 or f"file:{copy.content_sha256}"
        for copy in copies
        if copy.present and not copy.manager_node and (copy.leaf_sha256 or copy.content_sha256)
    }


def distinct_leaves(copies: Sequence[NodeCopy]) -> int:
    """Different certificates among present copies: by leaf fingerprint, else by file content."""
    return len(set(_identities(copies).values()))


def forgotten_nodes(copies: Sequence[NodeCopy]) -> list[str]:
    """Nodes left out of a rollout: no file, or not the cell's newest certificate.

    The newest is the leaf that ends last; copies that cannot be inspected rank lowest, and
    among equals the first node (by name) wins, so that several certificates always name at
    least one node.
    """
    held = _identities(copies)
    ends = {
        held[copy.node]: copy.leaf_not_after
        for copy in copies
        if copy.node in held and copy.leaf_not_after is not None
    }
    ranked = sorted(held.items())
    newest = max(ranked, key=lambda item: ends.get(item[1], -math.inf))[1] if ranked else None
    behind = {node for node, identity in held.items() if identity != newest}
    missing = {node for node, flag in missing_copies(copies).items() if flag}
    return sorted(behind | missing)


def missing_copies(copies: Sequence[NodeCopy]) -> dict[str, int]:
    """node -> 1 where the node directory has no apns-prod.pkcs12, else 0."""
    return {copy.node: int(not copy.present) for copy in copies if not copy.manager_node}


def sync_pending(master: Sequence[NodeCopy], synced: Sequence[NodeCopy]) -> dict[str, int]:
    """node -> 1 where a synchronized copy's bytes differ from the master copy's, else 0.

    Only nodes whose master copy and at least one synchronized copy were both read appear.
    """
    result: dict[str, int] = {}
    masters = {c.node: c.content_sha256 for c in master if c.content_sha256 and not c.manager_node}
    for copy in synced:
        if copy.content_sha256 is None or copy.node not in masters:
            continue
        differs = int(copy.content_sha256 != masters[copy.node])
        result[copy.node] = max(result.get(copy.node, 0), differs)
    return result


def cell_reports(scans: Sequence[ProfileScan]) -> list[CellReport]:
    """One report per cell that has a deployment manager profile among ``scans``."""
    cells = sorted({copy.cell for scan in scans for copy in scan.copies})
    reports = []
    for cell in cells:
        dmgr = pick_dmgr(scans, cell)
        if dmgr is None:
            continue
        master = dmgr.in_cell(cell)
        synced = [copy for scan in scans if scan is not dmgr for copy in scan.in_cell(cell)]
        reports.append(
            CellReport(
                cell=cell,
                dmgr_profile=dmgr.profile,
                distinct=distinct_leaves(master),
                missing=MappingProxyType(missing_copies(master)),
                sync_pending=MappingProxyType(sync_pending(master, synced)),
                forgotten=tuple(forgotten_nodes(master)),
            )
        )
    return reports


def copy_in_use(scans: Sequence[ProfileScan], cell: str, node: str) -> NodeCopy | None:
    """The copy a node's servers read: the node profile's synchronized copy, else the dmgr's."""
    dmgr = pick_dmgr(scans, cell)
    found = [
        copy
        for scan in sorted(scans, key=lambda scan: scan is dmgr)
        for copy in scan.in_cell(cell)
        if copy.node == node and copy.present
    ]
    return found[0] if found else None


def restart_pending(server_start_ts: float | None, cert_file_mtime: float | None) -> bool:
    """True when the certificate file in use changed after the server's last start.

    False when either time is unknown: without a seen start there is nothing to compare.
    """
    if server_start_ts is None or cert_file_mtime is None:
        return False
    return cert_file_mtime > server_start_ts
