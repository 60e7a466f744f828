"""The I/O edge of certificate inspection: passwords, OS errors, a cache keyed on file identity."""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from stproxy_monitor.certs.globs import ListingKeyedGlob
from stproxy_monitor.certs.inspection import CertificateInfo, Inspection, inspect_file
from stproxy_monitor.errors import CertificateError
from stproxy_monitor.paths import FileStat, is_glob, stat_key

CERTIFICATE_FILE_NAME = "apns-prod.pkcs12"
_PATH_SEPARATORS = re.compile(r"[\\/]")


ReadBytes = Callable[[Path], bytes]
StatFile = Callable[[Path], FileStat]
ExpandGlob = Callable[[str], list[str]]


def _read_file(path: Path) -> bytes:
    return path.read_bytes()


def _stat_file(path: Path) -> FileStat:
    return path.stat()


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordSource:
    """Where a PKCS#12 password comes from: a file or an environment variable (or neither).

    It names the place only; the secret is read when a certificate is read, so the repr shows
    no secret and a rotated password file is picked up.
    """

    file: Path | None = None
    env: str | None = None

    def __post_init__(self) -> None:
        if self.file is not None and self.env is not None:
            raise ValueError("PasswordSource: a password file or an environment variable, not both")

    def resolve(
        self, *, environ: Mapping[str, str], read_bytes: ReadBytes = _read_file
    ) -> bytes | None:
        """The password (a file's trailing newlines stripped), None when no source is set.

        Raises CertificateError when the source cannot give a password: reason
        password_file_missing when the file does not exist, else bad_password.
        """
        if self.file is not None:
            try:
                return read_bytes(self.file).rstrip(b"\r\n")
            except (FileNotFoundError, NotADirectoryError):
                raise CertificateError(
                    f"password file {self.file}: no such file", reason="password_file_missing"
                ) from None
            except OSError as exc:
                detail = exc.strerror or type(exc).__name__
                raise CertificateError(
                    f"password file {self.file}: {detail}", reason="bad_password"
                ) from None
        if self.env is not None:
            value = environ.get(self.env)
            if value is None:
                raise CertificateError(
                    f"password environment variable {self.env} is not set", reason="bad_password"
                )
            return value.encode("utf-8")
        return None


def node_from_path(path: str, file_name: str = CERTIFICATE_FILE_NAME) -> str:
    """The node of a WebSphere path ``.../nodes/<node>/apns-prod.pkcs12`` (/ or \\), else "".

    ``file_name`` names the file instead of apns-prod.pkcs12 (trust.p12 for a trust store).
    """
    parts = _PATH_SEPARATORS.split(path)
    if len(parts) >= 3 and parts[-1].casefold() == file_name and parts[-3].casefold() == "nodes":
        return parts[-2]
    return ""


def read_certificate_file(
    path: str | Path,
    password: PasswordSource | None = None,
    *,
    read_bytes: ReadBytes = _read_file,
    environ: Mapping[str, str] = os.environ,
) -> list[CertificateInfo]:
    """Read and inspect one certificate file.

    Raises CertificateError whose message reads ``<path>: cannot read: <reason> (<detail>)`` and
    whose reason is missing (no such file, or a directory), permission (permission denied or any
    other OS error), bad_password, password_file_missing or corrupt. A password is only needed
    when the file asks for one, so an unusable password source is reported only then (as
    password_file_missing when its file does not exist).
    """
    found = inspect_certificate_file(path, password, read_bytes=read_bytes, environ=environ)
    return list(found.certificates)


def inspect_certificate_file(
    path: str | Path,
    password: PasswordSource | None = None,
    *,
    read_bytes: ReadBytes = _read_file,
    environ: Mapping[str, str] = os.environ,
    default_password: bytes | None = None,
    allow_empty: bool = False,
) -> Inspection:
    """:func:`read_certificate_file`, with the file's own facts (key, encryption).

    ``default_password`` is tried when no password source is given (WebSphere's "WebAS" for
    its trust stores).
    """
    data = _read_or_fail(Path(path), read_bytes)
    secret, problem = _password_or_problem(password, environ, read_bytes)
    try:
        secret = default_password if password is None else secret
        return inspect_file(data, secret, allow_empty=allow_empty)
    except CertificateError as exc:
        if exc.reason == "bad_password" and problem is not None:
            raise _failure(path, problem.reason, str(problem)) from None
        raise _failure(path, exc.reason, str(exc)) from None


