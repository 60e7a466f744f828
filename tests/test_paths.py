"""Tests for paths: is a configured path a glob, what it matches, when a file changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stproxy_monitor.paths import expand_glob, is_glob, stat_key


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/opt/IBM/WebSphere/AppServer/profiles/*/logs/STProxyServer/SystemOut.log", True),
        ("/logs/SystemOut_??.??.??_??.??.??.log", True),
        ("/logs/server[12]/SystemOut.log", True),
        ("/logs/STProxyServer/SystemOut.log", False),
        ("C:\\IBM\\WebSphere\\logs\\SystemOut.log", False),
    ],
)
def test_is_glob(path: str, expected: bool) -> None:
    """`*`, `?` and `[` make a glob; any other path names one file."""
    assert is_glob(path) is expected


def test_expand_glob_is_sorted_and_crosses_directories_with_two_stars(tmp_path: Path) -> None:
    """Matches come sorted; `**` reaches files in subdirectories."""
    for rel in ("b/apns.p12", "a/x/apns.p12", "a/apns.p12"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    assert expand_glob(str(tmp_path / "*" / "apns.p12")) == [
        str(tmp_path / "a" / "apns.p12"),
        str(tmp_path / "b" / "apns.p12"),
    ]
    assert str(tmp_path / "a" / "x" / "apns.p12") in expand_glob(str(tmp_path / "**" / "*.p12"))


def test_stat_key_changes_with_content_and_with_replacement(tmp_path: Path) -> None:
    """The same file untouched keeps its key; new bytes or a replaced file give another."""
    path = tmp_path / "apns-prod.pkcs12"
    path.write_bytes(b"one")
    first = stat_key(path.stat())
    assert stat_key(path.stat()) == first
    path.write_bytes(b"one more")
    second = stat_key(path.stat())
    assert second != first
    replacement = tmp_path / "new"
    replacement.write_bytes(b"one more")
    os.utime(replacement, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(replacement, path)
    assert stat_key(path.stat()) != second  # same size and mtime, another inode
