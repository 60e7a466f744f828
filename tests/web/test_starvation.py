"""Nobody can block /metrics: the real daemon scraped twice a second under hostile load.

The load comes from tests/web/loadgen.py in its own process (thousands of sockets), the daemon
runs as the real `stproxy-monitor run` with a TLS web config, and the scrapes are made here.
The measure is the issue's: at least 99 % of the scrapes answered within 1 s.
"""

from __future__ import annotations

import http.client
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port, spawn_daemon, stop_process, wait_until
from tls_helpers import PASSWORD, USER, TLSFiles, make_tls_files, web_config_text

LOADGEN = Path(__file__).with_name("loadgen.py")
SCRAPES = 40  # twice a second for 20 s
WITHIN = 1.0


def basic_auth() -> str:
    import base64  # noqa: PLC0415

    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def needs_descriptors(count: int) -> None:
    """Skip (with the reason) where this machine's hard RLIMIT_NOFILE is too low."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {count} descriptors this test needs")


class Daemon:
    """The real daemon on a free port with TLS and basic auth."""

    def __init__(self, root: Path, files: TLSFiles) -> None:
        web = root / "web.yml"
        web.write_text(web_config_text(files))
        self.port = free_port()
        self.log = root / "daemon.log"
        self.files = files
        self.context = files.client_context()  # one, as a scraper has (making one costs CPU)
        self.proc = spawn_daemon(
            *("--cert", str(files.cert), "--listen", f"127.0.0.1:{self.port}"),
            *("--web.config.file", str(web)),
            stderr=self.log,
            cwd=root,
        )
        wait_until(lambda: self.scrape(timeout=2)[0] == 200, what="the daemon to serve")

    def scrape(self, *, timeout: float) -> tuple[int, float]:
        """One scrape over a new TLS connection: its status and how long it took."""
        start = time.monotonic()
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.context, timeout=timeout
        )
        try:
            conn.request("GET", "/metrics", headers={"Authorization": basic_auth()})
            response = conn.getresponse()
            response.read()
            return response.status, time.monotonic() - start
        except (OSError, http.client.HTTPException):
            return 0, time.monotonic() - start
        finally:
            conn.close()

    def refused(self) -> str:
        """The refusal counters, as exposed."""
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.files.client_context(), timeout=20
        )
        conn.request("GET", "/metrics", headers={"Authorization": basic_auth()})
        text = conn.getresponse().read().decode()
        conn.close()
        return "\n".join(line for line in text.splitlines() if "http_refused_total{" in line)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    served = Daemon(tmp_path, make_tls_files(tmp_path))
    try:
        yield served
    finally:
        stop_process(served.proc)


def under_load(daemon: Daemon, *load: str) -> tuple[list[tuple[int, float]], dict[str, object]]:
    """Scrape twice a second while loadgen runs with `load`; the scrapes and its report."""
    gen = subprocess.Popen(
        [sys.executable, str(LOADGEN), str(daemon.port), "--seconds", "21", *load],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert gen.stdout is not None
        assert gen.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # the storm or slowloris under way
        results = []
        start = time.monotonic()
        for n in range(SCRAPES):
            time.sleep(max(0.0, start + n * 0.5 - time.monotonic()))
            results.append(daemon.scrape(timeout=5))
        report = json.loads(gen.stdout.readline())
        assert gen.wait(timeout=30) == 0
    finally:
        stop_process(gen)  # type: ignore[arg-type]
        if gen.stdout is not None:
            gen.stdout.close()
    return results, report


def answered_within(results: list[tuple[int, float]]) -> float:
    """The share of scrapes answered 200 within WITHIN seconds."""
    return sum(1 for status, took in results if status == 200 and took <= WITHIN) / len(results)


@pytest.mark.e2e
def test_idle_connections_and_a_slowloris_do_not_starve_scrapes(daemon: Daemon) -> None:
    """2,000 idle TCP connections (from 40 addresses, reopened as soon as they are closed) and
    a reconnecting slowloris: at least 99 % of 40 scrapes in 20 s are answered within 1 s."""
    needs_descriptors(2200 + 512)
    results, report = under_load(
        daemon, "--idle", "2000", "--addresses", "40", "--slowloris", "100"
    )
    share = answered_within(results)
    slowest = sorted(took for _, took in results)[-5:]
    assert share >= 0.99, (share, slowest, report, daemon.refused())
    # The load was really there: ~2,000 connections held (they are cut at the handshake
    # deadline in batches and reopened), and the slowloris was cut and came back.
    assert float(report["idle_mean"]) >= 1500, report  # type: ignore[arg-type]
    assert int(report["slow_reopened"]) >= 100, report  # type: ignore[call-overload]
    assert 'reason="timeout"' in daemon.refused()


@pytest.mark.e2e
def test_an_unknown_user_storm_does_not_starve_the_right_credentials(daemon: Daemon) -> None:
    """20 clients sending made-up users and passwords as fast as they are answered: the right
    credentials (cached) still get at least 99 % of 40 scrapes within 1 s."""
    results, report = under_load(daemon, "--storm", "20")
    statuses = report["storm_status"]
    assert isinstance(statuses, dict)
    assert set(statuses) <= {"401", "503"}, statuses
    assert sum(statuses.values()) >= 100, statuses  # the storm was real
    share = answered_within(results)
    assert share >= 0.99, (share, sorted(took for _, took in results)[-5:], statuses)
