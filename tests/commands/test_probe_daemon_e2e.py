"""The daemon's probe, the real daemon as a subprocess against the local APNs stand-in: every
result of the contract's table in the metrics, on schedule, and scrapes that never wait."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from apns_standin import ApnsStandIn, ProbeWorld, SilentServer
from support import (
    DAEMON,
    HTTP,
    Samples,
    daemon_env,
    free_port,
    key,
    readiness,
    scrape,
    spawn_daemon,
    stop_process,
    wait_until,
)

from stproxy_monitor.probe.outcome import RESULTS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeWorld]:
    """The stand-ins, started once for the module."""
    built = ProbeWorld(tmp_path_factory.mktemp("probe-daemon"))
    yield built
    built.close()


@dataclass
class Running:
    """One daemon: its process, port, stderr and the endpoint it probes."""

    process: subprocess.Popen[bytes]
    port: int
    stderr: Path
    endpoint: str


def write_config(world: ProbeWorld, path: Path, *, server: str, cert: str = "good",
                 topic: str | None = None, proxy: str | None = None,
                 timeout: float = 3) -> str:  # fmt: skip
    """A config with one certificate and a probe: section for the stand-in `server`."""
    endpoint = f"localhost:{world.port(server)}"
    lines = [
        "certificates:",
        f"  - path: {world.p12[cert]}",
        f"    password_file: {world.password_file}",
        "probe:",
        "  interval: 300",
        f"  endpoint: {endpoint}",
        f"  ca_file: {world.server_ca_file}",
        f"  timeout: {timeout}",
    ]
    if topic:
        lines.append(f"  topic: {topic}")
    if proxy:
        lines.append(f"  proxy: {proxy}")
    path.write_text("\n".join(lines) + "\n")
    return endpoint


def start(config: Path, endpoint: str, workdir: Path) -> Running:
    """Start a daemon on a free port (not waited for)."""
    port = free_port()
    stderr = workdir / f"{config.stem}.stderr"
    process = spawn_daemon("-c", str(config), "--listen", f"127.0.0.1:{port}", stderr=stderr)
    return Running(process, port, stderr, endpoint)


def probed(daemon: Running) -> Samples | None:
    """The scrape once the first probe is in (None before)."""
    if readiness(daemon.process, daemon.port) != "ready":
        assert daemon.process.poll() is None, daemon.stderr.read_text()
        return None
    samples = scrape(daemon.port)
    done = key("stproxy_apns_probe_last_run_timestamp_seconds", endpoint=daemon.endpoint)
    return samples if done in samples else None


CASES = {
    # name: (server, certificate, topic, result)
    "accepted": ("apns", "good", None, "accepted"),
    "bad-certificate": ("apns", "good", "case.bad-certificate", "certificate_rejected"),
    "alert-unknown-ca": ("apns", "foreign", None, "certificate_rejected"),
    "alert-expired": ("apns12", "expired", None, "certificate_rejected"),
    "goaway-environment": ("apns", "good", "case.goaway", "wrong_environment"),
    "topic": ("apns", "good", "case.topic", "topic_rejected"),
    "untrusted": ("untrusted", "good", None, "server_untrusted"),
    "closed-port": ("closed", "good", None, "unreachable"),
    "silent": ("silent", "good", None, "timed_out"),
    "shutdown": ("apns", "good", "case.shutdown", "apns_unavailable"),
    "no-h2": ("no_h2", "good", None, "other"),
}


# The TLS handshake did not complete: no server certificate was seen (a TLS 1.2 alert ends the
# handshake itself; with TLS 1.3, as for unknown-ca, the alert comes after it).
NO_SERVER_CERTIFICATE = frozenset({"alert-expired", "untrusted", "closed-port", "silent"})


def test_every_result_in_the_daemons_metrics(world: ProbeWorld, tmp_path: Path) -> None:
    """One daemon per case, started together: each exports its result, once, with the rest 0."""
    running: dict[str, Running] = {}
    try:
        for name, (server, cert, topic, _) in CASES.items():
            config = tmp_path / f"{name}.yml"
            endpoint = write_config(world, config, server=server, cert=cert, topic=topic, timeout=2)
            running[name] = start(config, endpoint, tmp_path)
        for name, (_, _, _, result) in CASES.items():
            daemon = running[name]
            samples = wait_until(
                lambda d=daemon: probed(d), what=f"the first probe of {name}", timeout=90
            )
            one = {"endpoint": daemon.endpoint}
            assert samples[key("stproxy_apns_probe_success", **one)] == int(result == "accepted")
            for other in RESULTS:
                labels = {**one, "result": other}
                want = int(other == result)
                assert samples[key("stproxy_apns_probe_result", **labels)] == want, (name, other)
                assert samples[key("stproxy_apns_probes_total", **labels)] == want, (name, other)
            assert samples[key("stproxy_apns_probe_duration_seconds", **one)] > 0
            assert samples[key("stproxy_apns_probe_interval_seconds", **one)] == 300
            assert abs(samples[key("stproxy_apns_probe_last_run_timestamp_seconds", **one)]
                       - time.time()) < 120  # fmt: skip
            server_not_after = key(
                "stproxy_apns_probe_server_certificate_not_after_timestamp_seconds", **one
            )
            if name not in NO_SERVER_CERTIFICATE:
                assert samples[server_not_after] > time.time(), name
            else:
                assert server_not_after not in samples, name
    finally:
        for daemon in running.values():
            stop_process(daemon.process)
    for name, daemon in running.items():
        assert daemon.process.returncode == 0, (name, daemon.stderr.read_text())
        assert '"probe"' in daemon.stderr.read_text(), name  # the probe's log event


def test_through_a_connect_proxy(world: ProbeWorld, tmp_path: Path) -> None:
    """probe.proxy sends the daemon's probe through the CONNECT proxy; the result is accepted."""
    proxy = world.servers["proxy"]
    before = len(proxy.tunnels)  # type: ignore[attr-defined]
    config = tmp_path / "proxy.yml"
    endpoint = write_config(world, config, server="apns", proxy=f"http://127.0.0.1:{proxy.port}")
    daemon = start(config, endpoint, tmp_path)
    try:
        samples = wait_until(lambda: probed(daemon), what="the probe through the proxy")
        assert samples[key("stproxy_apns_probe_success", endpoint=endpoint)] == 1
        assert proxy.tunnels[before:] == [endpoint]  # type: ignore[attr-defined]
        with HTTP.open(f"http://127.0.0.1:{daemon.port}/status.json", timeout=10) as response:
            status = json.loads(response.read())
        assert status["probe_configured"] is True
        assert status["probe"]["result"] == "accepted"
        assert status["probe"]["state"] == "OK" and status["probe"]["status"] == 400
    finally:
        stop_process(daemon.process)


