"""scan --output for node_exporter's textfile collector: atomic writes, and the real collector."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import (
    HTTP,
    REPO,
    daemon_env,
    free_port,
    http_ok,
    parse_samples,
    stop_process,
    wait_until,
)

from stproxy_monitor.cli import main
from stproxy_monitor.commands.scan import write_atomically

LOG = REPO / "fixtures" / "logs" / "en_US" / "STProxyServer" / "SystemOut.log"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def test_output_writes_the_exposition_readable_by_others_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    """The file holds what stdout would; mode 0644; nothing else left in the directory."""
    out, err = io.StringIO(), io.StringIO()
    assert main(["scan", str(LOG)], stdout=out, stderr=err) == 0
    target = tmp_path / "stproxy.prom"
    assert main(["scan", "--output", str(target), str(LOG)], stdout=io.StringIO(), stderr=err) == 0
    assert err.getvalue() == ""
    assert parse_samples(target.read_text()).keys() == parse_samples(out.getvalue()).keys()
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["stproxy.prom"]


def test_output_problems_are_clear_and_leave_nothing_behind(tmp_path: Path) -> None:
    """No such directory, or a directory where the file should be: exit 2, no temporary left."""
    err = io.StringIO()
    missing = tmp_path / "nope" / "stproxy.prom"
    assert main(["scan", "--output", str(missing), str(LOG)], stderr=err) == 2
    assert f"--output {missing}: no such directory" in err.getvalue()
    taken = tmp_path / "stproxy.prom"
    taken.mkdir()
    err = io.StringIO()
    assert main(["scan", "--output", str(taken), str(LOG)], stderr=err) == 2
    assert f"--output {taken}: cannot write: " in err.getvalue()
    assert [p.name for p in tmp_path.iterdir()] == ["stproxy.prom"]


def test_a_reader_never_sees_half_a_file(tmp_path: Path) -> None:
    """While the file is rewritten again and again, every read is one whole version."""
    target = tmp_path / "stproxy.prom"
    versions = [f"# version {n}\n" + "x" * 200_000 + f"\n# end {n}\n" for n in range(2)]
    write_atomically(str(target), versions[0])
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(target.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(60):
            write_atomically(str(target), versions[n % 2])
    finally:
        done.set()
        reader.join()
    assert seen
    assert all(text in versions for text in seen)


@pytest.mark.e2e
@pytest.mark.skipif(NODE_EXPORTER is None, reason="Debian's prometheus-node-exporter is missing")
def test_node_exporter_serves_our_series_from_scan_output(tmp_path: Path) -> None:
    """node_exporter with --collector.textfile.directory serves scan's stproxy_* series."""
    assert NODE_EXPORTER is not None
    directory = tmp_path / "textfile"
    directory.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "stproxy_monitor",
            "scan",
            "--output",
            str(directory / "stproxy.prom"),
            str(LOG),
        ],
        check=True,
        env=daemon_env(),
        capture_output=True,
    )
    expected = parse_samples((directory / "stproxy.prom").read_text())
    port = free_port()
    log = tmp_path / "node_exporter.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                NODE_EXPORTER,
                f"--web.listen-address=127.0.0.1:{port}",
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={directory}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: http_ok(url) or process.poll() is not None, what="node_exporter")
        assert process.poll() is None, log.read_text()
        with HTTP.open(url, timeout=10) as response:
            served = parse_samples(response.read().decode())
    finally:
        stop_process(process)
    ours = {k: v for k, v in served.items() if k[0].startswith("stproxy_")}
    assert ours == expected
    assert (
        "stproxy_apns_connection_failures_total",
        (("reason", "unknown_host"), ("server", "STProxyServer")),
    ) in ours
    assert served[("node_textfile_scrape_error", ())] == 0
    assert os.path.exists(directory / "stproxy.prom")