def _failure(path: str | Path, reason: str, detail: str) -> CertificateError:
    return CertificateError(f"{path}: cannot read: {reason} ({detail})", reason=reason)


def _read_or_fail(path: Path, read_bytes: ReadBytes) -> bytes:
    try:
        return read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        raise _failure(path, "missing", "no such file") from None
    except IsADirectoryError:
        raise _failure(path, "missing", "a directory, not a file") from None
    except PermissionError:
        raise _failure(path, "permission", "permission denied") from None
    except OSError as exc:
        raise _failure(path, "permission", exc.strerror or type(exc).__name__) from None


def _password_or_problem(
    source: PasswordSource | None, environ: Mapping[str, str], read_bytes: ReadBytes
) -> tuple[bytes | None, CertificateError | None]:
    """The password, or None and why the source could not give one."""
    if source is None:
        return None, None
    try:
        return source.resolve(environ=environ, read_bytes=read_bytes), None
    except CertificateError as exc:
        return None, exc


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateSource:
    """One configured certificate path (a file or a glob) and its password source."""

    path: str
    password: PasswordSource | None = None


class CertificateEntry(NamedTuple):
    """One certificate of one file, with the node its WebSphere path names."""

    path: str
    node: str
    info: CertificateInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class FileStatus:
    """The last read of one file: reason is "" when read_ok; mtime is None when missing.

    ``problems`` maps each problem checked to whether it holds (certs.facts; empty when the
    file was not read or nothing was judged).
    """

    read_ok: bool
    reason: str = ""
    message: str = ""
    mtime: float | None = None
    problems: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateSnapshot:
    """An immutable view of every configured certificate file at one refresh."""

    certificates: tuple[CertificateEntry, ...] = ()
    files: Mapping[str, FileStatus] = field(default_factory=lambda: MappingProxyType({}))
    read_errors_total: Mapping[tuple[str, str], int] = field(
        default_factory=lambda: MappingProxyType({})
    )


_FileIdentity = tuple[object, ...]


class _Identity(NamedTuple):
    file: _FileIdentity
    password: object

    @property
    def missing(self) -> bool:
        return self.file[0] == "missing"

    @property
    def mtime(self) -> float | None:
        mtime_ns = self.file[-1] if self.file[0] == "file" else None
        return mtime_ns / 1e9 if isinstance(mtime_ns, int) else None


@dataclass(frozen=True, slots=True)
class _CachedRead:
    identity: _Identity
    entries: tuple[CertificateEntry, ...]
    status: FileStatus


