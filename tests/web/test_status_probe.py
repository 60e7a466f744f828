"""The probe's last result on the status page, in /status.json and in the daemon's log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apns_standin import ProbeWorld
from support import HTTP, free_port, readiness, spawn_daemon, stop_process, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeWorld]:
    """The APNs stand-in and its certificates."""
    built = ProbeWorld(tmp_path_factory.mktemp("probe"))
    yield built
    built.close()


def get(port: int, path: str) -> bytes:
    """The body of a GET that answers 200."""
    with HTTP.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


def test_a_rejected_probe_is_critical_on_the_page_in_the_json_and_in_the_log(
    world: ProbeWorld, tmp_path: Path
) -> None:
    """Apple (the stand-in) says BadCertificate: probe_failed, CRITICAL, with the result."""
    port = free_port()
    endpoint = f"localhost:{world.port('apns')}"
    config = tmp_path / "probe.yml"
    config.write_text(
        "\n".join(
            [
                f"listen: 127.0.0.1:{port}",
                "certificates:",
                f"  - path: {world.p12['good']}",
                f"    password_file: {world.password_file}",
                "probe:",
                f"  endpoint: {endpoint}",
                f"  ca_file: {world.server_ca_file}",
                "  topic: case.bad-certificate",
                "  timeout: 3",
            ]
        )
        + "\n"
    )
    stderr = tmp_path / "daemon.log"
    process = spawn_daemon("-c", str(config), stderr=stderr)
    try:
        assert wait_until(lambda: readiness(process, port), what="ready") == "ready"

        def probed() -> dict[str, Any] | None:
            status = json.loads(get(port, "/status.json"))
            return status if status["probe"] is not None else None

        status = wait_until(probed, what="the first probe", timeout=30)
        page = get(port, "/").decode()
        wait_until(lambda: '"probe_failed"' in stderr.read_text(), what="the probe_failed event")
    finally:
        stop_process(process)
    probe = status["probe"]
    assert (probe["endpoint"], probe["result"], probe["state"]) == (
        endpoint,
        "certificate_rejected",
        "CRITICAL",
    )
    assert status["probe_configured"] is True
    assert status["state"] == "CRITICAL"
    (failed,) = [p for p in status["problems"] if p["event"] == "probe_failed"]
    assert failed["facts"]["result"] == "certificate_rejected"
    section = page.split("<section id='probe'>", 1)[1].split("</section>", 1)[0]
    assert "data-state='CRITICAL'" in section
    assert "certificate_rejected" in section
    assert "data-event='probe_failed'" in page
    events = [json.loads(line) for line in stderr.read_text().splitlines() if line.startswith("{")]
    logged = [e for e in events if e["event"] == "probe_failed"]
    assert logged and logged[0]["result"] == "certificate_rejected"
    assert logged[0]["level"] == "error"
