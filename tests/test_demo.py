"""The README's "Try it": a few lines and the URL to open, never the fixture password."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from support import HTTP, REPO, daemon_env, free_port, load_cert_generator, stop_process

GENERATOR = REPO / "fixtures" / "generate_certs.py"


def test_the_certificate_generator_prints_one_line_without_the_password(tmp_path: Path) -> None:
    """One summary line; the manifest (with the password) only when asked for with --json."""
    result = subprocess.run(
        [sys.executable, str(GENERATOR), str(tmp_path / "generated")],
        capture_output=True,
        text=True,
        check=True,
    )
    password = load_cert_generator().PASSWORD
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("generate_certs: ")
    assert password not in result.stdout + result.stderr
    assert (tmp_path / "generated" / "certs" / "valid.p12").is_file()
    manifest = subprocess.run(
        [sys.executable, str(GENERATOR), str(tmp_path / "again"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"files"' in manifest.stdout


def read_line(fd: int, deadline: float) -> str:
    """The first line written to a pty, waiting until `deadline` (monotonic)."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"no line on the terminal in time (got {data!r})")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data += os.read(fd, 4096)
    return data.decode()


@pytest.mark.e2e
def test_the_daemon_started_on_a_terminal_prints_the_url_to_open(tmp_path: Path) -> None:
    """demo.yml with its log sent to a file: the terminal shows one line, a URL that answers."""
    load_cert_generator().generate(tmp_path / "generated", datetime.now(UTC))
    config = yaml.safe_load((REPO / "fixtures" / "demo.yml").read_text())
    for entry in config["logs"]:
        entry["path"] = str(REPO / "fixtures" / entry["path"])
    port = free_port()
    config["listen"] = f"127.0.0.1:{port}"
    path = tmp_path / "demo.yml"
    path.write_text(yaml.safe_dump(config))  # certificates relative to it: generated/ here
    primary, secondary = pty.openpty()
    with (tmp_path / "daemon.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stproxy_monitor", "run", "-c", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=log,
            env=daemon_env(),
        )
    os.close(secondary)
    try:
        line = read_line(primary, time.monotonic() + 20)
        match = re.fullmatch(
            r"stproxy-monitor \S+: status page (\S+) \(Ctrl-C stops it\)\r?\n", line
        )
        assert match, line
        assert match[1] == f"http://127.0.0.1:{port}/"
        with HTTP.open(match[1], timeout=10) as response:
            assert response.status == 200
            assert b"<title>CRITICAL - stproxy-monitor</title>" in response.read()
        ready, _, _ = select.select([primary], [], [], 1.0)
        assert not ready, "more than one line on the terminal"
    finally:
        stop_process(process)
        os.close(primary)
    events = (tmp_path / "daemon.log").read_text()
    assert '"event": "started"' in events
    assert load_cert_generator().PASSWORD not in events
