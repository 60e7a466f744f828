"""The configured certificate files and WebSphere profiles, read again only when they change."""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType

from stproxy_monitor.certs.cell import (
    CellReport,
    ProfileScan,
    ProfileSpec,
    cell_reports,
    copy_in_use,
    restart_pending,
    scan_profile,
)
from stproxy_monitor.certs.facts import checked_problems
from stproxy_monitor.certs.files import (
    CertificateCache,
    CertificateSnapshot,
    CertificateSource,
    FileKind,
    PasswordSource,
)
from stproxy_monitor.certs.truststore import (
    TrustStoreReading,
    TrustStores,
    TrustStoreSource,
    truststore_sources,
)
from stproxy_monitor.config import DEFAULT_EXPECTED_TOPIC, CertificateConfig, ProfileConfig
from stproxy_monitor.logs.state import Snapshot
from stproxy_monitor.paths import StatKey, is_glob, stat_key

PROFILE_GLOB = os.path.join("config", "cells", "*", "nodes", "*", "apns-prod.pkcs12")


def password_source(password_file: str | None, password_env: str | None) -> PasswordSource | None:
    """A PasswordSource from config keys, None when neither is set."""
    if password_file is None and password_env is None:
        return None
    return PasswordSource(file=Path(password_file) if password_file else None, env=password_env)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateReading:
    """One refresh of everything configured, before it becomes metric families.

    ``restart_pending`` maps each server with a seen start and a known certificate file to 0/1
    (the first log of a server, by path, wins).
    """

    snapshot: CertificateSnapshot
    scans: tuple[ProfileScan, ...]
    cells: tuple[CellReport, ...]
    restart_pending: Mapping[str, int]
    truststores: tuple[TrustStoreReading, ...] = ()


class _StatKeyedReader:
    """read_bytes that re-reads a file only when its stat identity changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[StatKey, bytes]] = {}

    def __call__(self, path: Path) -> bytes:
        """The bytes of `path` (cached while device, inode, size and mtime stay the same)."""
        key = stat_key(path.stat())
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                return hit[1]
        data = path.read_bytes()
        with self._lock:
            self._cache[path] = (key, data)
        return data


@dataclass(frozen=True, slots=True)
class _Sources:
    """What one configuration names: the file cache, the profiles, the profile reader."""

    cache: CertificateCache
    specs: tuple[ProfileSpec, ...]
    read: Callable[[Path], bytes]
    single_file: bool  # one literal certificate file and no profile: the file in use
    truststores: TrustStores


class CertificateMonitor:
    """Configured certificate files and WebSphere profiles, inspected when they change.

    ``update`` swaps in a new configuration (a reload): a read in progress finishes with the old
    one, the next read uses the new one from scratch. Each file's problems are judged against
    ``expected_topic``; trust stores are the configured ones and those of every profile.
    """

    def __init__(
        self,
        certificates: tuple[CertificateConfig, ...],
        profiles: tuple[ProfileConfig, ...],
        *,
        truststores: tuple[CertificateConfig, ...] = (),
        expected_topic: str = DEFAULT_EXPECTED_TOPIC,
        environ: Mapping[str, str] = os.environ,
        read_bytes: Callable[[Path], bytes] | None = None,
    ) -> None:
        self._environ = environ
        self._read_bytes = read_bytes
        self._sources = self._configure(certificates, profiles, truststores, expected_topic)

    def update(
        self,
        certificates: tuple[CertificateConfig, ...],
        profiles: tuple[ProfileConfig, ...],
        *,
        truststores: tuple[CertificateConfig, ...] = (),
        expected_topic: str = DEFAULT_EXPECTED_TOPIC,
    ) -> None:
        """Monitor these instead (read errors counted anew, every file read again)."""
        self._sources = self._configure(certificates, profiles, truststores, expected_topic)

    def read(self, logs: Snapshot) -> CertificateReading:
        """Refresh (only changed files are re-read) and run the cell and restart checks."""
        sources = self._sources
        snapshot = sources.cache.refresh()
        scans = [
            scan_profile(spec, read_bytes=sources.read, environ=self._environ)
            for spec in sources.specs
        ]
        return CertificateReading(
            snapshot=snapshot,
            scans=tuple(scans),
            cells=tuple(cell_reports(scans)),
            restart_pending=MappingProxyType(_restarts(sources, snapshot, scans, logs)),
            truststores=sources.truststores.read(),
        )

    def _configure(
        self,
        certificates: tuple[CertificateConfig, ...],
        profiles: tuple[ProfileConfig, ...],
        truststores: tuple[CertificateConfig, ...],
        expected_topic: str,
    ) -> _Sources:
        """The cache and profile specs for a configuration."""
        files = [
            CertificateSource(
                path=c.path, password=password_source(c.password_file, c.password_env)
            )
            for c in certificates
        ]
        files += [
            CertificateSource(
                # The profile path is literal: escape [ * ? so that only PROFILE_GLOB globs.
                path=os.path.join(glob.escape(p.path), PROFILE_GLOB),
                password=password_source(p.password_file, p.password_env),
            )
            for p in profiles
        ]
        specs = tuple(
            ProfileSpec(
                path=Path(p.path),
                role=p.role,
                password=password_source(p.password_file, p.password_env),
            )
            for p in profiles
        )
        stores = truststore_sources(
            [
                TrustStoreSource(
                    path=t.path, password=password_source(t.password_file, t.password_env)
                )
                for t in truststores
            ],
            [p.path for p in profiles],
        )
        judge = partial(checked_problems, expected_topic=expected_topic)
        return _Sources(
            cache=CertificateCache(files, environ=self._environ, kind=FileKind(judge=judge)),
            truststores=TrustStores(stores, environ=self._environ),
            specs=specs,
            read=self._read_bytes or _StatKeyedReader(),
            single_file=(
                len(certificates) == 1 and not profiles and not is_glob(certificates[0].path)
            ),
        )


def _restarts(
    sources: _Sources, snapshot: CertificateSnapshot, scans: list[ProfileScan], logs: Snapshot
) -> dict[str, int]:
    """server -> 1 where the certificate in use changed after the server's last start."""
    result: dict[str, int] = {}
    for path, totals in sorted(logs.files.items()):
        server = totals.server(path)
        started = logs.servers.get(server)
        if server in result or started is None or started.started is None:
            continue
        mtime = _mtime_in_use(sources, snapshot, scans, totals.cell, totals.node)
        if mtime is not None:
            result[server] = int(restart_pending(started.started, mtime))
    return result


def _mtime_in_use(
    sources: _Sources, snapshot: CertificateSnapshot, scans: list[ProfileScan], cell: str, node: str
) -> float | None:
    """mtime of the file a server on (cell, node) reads; the only file if just one is set."""
    if cell and node and scans:
        copy = copy_in_use(scans, cell, node)
        if copy is not None:
            return copy.mtime
    if sources.single_file:
        statuses = list(snapshot.files.values())
        return statuses[0].mtime if statuses else None
    return None