Judge = Callable[[Inspection], Mapping[str, bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class FileKind:
    """What a cache's files are: their WebSphere file name (for the node), the password tried
    when none is configured, and the judge of their problems (none: not judged)."""

    file_name: str = CERTIFICATE_FILE_NAME
    default_password: bytes | None = field(default=None, repr=False)
    judge: Judge | None = None
    allow_empty: bool = False  # a file without certificates is read (an empty trust store)


class CertificateCache:
    """Re-reads a certificate file only when it (or its password file) changes identity.

    Identity is (st_dev, st_ino, st_size, st_mtime_ns) of the file plus that of the password
    file (or a per-process hash of the environment value). A failed read is counted once per
    identity, not once per scrape. ``refresh()`` is safe to call from concurrent scrapes.
    """

    def __init__(
        self,
        sources: list[CertificateSource],
        *,
        stat: StatFile = _stat_file,
        read_bytes: ReadBytes = _read_file,
        expand_glob: ExpandGlob | None = None,
        environ: Mapping[str, str] = os.environ,
        kind: FileKind | None = None,
    ) -> None:
        self._kind = kind or FileKind()
        self._sources = list(sources)
        self._stat = stat
        self._read_bytes = read_bytes
        self._expand_glob = expand_glob or ListingKeyedGlob()
        self._environ = environ
        self._lock = threading.Lock()
        self._cache: dict[str, _CachedRead] = {}
        self._as_path: dict[str, Path] = {}  # made once per path: Path() costs more than stat
        self._errors: Counter[tuple[str, str]] = Counter()
        self._snapshot = CertificateSnapshot()

    @property
    def snapshot(self) -> CertificateSnapshot:
        """The result of the last refresh (empty before the first)."""
        return self._snapshot

    def refresh(self) -> CertificateSnapshot:
        """Stat every configured path, re-read the changed ones, return the snapshot.

        The snapshot is the very object the last refresh returned when no file changed (the
        same paths, each with the same identity): renderings of it may be reused.
        """
        with self._lock:
            current: dict[str, _CachedRead] = {}
            for path, source, globbed in self._paths():
                identity = self._identity(path, source)
                if globbed and identity.missing:
                    continue  # removed between the glob and the stat
                current[path] = self._cached_or_read(path, source, identity)
            if not _same_reads(current, self._cache):
                self._snapshot = self._build_snapshot(current)
                self._as_path = {path: self._as_path[path] for path in current}
            self._cache = current
            return self._snapshot

    def _paths(self) -> list[tuple[str, CertificateSource, bool]]:
        """(path, source, came from a glob) for every configured path, first source wins."""
        found: dict[str, tuple[str, CertificateSource, bool]] = {}
        for source in self._sources:
            if is_glob(source.path):
                for match in self._expand_glob(source.path):
                    found.setdefault(match, (match, source, True))
            else:
                found.setdefault(source.path, (source.path, source, False))
        return list(found.values())

    def _identity(self, path: str, source: CertificateSource) -> _Identity:
        as_path = self._as_path.get(path)
        if as_path is None:
            as_path = self._as_path[path] = Path(path)
        return _Identity(self._file_identity(as_path), self._password_identity(source.password))

    def _file_identity(self, path: Path) -> _FileIdentity:
        try:
            st = self._stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return ("missing",)
        except OSError as exc:
            return ("error", exc.errno)
        return ("file", *stat_key(st))

    def _password_identity(self, password: PasswordSource | None) -> object:
        if password is None:
            return None
        if password.file is not None:
            return self._file_identity(password.file)
        if password.env is not None:
            # hash() of a str is salted per process: a change detector that stores no secret.
            return hash(self._environ.get(password.env))
        return None

    def _cached_or_read(
        self, path: str, source: CertificateSource, identity: _Identity
    ) -> _CachedRead:
        cached = self._cache.get(path)
        if cached is not None and cached.identity == identity:
            return cached
        mtime = identity.mtime
        kind = self._kind
        try:
            inspection = inspect_certificate_file(
                path,
                source.password,
                read_bytes=self._read_bytes,
                environ=self._environ,
                default_password=kind.default_password,
                allow_empty=kind.allow_empty,
            )
        except CertificateError as exc:
            self._errors[(path, exc.reason)] += 1
            status = FileStatus(read_ok=False, reason=exc.reason, message=str(exc), mtime=mtime)
            return _CachedRead(identity, (), status)
        node = node_from_path(path, kind.file_name)
        entries = tuple(CertificateEntry(path, node, info) for info in inspection.certificates)
        status = FileStatus(read_ok=True, mtime=mtime)
        if kind.judge is not None:
            status = replace(status, problems=MappingProxyType(dict(kind.judge(inspection))))
        return _CachedRead(identity, entries, status)

    def _build_snapshot(self, current: dict[str, _CachedRead]) -> CertificateSnapshot:
        return CertificateSnapshot(
            certificates=tuple(entry for read in current.values() for entry in read.entries),
            files=MappingProxyType({path: read.status for path, read in current.items()}),
            read_errors_total=MappingProxyType(dict(self._errors)),
        )


def _same_reads(current: dict[str, _CachedRead], last: dict[str, _CachedRead]) -> bool:
    """Whether a refresh found the same paths, in the same order, each with the same read."""
    return list(current) == list(last) and all(read is last[path] for path, read in current.items())
