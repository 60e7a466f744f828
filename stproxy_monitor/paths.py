"""What a configured path means: whether it is a glob, what it matches, when a file changed."""

from __future__ import annotations

import glob
import re
from typing import Protocol

_GLOB_MAGIC = re.compile(r"[*?[]")

StatKey = tuple[int, int, int, int]


class FileStat(Protocol):
    """The part of ``os.stat_result`` a stat key uses; fakes in tests provide just this."""

    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...


def is_glob(path: str) -> bool:
    """Whether `path` has glob magic (``*``, ``?`` or ``[``) and names files by a pattern."""
    return _GLOB_MAGIC.search(path) is not None


def expand_glob(pattern: str) -> list[str]:
    """The files a configured glob names, sorted; ``**`` crosses directories."""
    # Path.glob takes no absolute patterns, and configured globs are absolute.
    return sorted(glob.glob(pattern, recursive=True))


def stat_key(st: FileStat) -> StatKey:
    """Device, inode, size and modification time: a file whose key is the same is unchanged."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
