"""Scrapes while the daemon's probe hangs, against a daemon without a probe, side by side.

    python bench/probe.py [--scrapes 400]

Starts the local stand-ins of the tests (tests/apns_standin.py, all on 127.0.0.1): a server
that accepts TCP and never answers. Daemon A has no probe; daemon B's probe goes to the silent
server with timeout 300 s, so it hangs in the TLS handshake for the whole run. Both get the same
certificate. Scrapes alternate A, B over one keep-alive connection each; prints p50/p99/max of
both and B/A. Then times a probe that gets an answer (the `probe` command against the stand-in
answering 400 BadDeviceToken, in-process) for scale.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import sys
import tempfile
import time
from pathlib import Path

from daemonbench import daemon, free_port, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from apns_standin import ProbeWorld

from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.probe.client import ProbeSpec, run_probe


def config(world: ProbeWorld, root: Path, name: str, port: int, *, probe: bool) -> Path:
    """A daemon config: one certificate, and a probe to the silent server when asked."""
    lines = [
        f"listen: 127.0.0.1:{port}",
        "certificates:",
        f"  - path: {world.p12['good']}",
        f"    password_file: {world.password_file}",
    ]
    if probe:
        lines += [
            "probe:",
            f"  endpoint: localhost:{world.port('silent')}",
            f"  ca_file: {world.server_ca_file}",
            "  timeout: 300",
        ]
    path = root / f"{name}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed_scrape(conn: http.client.HTTPConnection) -> float:
    """Seconds for one GET /metrics, body read."""
    begin = time.perf_counter()
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return time.perf_counter() - begin


def main() -> None:
    """Run both daemons, scrape them in turns, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--scrapes", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        world = ProbeWorld(root)
        stack.callback(world.close)
        port_a, port_b = free_port(), free_port()
        stack.enter_context(daemon(config(world, root, "plain", port_a, probe=False), port_a))
        stack.enter_context(daemon(config(world, root, "hung", port_b, probe=True), port_b))
        silent = world.servers["silent"]
        deadline = time.monotonic() + 30
        while silent.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the first probe starts 3 s after the daemon
        assert silent.connections == 1, "the probe did not connect"
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=10) for p in (port_a, port_b)]
        times: list[list[float]] = [[], []]
        for _ in range(args.scrapes):
            for index, conn in enumerate(conns):
                times[index].append(timed_scrape(conn))
            time.sleep(0.01)
        assert silent.connections == 1, "the probe ended during the run"
        for name, values in zip(("A no probe", "B probe hung"), times, strict=True):
            print(
                f"{name:14} p50 {percentile(values, 0.5) * 1000:6.2f} ms  "
                f"p99 {percentile(values, 0.99) * 1000:6.2f} ms  max {max(values) * 1000:6.2f} ms"
            )
        p50 = percentile(times[1], 0.5) / percentile(times[0], 0.5)
        p99 = percentile(times[1], 0.99) / percentile(times[0], 0.99)
        print(f"B/A            p50 {p50:.2f}x  p99 {p99:.2f}x  ({args.scrapes} scrapes each)")
        spec = ProbeSpec(
            host="localhost",
            port=world.port("apns"),
            certificate=str(world.p12["good"]),
            password=PasswordSource(file=world.password_file),
            ca_file=str(world.server_ca_file),
        )
        durations = [run_probe(spec, environ={}).duration_seconds for _ in range(5)]
        print(f"a probe answered by the stand-in: best of 5 {min(durations) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
