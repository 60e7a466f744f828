"""Clear words for wrong input: scan on a non-log, cert on a text file, a missing password file."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from support import REPO

from stproxy_monitor.cli import main

LOGS = REPO / "fixtures" / "logs"


def run(*argv: str) -> tuple[int, str, str]:
    """main() with captured output."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, environ={})
    return status, out.getvalue(), err.getvalue()


def test_scan_refuses_a_binary_file_naming_it_and_saying_why() -> None:
    """scan /bin/ls: exit 2, 'not a WebSphere log', nothing on stdout."""
    binary = shutil.which("ls")
    assert binary is not None
    status, out, err = run("scan", binary)
    assert status == 2
    assert out == ""
    assert err.startswith(f"stproxy-monitor: {binary}: not a WebSphere log: binary data")


def test_scan_refuses_a_text_file_without_record_headers(tmp_path: Path) -> None:
    """A text file without a record header in its first bytes: exit 2, the rule in words."""
    text = tmp_path / "notes.txt"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n" * 10)
    status, _, err = run("scan", str(text))
    assert status == 2
    assert f"{text}: not a WebSphere log: no record header" in err
    assert "in the first 320 bytes" in err


@pytest.mark.parametrize(
    "log",
    [
        "en_US/STProxyServer/SystemOut.log",
        "currentstatus/STProxyServer/CurrentStatus.log",
        "windows/STProxyServer/SystemOut.log",
    ],
)
def test_scan_accepts_every_kind_of_fixture_log(log: str) -> None:
    """SystemOut.log (any layout) and CurrentStatus.log (no records, a certificate block) pass."""
    status, out, err = run("scan", str(LOGS / log))
    assert (status, err) == (0, "")
    assert "stproxy_monitor_lines_read_total" in out


def test_scan_accepts_an_empty_log(tmp_path: Path) -> None:
    """A log just created by a rotation may be empty: not an error."""
    empty = tmp_path / "SystemOut.log"
    empty.write_bytes(b"")
    assert run("scan", str(empty))[0] == 0


def test_cert_on_a_text_file_says_it_is_no_certificate(tmp_path: Path) -> None:
    """Not 'damaged or truncated': a text file is no PKCS#12, PEM or DER certificate at all."""
    text = tmp_path / "apns.pass.txt"
    text.write_text("this is not a certificate\n")
    status, out, _ = run("cert", str(text))
    assert status == 3
    assert "not a PKCS#12, PEM or DER certificate: a text file without a -----BEGIN" in out
    assert "damaged" not in out


def test_cert_with_a_missing_password_file_says_so(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """reason password_file_missing, naming the password file (not bad_password)."""
    absent = tmp_path / "apns.pass"
    valid = cert_manifest["files"]["valid"]["path"]
    status, out, _ = run("cert", "--password-file", str(absent), valid)
    assert status == 3
    assert f"cannot read: password_file_missing (password file {absent}: no such file)" in out


def test_a_reader_that_went_away_ends_the_command_without_a_traceback() -> None:
    """`scan ... | head`: the pipe's reader is gone before the output, exit 141 and no traceback."""
    import os  # noqa: PLC0415 - this test only
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stproxy_monitor",
                "scan",
                str(LOGS / "en_US" / "STProxyServer" / "SystemOut.log"),
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=REPO,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr
