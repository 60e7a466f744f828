"""Which files a followed log is made of: its identity, its rotated siblings, HPEL.

A followed log is a sequence of files: WebSphere's rotated files `SystemOut_yy.MM.dd_HH.mm.ss.log`
in name order (their names are the time of the rotation), then the live `SystemOut.log`. A file
is told from every other by its identity, taken from an open handle (so that the bytes read and
the identity belong to the same file, whatever was renamed meanwhile).
"""

from __future__ import annotations

import os
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

FINGERPRINT_BYTES = 1024
# FS_IOC_GETVERSION (_IOR('v', 1, long)): the inode generation of ext2/3/4, XFS, btrfs, F2FS.
_GETVERSION = 0x80087601 if struct.calcsize("l") == 8 else 0x80047601

# Non-greedy stem: SystemOut_18.04.14_13.03.12.log rotates SystemOut.log, not "SystemOut_18.04.14".
_ROTATED = re.compile(r"^(?P<stem>.+?)_[0-9._-]+(?P<suffix>\.[^.]+)$")


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What makes a file the same file: device, inode, its inode generation, its first bytes.

    Two files that exist at the same time never share device and inode. A deleted file's inode
    number is soon given to a new file (ext4 does it at once); the generation, where the file
    system keeps one, then differs. The fingerprint (the first bytes, up to 1 KiB, growing with
    the file) tells them apart across a restart and where there is no generation.
    """

    device: int
    inode: int
    fingerprint: bytes
    generation: int | None = None

    @property
    def key(self) -> tuple[int, int]:
        """Device and inode."""
        return self.device, self.inode

    def same_file(self, other: FileIdentity) -> bool:
        """Same device, inode and generation, and the shorter fingerprint begins the longer."""
        if self.key != other.key:
            return False
        if None not in (self.generation, other.generation) and self.generation != other.generation:
            return False
        short, long_ = sorted((self.fingerprint, other.fingerprint), key=len)
        return long_.startswith(short)

    def rewritten(self, other: FileIdentity) -> bool:
        """The same inode (and generation) holding other first bytes: truncated, rewritten."""
        if self.key != other.key or (
            None not in (self.generation, other.generation) and self.generation != other.generation
        ):
            return False
        return not self.same_file(other)


@dataclass(frozen=True, slots=True)
class Opened:
    """An open file of a log and its identity (its size as fstat saw it at the open)."""

    name: str
    handle: BinaryIO
    identity: FileIdentity
    size: int


def identify(handle: BinaryIO) -> tuple[FileIdentity, int] | None:
    """Identity and size of an open file; None for a handle without a file (a test double)."""
    try:
        fd = handle.fileno()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    head = os.pread(fd, FINGERPRINT_BYTES, 0) if hasattr(os, "pread") else _read_head(handle)
    return FileIdentity(st.st_dev, st.st_ino, head, inode_generation(fd)), st.st_size


def _read_head(handle: BinaryIO) -> bytes:  # pragma: no cover - Windows has no pread
    """The first bytes through the handle (its position is set again by every read)."""
    handle.seek(0)
    return handle.read(FINGERPRINT_BYTES)


def inode_generation(fd: int) -> int | None:
    """The file system's generation of the inode (None where it keeps none: tmpfs, NTFS ...).

    On Windows st_ino is NTFS's file reference number, whose sequence number already changes
    when a record is reused.
    """
    if sys.platform == "win32":  # pragma: no cover - no ioctl there
        return None
    import fcntl  # noqa: PLC0415 - POSIX only

    try:
        buf = fcntl.ioctl(fd, _GETVERSION, b"\0" * 8)
    except OSError:
        return None
    return int(struct.unpack("=L", buf[:4])[0])


def rotated_pattern(path: str) -> re.Pattern[str]:
    """Names of the rotated files of `path`: `SystemOut.log` -> `SystemOut_<digits._->.log`."""
    stem, suffix = os.path.splitext(os.path.basename(path))
    return re.compile(re.escape(stem) + r"_[0-9._-]+" + re.escape(suffix) + "$")


def rotated_siblings(path: str, listdir: Callable[[str], list[str]] = os.listdir) -> list[str]:
    """Paths of the rotated files of `path`, oldest first; [] when the directory is unreadable."""
    directory = os.path.dirname(path)
    pattern = rotated_pattern(path)
    try:
        names = sorted(n for n in listdir(directory or ".") if pattern.match(n))
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names]


def live_path(path: str) -> str:
    """The live log of a rotated file: `SystemOut_26.11.29_10.00.00.log` -> `SystemOut.log`."""
    directory, name = os.path.split(path)
    m = _ROTATED.match(name)
    return os.path.join(directory, m["stem"] + m["suffix"]) if m else path


def writes_hpel(path: str) -> bool:
    """Whether binary HPEL logs (`logdata/*.wbl`) sit where the log `path` would be."""
    logdata = Path(path).parent / "logdata"
    try:
        return logdata.is_dir() and any(p.suffix == ".wbl" for p in logdata.iterdir())
    except OSError:
        return False


def hpel_directory(path: str) -> str:
    """The `logdata` directory next to the log `path`."""
    return str(Path(path).parent / "logdata")