def test_a_scrape_during_a_hung_probe_answers(world: ProbeWorld, tmp_path: Path) -> None:
    """While the probe waits on a server that never answers, scrapes answer; then timed_out."""
    silent = world.servers["silent"]
    assert isinstance(silent, SilentServer)
    before = silent.connections
    config = tmp_path / "hung.yml"
    endpoint = write_config(world, config, server="silent", timeout=8)
    daemon = start(config, endpoint, tmp_path)
    try:
        wait_until(lambda: silent.connections > before, what="the probe to connect and hang")
        samples = scrape(daemon.port)  # the probe is in flight: this must not wait for it
        one = {"endpoint": endpoint}
        assert samples[key("stproxy_apns_probes_total", **one, result="timed_out")] == 0
        assert key("stproxy_apns_probe_result", **one, result="timed_out") not in samples
        assert any(k[0] == "stproxy_monitor_build_info" for k in samples)
        final = wait_until(lambda: probed(daemon), what="the hung probe to time out")
        assert final[key("stproxy_apns_probe_result", **one, result="timed_out")] == 1
        assert final[key("stproxy_apns_probe_duration_seconds", **one)] >= 7.5
    finally:
        stop_process(daemon.process)
    assert daemon.process.returncode == 0


def test_a_probe_section_with_a_short_interval_is_a_config_error(tmp_path: Path) -> None:
    """interval: 60 is refused at start: exit 2 with the reason."""
    config = tmp_path / "short.yml"
    config.write_text("certificates: [/nonexistent.p12]\nprobe:\n  interval: 60\n")
    result = subprocess.run(
        [*DAEMON, "-c", str(config)],
        capture_output=True,
        env=daemon_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"probe.interval: must be at least 300 seconds" in result.stderr


def test_no_probe_section_no_probe_families(world: ProbeWorld, tmp_path: Path) -> None:
    """Without probe: the daemon exports no probe family and connects to nothing."""
    standin = world.servers["apns"]
    assert isinstance(standin, ApnsStandIn)
    before = standin.connections
    config = tmp_path / "none.yml"
    config.write_text(f"certificates:\n  - path: {world.p12['good']}\n")
    daemon = start(config, "", tmp_path)
    try:
        wait_until(lambda: readiness(daemon.process, daemon.port), what="ready")
        samples = scrape(daemon.port)
        assert not [k for k in samples if k[0].startswith("stproxy_apns_probe")]
    finally:
        stop_process(daemon.process)
    assert standin.connections == before


def test_reload_keeps_the_pace_and_a_new_endpoint_starts_anew(
    world: ProbeWorld, tmp_path: Path
) -> None:
    """SIGHUP: the same endpoint is not probed again early; a bad interval is refused; another
    endpoint is probed a few seconds later under its own label."""
    config = tmp_path / "reload.yml"
    first = write_config(world, config, server="apns")
    daemon = start(config, first, tmp_path)
    try:
        loaded = wait_until(lambda: probed(daemon), what="the first probe", timeout=60)
        reloaded = key("stproxy_monitor_config_last_reload_success_timestamp_seconds")
        write_config(world, config, server="apns", topic="case.topic")
        daemon.process.send_signal(signal.SIGHUP)
        text = config.read_text().replace("interval: 300", "interval: 60")
        samples = wait_until(
            lambda: (s := scrape(daemon.port))[reloaded] > loaded[reloaded] and s,
            what="the reload (handled on the main thread's next tick)",
        )
        labels = {"endpoint": first, "result": "accepted"}
        assert samples[key("stproxy_apns_probes_total", **labels)] == 1  # no early probe
        config.write_text(text)
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: scrape(daemon.port)[key("stproxy_monitor_config_last_reload_successful")] == 0,
            what="the short interval refused",
        )
        second = write_config(world, config, server="apns12")
        daemon.process.send_signal(signal.SIGHUP)
        moved = Running(daemon.process, daemon.port, daemon.stderr, second)
        samples = wait_until(lambda: probed(moved), what="the new endpoint's probe", timeout=60)
        assert samples[key("stproxy_apns_probe_success", endpoint=second)] == 1
        assert not [k for k in samples if dict(k[1]).get("endpoint") == first]
    finally:
        stop_process(daemon.process)
    assert daemon.process.returncode == 0
