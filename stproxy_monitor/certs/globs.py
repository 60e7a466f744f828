"""Configured globs expanded, from one directory listing while the directory lists the same."""

from __future__ import annotations

import fnmatch
import os

from stproxy_monitor.paths import expand_glob, is_glob


class ListingKeyedGlob:
    """paths.expand_glob, from one listing of the directory, kept while it lists the same.

    For patterns with magic in the last component alone (not ``**``), glob lists that one
    directory, drops hidden names unless the pattern is hidden too, filters the rest with fnmatch
    and joins; here the same is done from one os.listdir, and reused while the names are the same
    (listing 50 names costs a tenth of globbing them). Other patterns are globbed every time.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[list[str], list[str]]] = {}

    def __call__(self, pattern: str) -> list[str]:
        """The sorted matches of `pattern`."""
        directory, last = os.path.split(pattern)
        if not directory or is_glob(directory) or "**" in last:
            return expand_glob(pattern)
        names = _names(directory)
        if names is None:
            return expand_glob(pattern)
        kept = self._last.get(pattern)
        if kept is None or kept[0] != names:
            visible = names if last.startswith(".") else [n for n in names if n[:1] != "."]
            matches = sorted(os.path.join(directory, n) for n in fnmatch.filter(visible, last))
            kept = self._last[pattern] = (names, matches)
        return list(kept[1])


def _names(directory: str) -> list[str] | None:
    """The names in a directory, in the order the file system gives them; None if unreadable."""
    try:
        return os.listdir(directory)
    except OSError:
        return None
