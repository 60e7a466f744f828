"""Certificates end to end: a real `stproxy-monitor run` over a generated cell, /metrics over HTTP.

The test changes the cell while the daemon runs, the way an administrator rolls out a new
APNS certificate, and polls /metrics (with a deadline, never a fixed sleep) until the daemon
reports each step.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import (
    ATTACHED_FILES,
    END_BANNER,
    START_BANNER,
    CertTree,
    Samples,
    free_port,
    scrape,
    spawn_daemon,
    stop_process,
)

pytestmark = pytest.mark.e2e

CELL = "stproxyCell"
SERVER = "STProxyServer"
DEADLINE = 30.0


# -- the daemon ----------------------------------------------------------------------------


class Daemon:
    """A running `stproxy-monitor run` and its /metrics."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, stderr: Path) -> None:
        self.process = process
        self.port = port
        self.stderr = stderr

    def scrape(self) -> Samples:
        """Every sample of one scrape (the scrape must succeed: HTTP 200)."""
        return scrape(self.port)

    def wait_for(self, what: str, condition: Callable[[Samples], bool]) -> Samples:
        """Scrape until ``condition`` holds; fail with the last values after DEADLINE seconds."""
        deadline = time.monotonic() + DEADLINE
        samples: Samples = {}
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"daemon exited with {self.process.returncode} waiting for {what}")
            try:
                samples = self.scrape()
            except OSError:
                samples = {}  # not listening yet
            if samples and condition(samples):
                return samples
            if time.monotonic() >= deadline:
                cert = {k: v for k, v in samples.items() if "certificate" in k[0]}
                pytest.fail(f"gave up after {DEADLINE:g} s waiting for {what}; last: {cert}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then kill after a grace period."""
        stop_process(self.process)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one sample of ``name`` whose labels include ``labels`` (None when there is none)."""
    wanted = set(labels.items())
    found = [v for (n, have), v in samples.items() if n == name and wanted <= set(have)]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


@pytest.fixture
def start_daemon(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[dict[str, Any]], Daemon]]:
    """Start the daemon on a config (a free port is added); it is always terminated."""
    started: list[Daemon] = []

    def start(config: dict[str, Any]) -> Daemon:
        for attempt in range(3):  # another process may take the free port first
            port = free_port()
            path = tmp_path / "stproxy-monitor.yml"
            path.write_text(yaml.safe_dump(config | {"listen": f"127.0.0.1:{port}"}))
            stderr = tmp_path / f"daemon-{attempt}.stderr"
            request.node.stash.setdefault(ATTACHED_FILES, []).append(stderr)
            process = spawn_daemon("-c", str(path), stderr=stderr)
            daemon = Daemon(process, port, stderr)
            started.append(daemon)
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                return daemon
            if "cannot listen" not in stderr.read_text(errors="replace"):
                break
        pytest.fail(f"daemon exited at start with {process.returncode}")

    yield start
    for daemon in started:
        daemon.stop()


# -- the fixture cell ----------------------------------------------------------------------


def _stamp(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"[{moment.month}/{moment.day}/{moment:%y} {moment.hour}:{moment:%M:%S}:000 UTC]"


def _start_record(epoch: float) -> str:
    return f"{_stamp(epoch)} 00000001 WsServerImpl  A   WSVR0001I: Server {SERVER} open for e-business\n"  # noqa: E501


def _header(node: str) -> str:
    return (
        f"{START_BANNER}\n"
        "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
        f"{CELL}\\{node}\\{SERVER} and process id 1\n"
        f"{END_BANNER}\n"
    )


def _replace(path: str, data: bytes) -> None:
    """Put ``data`` at ``path`` in one step (write aside, rename), as a careful copy does."""
    aside = f"{path}.copying"
    Path(aside).write_bytes(data)
    os.replace(aside, path)


def _touch(path: str, when: float) -> None:
    os.utime(path, (when, when))


# -- the test ------------------------------------------------------------------------------


def test_rollout_steps_show_up_in_the_running_daemon(
    tmp_path: Path, cert_tree: CertTree, start_daemon: Callable[[dict[str, Any]], Daemon]
) -> None:
    """distinct, missing, sync_pending, restart_pending and read errors follow each step."""
    manifest = cert_tree(datetime.now(UTC))
    files = manifest["files"]
    now = time.time()
    for case in ("dmgr_node1", "dmgr_node2", "node1_copy", "node2_copy"):
        _touch(files[case]["path"], now - 7200)  # installed 2 h ago ...
    log = tmp_path / "logs" / SERVER / "SystemOut.log"
    log.parent.mkdir(parents=True)
    log.write_text(_header("stproxyNode1") + _start_record(now - 3600))  # ... started 1 h ago
    password = files["dmgr_node1"]["password_file"]
    daemon = start_daemon(
        {
            "poll_interval": 0.2,
            "settle_seconds": 0.2,
            "logs": [{"path": str(log)}],
            "profiles": [
                {"path": path, "password_file": password} for path in manifest["profiles"].values()
            ],
        }
    )

    def restart_pending(samples: Samples) -> float | None:
        return value(samples, "stproxy_apns_certificate_restart_pending", server=SERVER)

    # The generated cell: node2 forgotten with the old certificate, node3 without a file.
    samples = daemon.wait_for("the first look at the cell", lambda s: restart_pending(s) == 0)
    assert value(samples, "stproxy_apns_certificate_distinct", cell=CELL) == 2
    for node, missing in manifest["cells"][CELL]["missing"].items():
        assert value(samples, "stproxy_apns_certificate_missing", cell=CELL, node=node) == missing
    for node, pending in manifest["cells"][CELL]["sync_pending"].items():
        assert value(samples, "stproxy_apns_certificate_sync_pending", node=node) == pending
    for case in ("dmgr_node1", "dmgr_node2", "node1_copy", "node2_copy"):
        for cert in files[case]["certificates"]:
            labels = {"source": "file", "path": files[case]["path"], "serial": cert["serial"]}
            days = value(samples, "stproxy_apns_certificate_expiry_days", **labels)
            assert days == pytest.approx(cert["days_left"], abs=0.01), (case, cert["serial"])

    # 1. The new certificate copied over the dmgr's forgotten node2 copy.
    new = Path(files["dmgr_node1"]["path"]).read_bytes()
    _replace(files["dmgr_node2"]["path"], new)
    daemon.wait_for(
        "distinct 1",
        lambda s: value(s, "stproxy_apns_certificate_distinct", cell=CELL) == 1,
    )

    # 2. Node2 resynchronized: its profile copy now holds the same bytes.
    _replace(files["node2_copy"]["path"], new)
    daemon.wait_for(
        "sync_pending 0 for node2",
        lambda s: value(s, "stproxy_apns_certificate_sync_pending", node="stproxyNode2") == 0,
    )

    # 3. Node1's certificate in use changes after the server's start, then the server restarts.
    _touch(files["node1_copy"]["path"], now - 1800)
    daemon.wait_for("restart_pending 1", lambda s: restart_pending(s) == 1)
    with log.open("a") as handle:
        handle.write(_start_record(now - 600))
    daemon.wait_for("restart_pending 0 after the new start", lambda s: restart_pending(s) == 0)

    # 4. A corrupt file: read_ok 0 and one read error, however often it is scraped.
    broken = files["node2_copy"]["path"]
    errors = {"path": broken, "reason": "corrupt"}
    assert value(daemon.scrape(), "stproxy_apns_certificate_read_errors_total", **errors) == 0
    _replace(broken, Path(files["corrupt"]["path"]).read_bytes())
    daemon.wait_for(
        "read_ok 0",
        lambda s: value(s, "stproxy_apns_certificate_read_ok", path=broken) == 0,
    )
    for _ in range(5):
        samples = daemon.scrape()
        assert value(samples, "stproxy_apns_certificate_read_errors_total", **errors) == 1
        assert value(samples, "stproxy_apns_certificate_read_ok", path=broken) == 0
        assert value(samples, "stproxy_apns_certificate_distinct", cell=CELL) == 1
