"""A real Prometheus and Alertmanager with the shipped deploy/ files, scraping the real daemon.

One stack per module (a webhook sink, Alertmanager, the daemon on the fixtures, Prometheus with
the shipped scrape job, relabelling and rules; only `for:` durations and intervals are shortened)
is asserted through the servers' own HTTP APIs. Every server gets its own directory and a free
port, is stopped at teardown even on failure, and its log is attached to failing tests' reports.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import math
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import support
import trustme
import yaml
from apns_standin import ProbeWorld
from support import (
    APNS_TEXT,
    ATTACHED_FILES,
    DAEMON,
    END_BANNER,
    HTTP,
    REPO,
    START_BANNER,
    daemon_env,
    en_us_time,
    free_port,
    http_ok,
    load_cert_generator,
    stop_process,
)

from stproxy_monitor.logs.reasons import REASONS

pytestmark = pytest.mark.e2e

FIXTURES = REPO / "fixtures"
DEPLOY = REPO / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
PROMETHEUS_TLS_YML = DEPLOY / "prometheus" / "prometheus-tls.yml"
RULES = DEPLOY / "prometheus" / "rules" / "stproxy-monitor.rules.yml"
ALERTMANAGER_YML = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "stproxy-monitor-dashboard.json"
RUNBOOK = "https://github.com/stproxy-monitor/stproxy-monitor/blob/main/README.md#runbook-"

DEADLINE = 60.0  # generous: every wait polls and returns as soon as its condition holds
FOR_OVERRIDE = "2s"  # every `for:` of the shipped rules, so that alerts pass through pending
JOB = "stproxy-monitor"
INSTANCE = "localhost"  # the shipped relabelling turns target localhost:PORT into this
LIVE = "STProxyLive"  # the server whose log the test appends failures and a restart to
# Appended to the live log once Prometheus has scraped its zeros: 6 > 5 failures in 15 minutes
# make ApnsConnectionFailuresSustained fire (and inhibit ApnsConnectionFailing).
LIVE_FAILURES = {"certificate_rejected": 3, "handshake_failed": 2, "timed_out": 1}
CAUSES = {
    "certificate_rejected": "Received fatal alert: certificate_expired",
    "handshake_failed": "javax.net.ssl.SSLHandshakeException: Received fatal alert: "
    "handshake_failure",
    "timed_out": "connect timed out",
}
# Grafana's built-in interval variables, as Grafana would fill them in for this dashboard.
GRAFANA_INTERVALS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
SCRAPE_USER = "prometheus"  # the basic_auth username of prometheus-tls.yml
EXPIRY_DAYS = "stproxy_apns_certificate_expiry_days"
NOT_AFTER = "stproxy_apns_certificate_not_after_timestamp_seconds"
# Every wait of this module: its own deadline, polling the servers every 0.2 s.
wait_until = functools.partial(support.wait_until, timeout=DEADLINE, interval=0.2)


# -- small helpers ------------------------------------------------------------------------------


def binary(*names: str) -> str:
    """The path of the first installed of `names`, or skip (Debian packages them)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"{names[0]} is not installed (Debian: apt-get install {names[-1]})")


def get_json(url: str, params: Mapping[str, str] | None = None) -> Any:
    """GET a JSON document (query parameters encoded) and decode it."""
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with HTTP.open(url, timeout=10) as response:
        return json.load(response)


def load_yaml(path: Path) -> Any:
    """One YAML document."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> Path:
    """Write `data` as YAML, creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def header(cell: str, node: str, server: str) -> str:
    """The environment block WebSphere writes at the top of SystemOut.log."""
    return (
        f"{START_BANNER}\n"
        f"WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
        f"{cell}\\{node}\\{server} and process id 4242\n"
        f"{END_BANNER}\n"
    )


def started(server: str, at: datetime) -> str:
    """The WSVR0001I record of a server start."""
    return (
        f"[{en_us_time(at)}] 00000001 WsServerImpl  A   "
        f"WSVR0001I: Server {server} open for e-business\n"
    )


def failure(reason: str, at: datetime) -> str:
    """A CLFRX0079W record whose first line names its cause."""
    return (
        f"[{en_us_time(at)}] 0000004e APNSService   W   CLFRX0079W: {APNS_TEXT} {CAUSES[reason]}\n"
    )


# -- servers ------------------------------------------------------------------------------------


@dataclass
class Server:
    """A running subprocess serving HTTP on 127.0.0.1:port; its output goes to `log`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def url(self, path: str = "") -> str:
        """http://127.0.0.1:PORT/path."""
        return f"http://127.0.0.1:{self.port}{path}"


class Servers:
    """Starts servers in their own directories on free ports; stops every one at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Server] = []
        self.attach_to: list[list[Path]] = []  # failure reports that want the servers' output

    def start(
        self,
        name: str,
        command: Callable[[Path, int], list[str]],
        *,
        ready: Callable[[Server], bool],
        env: Mapping[str, str] | None = None,
        attempts: int = 5,
    ) -> Server:
        """Run `command(workdir, port)` until `ready`; another port if this one was taken."""
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(attempts):
            port = free_port()
            log = workdir / f"{name}-{attempt}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    command(workdir, port),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=workdir,
                    env=None if env is None else dict(env),
                )
            server = Server(name, process, port, log)
            self.started.append(server)
            for attached in self.attach_to:
                attached.append(log)
            wait_until(
                lambda s=server: s.process.poll() is not None or ready(s),
                what=f"{name} to become ready ({log})",
            )
            if process.poll() is None:
                return server
            text = log.read_text(errors="replace").lower()
            if "address already in use" not in text and "cannot listen" not in text:
                break
        raise AssertionError(f"{name} exited with {process.returncode}:\n{log.read_text()}")

    @contextlib.contextmanager
    def attached(self, request: pytest.FixtureRequest) -> Iterator[None]:
        """Within this block, the test's failure report shows every server's output."""
        attached = request.node.stash.setdefault(ATTACHED_FILES, [])
        attached.extend(server.log for server in self.started)
        self.attach_to.append(attached)
        try:
            yield
        finally:
            self.attach_to.remove(attached)

    def stop_all(self) -> None:
        """SIGTERM every server, newest first; SIGKILL what does not exit in 20 s."""
        for server in reversed(self.started):
            stop_process(server.process, grace=20)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A Servers registry for the module, stopped at its end whatever happened."""
    registry = Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield registry
    finally:
        registry.stop_all()


def start_daemon(servers: Servers, name: str, config: dict[str, Any], *extra: str) -> Server:
    """`stproxy-monitor run -c CONFIG` with `listen: 127.0.0.1:PORT`, waited for until ready."""

    def command(workdir: Path, port: int) -> list[str]:
        path = write_yaml(workdir / "stproxy-monitor.yml", config | {"listen": f"127.0.0.1:{port}"})
        return [*DAEMON, "-c", str(path), *extra]

    return servers.start(
        name, command, ready=lambda s: http_ok(s.url("/-/ready")), env=daemon_env()
    )


def start_prometheus(servers: Servers, name: str, config: dict[str, Any]) -> Server:
    """A real Prometheus on 127.0.0.1:PORT with `config` and its TSDB in its own directory."""
    prometheus = binary("prometheus")

    def command(workdir: Path, port: int) -> list[str]:
        path = write_yaml(workdir / "prometheus.yml", config)
        return [
            prometheus,
            f"--config.file={path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Resend firing alerts every 2 s instead of every minute, so that an alert sent
            # before the notifier knew Alertmanager is not held back for a minute.
            "--rules.alert.resend-delay=2s",
        ]

    return servers.start(name, command, ready=lambda s: http_ok(s.url("/-/ready")))


def scrape_job(template: dict[str, Any], target: str) -> dict[str, Any]:
    """The template's stproxy-monitor job scraping `target` every second, relabelling untouched."""
    (job,) = (j for j in template["scrape_configs"] if j["job_name"] == JOB)
    return job | {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [target]}],
    }


# -- the webhook sink ---------------------------------------------------------------------------


@dataclass
class Notification:
    """One webhook POST received: the receiver (the URL path) and Alertmanager's JSON payload."""

    receiver: str
    payload: dict[str, Any]
    received_at: float  # epoch seconds


@dataclass
class WebhookSink:
    """An HTTP server on 127.0.0.1 that records every webhook POST."""

    server: ThreadingHTTPServer
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server.server_address[1])

    def notifications(self) -> list[Notification]:
        """A copy of what was received so far."""
        with self.lock:
            return list(self.received)

    def alerts(self, receiver: str) -> list[dict[str, Any]]:
        """Every alert delivered to `receiver` so far."""
        return [
            a for n in self.notifications() if n.receiver == receiver for a in n.payload["alerts"]
        ]


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    """A webhook sink serving on a thread for the module."""
    holder: list[WebhookSink] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with holder[0].lock:
                holder[0].received.append(
                    Notification(self.path.strip("/"), json.loads(body), time.time())
                )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads what was received instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(WebhookSink(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """The running servers, the certificate manifest and what the test wrote."""

    prometheus: Server
    alertmanager: Server
    daemon: Server
    sink: WebhookSink
    manifest: dict[str, Any]
    workdir: Path
    node2_log: Path
    live_log: Path
    started_at: float  # epoch seconds when Prometheus was started
    timings: dict[str, float]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """/api/v1/query: the instant vector's samples (fails on an error status)."""
        answer = get_json(self.prometheus.url("/api/v1/query"), {"query": expr})
        assert answer["status"] == "success", answer
        assert answer["data"]["resultType"] == "vector", answer
        return list(answer["data"]["result"])

    def value(self, expr: str) -> float:
        """The value of a query that must select exactly one series."""
        result = self.query(expr)
        assert len(result) == 1, f"{expr}: {result}"
        return float(result[0]["value"][1])

    def alerts(self) -> list[dict[str, Any]]:
        """/api/v1/alerts: every pending or firing alert."""
        return list(get_json(self.prometheus.url("/api/v1/alerts"))["data"]["alerts"])

    def am_alerts(self, **params: str) -> list[dict[str, Any]]:
        """Alertmanager's /api/v2/alerts."""
        return list(get_json(self.alertmanager.url("/api/v2/alerts"), params))

    def cert(self, case: str) -> dict[str, Any]:
        """The manifest entry of one generated certificate file."""
        return dict(self.manifest["files"][case])


def rules_with_short_for(workdir: Path) -> Path:
    """The shipped rules with every `for:` set to FOR_OVERRIDE; expressions are untouched."""
    document = load_yaml(RULES)
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = FOR_OVERRIDE
    return write_yaml(workdir / "rules" / RULES.name, document)


def alertmanager_to_sink(workdir: Path, sink_port: int) -> Path:
    """The shipped Alertmanager config with each receiver a webhook to the sink (path = name).

    Routes, matchers and inhibit rules stay as shipped; group_wait and group_interval are cut to
    1 s so that notifications leave at once.
    """
    document = load_yaml(ALERTMANAGER_YML)
    document["route"] |= {"group_wait": "1s", "group_interval": "1s"}
    document["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {"url": f"http://127.0.0.1:{sink_port}/{receiver['name']}", "send_resolved": True}
            ],
        }
        for receiver in document["receivers"]
    ]
    return write_yaml(workdir / "alertmanager.yml", document)


def start_alertmanager(servers: Servers, config: Path) -> Server:
    """A real Alertmanager on 127.0.0.1:PORT, clustering off, its storage in its directory."""
    alertmanager = binary("alertmanager", "prometheus-alertmanager")

    def command(workdir: Path, port: int) -> list[str]:
        return [
            alertmanager,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]

    return servers.start("alertmanager", command, ready=lambda s: http_ok(s.url("/-/ready")))


def demo_config(workdir: Path, extra_logs: list[Path]) -> dict[str, Any]:
    """fixtures/demo.yml with its logs read from fixtures/, certificates from `workdir`."""
    config = load_yaml(FIXTURES / "demo.yml")
    for entry in config["logs"]:
        entry["path"] = str(FIXTURES / entry["path"])
    for section in ("certificates", "profiles", "truststores"):
        for entry in config[section]:
            for key in ("path", "password_file"):
                if key in entry:
                    entry[key] = str(workdir / entry[key])
    config["logs"] += [{"path": str(path)} for path in extra_logs]
    return dict(config)


def write_node2_log(manifest: dict[str, Any], now: datetime) -> Path:
    """SystemOut.log of STProxyServer on stproxyNode2, last started a day before the renewal.

    None of the fixture logs belongs to the fixture cell, so without it the dashboard's
    "Restart pending" panel and ApnsCertificateRestartPending would have no data.
    """
    profile = Path(manifest["profiles"]["STPAppProfile2"])
    path = profile / "logs" / "STProxyServer" / "SystemOut.log"
    path.parent.mkdir(parents=True)
    text = header("stproxyCell", "stproxyNode2", "STProxyServer")
    path.write_text(text + started("STProxyServer", now - timedelta(days=1)), encoding="utf-8")
    return path


def write_live_log(workdir: Path, now: datetime) -> Path:
    """SystemOut.log of STProxyLive, started an hour ago; the stack appends to it later."""
    path = workdir / "live" / LIVE / "SystemOut.log"
    path.parent.mkdir(parents=True)
    text = header("liveCell", "liveNode", LIVE) + started(LIVE, now - timedelta(hours=1))
    path.write_text(text, encoding="utf-8")
    return path


def append_failures_and_restart(path: Path) -> None:
    """LIVE_FAILURES as CLFRX0079W records, then a new start of the server, stamped now."""
    now = datetime.now(UTC)
    records = [failure(r, now) for r, count in LIVE_FAILURES.items() for _ in range(count)]
    with path.open("a", encoding="utf-8") as log:
        log.write("".join(records) + started(LIVE, now))


@pytest.fixture(scope="module")
def apns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeWorld]:
    """The local APNs stand-in the daemon's probe asks (it answers 400 BadDeviceToken)."""
    world = ProbeWorld(tmp_path_factory.mktemp("apns"))
    try:
        yield world
    finally:
        world.close()


def probe_section(world: ProbeWorld) -> dict[str, Any]:
    """A probe: section against the stand-in, so that the probe's panels and alerts have data."""
    return {
        "interval": 300,
        "endpoint": f"localhost:{world.port('apns')}",
        "certificate": str(world.p12["good"]),
        "password_file": str(world.password_file),
        "ca_file": str(world.server_ca_file),
        "timeout": 5,
    }


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    servers: Servers,
    sink: WebhookSink,
    apns: ProbeWorld,
) -> Iterator[Stack]:
    """Sink, Alertmanager, the daemon on the fixtures and Prometheus, scraping and alerting."""
    workdir = tmp_path_factory.mktemp("stack")
    now = datetime.now(UTC)
    manifest = load_cert_generator().generate(workdir / "generated", now)
    node2_log = write_node2_log(manifest, now)
    live_log = write_live_log(workdir, now)

    alertmanager = start_alertmanager(servers, alertmanager_to_sink(workdir, sink.port))
    daemon_config = demo_config(workdir, [node2_log, live_log]) | {"probe": probe_section(apns)}
    daemon = start_daemon(servers, "daemon", daemon_config)

    template = load_yaml(PROMETHEUS_YML)
    config = template | {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules_with_short_for(workdir))],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]
        },
        "scrape_configs": [scrape_job(template, f"localhost:{daemon.port}")],
    }
    began, started_at = time.monotonic(), time.time()
    prometheus = start_prometheus(servers, "prometheus", config)
    result = Stack(
        prometheus,
        alertmanager,
        daemon,
        sink,
        manifest,
        workdir,
        node2_log,
        live_log,
        started_at,
        {},
    )
    timings = result.timings
    timings["prometheus ready"] = time.monotonic() - began
    wait_until(lambda: target_health(prometheus) == "up", what="the target to be up")
    timings["target up"] = time.monotonic() - began
    # The live server's zeros must be in the TSDB before its failures, so increase() sees them.
    wait_until(
        lambda: (
            len(result.query(f'stproxy_apns_connection_failures_total{{server="{LIVE}"}}'))
            == len(REASONS)
        ),
        what=f"the zero failure counters of {LIVE}",
    )
    append_failures_and_restart(live_log)
    appended = time.monotonic()
    wait_until(
        lambda: result.query(
            f'sum(stproxy_apns_connection_failures_total{{server="{LIVE}"}}) == 6'
        ),
        what="Prometheus to see the appended failures",
    )
    timings["appended failures seen (after the append)"] = time.monotonic() - appended
    yield result
    print_figures(result)


def print_figures(stack: Stack) -> None:
    """How long each step took after Prometheus was started (shown with pytest -s)."""
    figures = dict(stack.timings)
    path = stack.cert("expiring")["path"]
    for alert in stack.alerts():
        if alert["labels"].get("path") == path:
            active = datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00"))
            figures["ExpiringSoon pending (activeAt)"] = active.timestamp() - stack.started_at
    for alert in stack.am_alerts(filter='alertname="ApnsCertificateExpiringSoon"'):
        if alert["labels"].get("path") == path:
            starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
            figures["ExpiringSoon firing (startsAt at Alertmanager)"] = (
                starts.timestamp() - stack.started_at
            )
    delivered = [
        n.received_at
        for n in stack.sink.notifications()
        if any(a["labels"].get("path") == path for a in n.payload["alerts"])
    ]
    if delivered:
        figures["ExpiringSoon at the webhook sink"] = min(delivered) - stack.started_at
    print("\nseconds after Prometheus was started (unless noted):")
    for what, seconds in figures.items():
        print(f"  {seconds:6.2f}  {what}")


@pytest.fixture(autouse=True)
def _attach_server_logs(request: pytest.FixtureRequest, servers: Servers) -> Iterator[None]:
    """Attach every server's output to the report of a failing test."""
    with servers.attached(request):
        yield


def target_health(prometheus: Server, job: str = JOB) -> str | None:
    """The health of the job's only active target, or None while it has none."""
    targets = get_json(prometheus.url("/api/v1/targets"), {"state": "active"})["data"]
    found = [t for t in targets["activeTargets"] if t["labels"].get("job") == job]
    return str(found[0]["health"]) if len(found) == 1 else None


def series(metric: str, **labels: str) -> str:
    """A selector of `metric` with exactly these label values."""
    return metric + "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()) + "}"


def labels_of(sample: dict[str, Any]) -> dict[str, str]:
    """A query result's labels."""
    return dict(sample["metric"])


# -- scrape and series --------------------------------------------------------------------------


def test_target_is_up_under_the_shipped_job_and_relabelling(stack: Stack) -> None:
    """Prometheus scrapes the daemon as job stproxy-monitor with instance relabelled to the host."""
    targets = get_json(stack.prometheus.url("/api/v1/targets"))["data"]["activeTargets"]
    (target,) = targets
    assert target["health"] == "up", target
    assert target["lastError"] == ""
    assert target["labels"] == {"job": JOB, "instance": INSTANCE}
    assert target["scrapeUrl"] == f"http://localhost:{stack.daemon.port}/metrics"
    assert stack.value(f'up{{job="{JOB}", instance="{INSTANCE}"}}') == 1
    assert stack.value("scrape_samples_scraped") > 300


def test_certificate_series_match_the_generated_certificates(stack: Stack) -> None:
    """Days left and not-after of every readable generated certificate are what was generated."""
    expiring = stack.cert("expiring")
    serial = expiring["certificates"][0]["serial"]
    (sample,) = stack.query(series(EXPIRY_DAYS, path=expiring["path"], serial=serial))
    assert 19.9 < float(sample["value"][1]) < 20.1
    assert labels_of(sample) == {  # node="" is no label at all in Prometheus
        "__name__": EXPIRY_DAYS,
        "job": JOB,
        "instance": INSTANCE,
        "source": "file",
        "path": expiring["path"],
        "serial": serial,
    }
    expired = stack.cert("expired")
    serial = expired["certificates"][0]["serial"]
    assert -5.1 < stack.value(series(EXPIRY_DAYS, path=expired["path"], serial=serial)) < -4.9
    checked = 0
    for case, entry in stack.manifest["files"].items():
        if entry["status"] == 3 or not entry["path"].endswith((".p12", ".pkcs12")):
            continue  # unreadable on purpose, or not matched by demo.yml's *.p12
        for cert in entry["certificates"]:
            labels = {"path": entry["path"], "serial": cert["serial"]}
            days = stack.value(series(EXPIRY_DAYS, **labels))
            assert abs(days - cert["days_left"]) < 0.1, (case, cert["serial"], days)
            not_after = stack.value(series(NOT_AFTER, **labels))
            assert not_after == cert["not_after"], (case, cert["serial"])
            checked += 1
    assert checked == 36  # 22 of the validity and cell cases, 14 of the problem cases


def test_read_ok_and_read_errors_of_the_corrupt_file(stack: Stack) -> None:
    """The corrupt file reads 0 with one corrupt read error; the other files read 1."""
    corrupt = stack.cert("corrupt")["path"]
    assert stack.value(series("stproxy_apns_certificate_read_ok", path=corrupt)) == 0
    errors = series("stproxy_apns_certificate_read_errors_total", path=corrupt, reason="corrupt")
    assert stack.value(errors) == 1
    ok = {
        labels_of(s)["path"]: float(s["value"][1])
        for s in stack.query("stproxy_apns_certificate_read_ok")
    }
    assert {path for path, value in ok.items() if value == 0} == {corrupt}
    assert len(ok) == 20


def ground_truth_failures() -> dict[tuple[str, str], float]:
    """Failures per (server, reason) in the fixture logs the daemon follows, zeros included.

    The daemon reads the live SystemOut.log and CurrentStatus.log files from their start; rotated
    files (SystemOut_yy.MM.dd_HH.mm.ss.log) are history it only reads after seeing a rotation.
    """
    truth = json.loads((FIXTURES / "logs" / "ground_truth.json").read_text(encoding="utf-8"))
    totals: dict[tuple[str, str], float] = {}
    for name, entry in truth.items():
        if (
            not name.endswith(("/SystemOut.log", "/CurrentStatus.log"))
            or not entry["apns_failures"]
        ):
            continue
        for reason, count in entry["apns_failures"].items():
            key = (entry["server"], reason)
            totals[key] = totals.get(key, 0) + count
    return totals


def test_connection_failures_match_the_ground_truth(stack: Stack) -> None:
    """Failures per server and reason are the fixture ground truth summed per server label."""
    expected = ground_truth_failures()
    assert {server for server, _ in expected} == {"STProxyServer", "STProxyServer2"}
    for reason in REASONS:
        expected[(LIVE, reason)] = LIVE_FAILURES.get(reason, 0)
    found = {
        (labels_of(s)["server"], labels_of(s)["reason"]): float(s["value"][1])
        for s in stack.query(
            f'stproxy_apns_connection_failures_total{{job="{JOB}", instance="{INSTANCE}"}}'
        )
    }
    assert found == expected
    assert found[("STProxyServer", "certificate_rejected")] == 163


def test_cell_rollout_series_match_the_fixture_cell(stack: Stack) -> None:
    """Distinct, missing, sync-pending and restart-pending series report the fixture cell."""
    cell = stack.manifest["cells"]["stproxyCell"]
    assert (
        stack.value('stproxy_apns_certificate_distinct{cell="stproxyCell"}')
        == cell["distinct"]
        == 2
    )
    for metric in ("missing", "sync_pending"):
        found = {
            labels_of(s)["node"]: float(s["value"][1])
            for s in stack.query(f'stproxy_apns_certificate_{metric}{{cell="stproxyCell"}}')
        }
        assert found == cell[metric], metric
    pending = stack.query("stproxy_apns_certificate_restart_pending")
    assert [(labels_of(s)["server"], s["value"][1]) for s in pending] == [("STProxyServer", "1")]


def test_log_records_and_starts_reach_prometheus(stack: Stack) -> None:
    """Record counts, starts and the live server's restart are visible through Prometheus."""
    truth = json.loads((FIXTURES / "logs" / "ground_truth.json").read_text(encoding="utf-8"))
    expected: dict[tuple[str, str], float] = {("STProxyServer", "A"): 1}  # the node2 log's start
    for name, entry in truth.items():
        if name.endswith(("/SystemOut.log", "/CurrentStatus.log")):
            for severity, count in entry["records_by_severity"].items():
                key = (entry["server"], severity)
                expected[key] = expected.get(key, 0) + count
    found = {
        (labels_of(s)["server"], labels_of(s)["severity"]): float(s["value"][1])
        for s in stack.query(f'stproxy_log_messages_total{{server!="{LIVE}"}}')
    }
    assert found == expected
    assert stack.value(f'stproxy_log_messages_total{{server="{LIVE}", severity="W"}}') == 6
    assert (
        stack.value(f'changes(stproxy_server_start_timestamp_seconds{{server="{LIVE}"}}[5m])') == 1
    )
    assert stack.value(f'stproxy_server_running{{server="{LIVE}"}}') == 1


# -- rules and alerts ---------------------------------------------------------------------------


def test_prometheus_loaded_every_shipped_rule(stack: Stack) -> None:
    """/api/v1/rules lists every group and alert of the shipped file, healthy, with short for."""
    shipped = load_yaml(RULES)["groups"]
    groups = get_json(stack.prometheus.url("/api/v1/rules"))["data"]["groups"]
    loaded_groups = {g["name"]: g for g in groups}  # Prometheus lists groups sorted by name
    assert sorted(loaded_groups) == sorted(g["name"] for g in shipped)
    for group in shipped:
        loaded = loaded_groups[group["name"]]
        assert [r["name"] for r in loaded["rules"]] == [r["alert"] for r in group["rules"]]
        for rule, source in zip(loaded["rules"], group["rules"], strict=True):
            assert rule["health"] == "ok", rule
            assert rule["duration"] == (2 if "for" in source else 0), rule["name"]
            assert rule["labels"]["severity"] == source["labels"]["severity"]


def wait_for_alerts(stack: Stack, state: str) -> list[dict[str, Any]]:
    """Prometheus' alerts once ApnsConnectionFailuresSustained (the last to come) is `state`."""

    def ready() -> list[dict[str, Any]]:
        alerts = stack.alerts()
        names = {a["labels"]["alertname"] for a in alerts if a["state"] == state}
        return alerts if "ApnsConnectionFailuresSustained" in names else []

    return wait_until(ready, what=f"ApnsConnectionFailuresSustained to be {state}")


def alert_key(alert: dict[str, Any]) -> tuple[str, str]:
    """An alert's name and the label value that tells it apart within its rule."""
    labels = alert["labels"]
    for name in ("path", "node", "cell", "server"):
        if name in labels and not (name == "node" and "path" in labels):
            return labels["alertname"], labels[name]
    return labels["alertname"], ""


def expected_alerts(stack: Stack) -> set[tuple[str, str]]:
    """Every alert the fixtures must raise, by name and telling label."""
    path = {case: entry["path"] for case, entry in stack.manifest["files"].items()}
    logs = FIXTURES / "logs"
    hpel = str(logs / "hpel" / "STProxyServer" / "SystemOut.log")
    with_cert_blocks = [
        str(logs / "currentstatus" / "STProxyServer" / "CurrentStatus.log"),
        str(logs / "en_US" / "STProxyServer" / "SystemOut.log"),
        str(logs / "windows" / "STProxyServer" / "SystemOut.log"),
    ]
    return {
        ("ApnsCertificateExpiringSoon", path["expiring"]),
        ("ApnsCertificateExpiringSoon", path["dmgr_node2"]),
        ("ApnsCertificateExpiringSoon", path["short_intermediate"]),  # its intermediate: 25 days
        ("ApnsCertificateExpiringCritical", path["critical"]),
        ("ApnsCertificateExpired", path["expired"]),
        ("ApnsCertificateExpired", path["node2_copy"]),
        *(("ApnsCertificateExpired", p) for p in with_cert_blocks),
        ("ApnsCertificateUnreadable", path["corrupt"]),
        ("ApnsCertificateNodeForgotten", "stproxyCell"),
        ("ApnsCertificateMissingOnNode", "stproxyNode3"),
        ("ApnsCertificateSyncPending", "stproxyNode2"),
        ("ApnsCertificateRestartPending", "STProxyServer"),
        ("ApnsConnectionFailing", LIVE),
        ("ApnsConnectionFailuresSustained", LIVE),
        # No StproxyLogStale: its clock is when the daemon last read a record (just now), not
        # the time written in the record (years ago in the fixtures).
        ("StproxyLogMissing", hpel),
        ("StproxyHpelEnabled", hpel),
        # What expiry dates do not say: one file per problem, node2's trust stores and the
        # one without roots, the servers whose logs name the binary API (all but java9's).
        *(
            ("ApnsCertificateProblem", path[case])
            for case in ("sandbox_only", "wrong_topic", "not_apple", "no_key", "key_mismatch")
        ),
        ("ApnsCertificateLegacyUnreadable", path["aes"]),
        *(
            ("ApnsTruststoreWithoutRoot", store["path"])
            for store in stack.manifest["truststores"].values()
            if not store["trusts_apns"]
        ),
        ("ApnsLegacyEndpoint", "STProxyServer"),
        ("ApnsLegacyEndpoint", "STProxyServer2"),
    }


def test_shipped_rules_raise_exactly_the_expected_alerts(stack: Stack) -> None:
    """Expiring, expired and forgotten-node alerts (and the rest) fire for the right series only."""
    alerts = wait_for_alerts(stack, "firing")
    active = {alert_key(a) for a in alerts if a["state"] in ("pending", "firing")}
    expected = expected_alerts(stack)
    assert active == expected
    by_key = {alert_key(a): a for a in alerts}
    expiring = stack.cert("expiring")
    soon = by_key[("ApnsCertificateExpiringSoon", expiring["path"])]
    assert soon["state"] in ("pending", "firing")
    assert soon["labels"]["serial"] == expiring["certificates"][0]["serial"]
    assert 19.9 < float(soon["value"]) < 20.1
    assert by_key[("ApnsCertificateExpired", stack.cert("expired")["path"])]["state"] == "firing"
    forgotten = by_key[("ApnsCertificateNodeForgotten", "stproxyCell")]
    assert forgotten["state"] in ("pending", "firing")
    assert float(forgotten["value"]) == 2
    assert (
        forgotten["annotations"]["summary"]
        == "Cell stproxyCell holds 2 different APNS certificates"
    )


def test_alert_annotations_are_rendered_from_live_data(stack: Stack) -> None:
    """Templates that query Prometheus (not-after date, failures by reason) render real values."""
    alerts = {alert_key(a): a for a in wait_for_alerts(stack, "firing")}
    expiring = stack.cert("expiring")
    soon = alerts[("ApnsCertificateExpiringSoon", expiring["path"])]["annotations"]
    not_after = datetime.fromtimestamp(expiring["certificates"][0]["not_after"], UTC)
    assert (
        soon["summary"] == f"APNS certificate {expiring['path']} on {INSTANCE} expires in 20.0 days"
    )
    assert f"on {not_after:%Y-%m-%d %H:%M:%S} +0000 UTC." in soon["description"]
    assert soon["runbook_url"] == RUNBOOK + "apnscertificateexpiringsoon"
    sustained = alerts[("ApnsConnectionFailuresSustained", LIVE)]["annotations"]["description"]
    by_reason = re.search(r"\(by reason:([^)]*)\)", sustained)
    assert by_reason, sustained
    counts = dict(item.split("=") for item in by_reason.group(1).split())
    assert set(counts) == set(LIVE_FAILURES)
    assert all(float(counts[r]) >= n for r, n in LIVE_FAILURES.items()), counts


# -- Alertmanager and the webhook sink ----------------------------------------------------------


def test_expiry_alert_reaches_alertmanager_with_labels_and_annotations(stack: Stack) -> None:
    """ApnsCertificateExpiringSoon arrives at Alertmanager, active, routed to the admins."""
    expiring = stack.cert("expiring")

    def arrived() -> list[dict[str, Any]]:
        return [
            a
            for a in stack.am_alerts(filter='alertname="ApnsCertificateExpiringSoon"')
            if a["labels"].get("path") in (expiring["path"], stack.cert("dmgr_node2")["path"])
        ]

    wait_until(lambda: len(arrived()) == 2, what="the expiry alerts at Alertmanager")
    alerts = {a["labels"]["path"]: a for a in arrived()}
    alert = alerts[expiring["path"]]
    assert alert["labels"] == {
        "alertname": "ApnsCertificateExpiringSoon",
        "severity": "warning",
        "job": JOB,
        "instance": INSTANCE,
        "source": "file",
        "path": expiring["path"],
        "serial": expiring["certificates"][0]["serial"],
    }  # node="" is dropped by Prometheus: the file is not in a WebSphere node directory
    assert alert["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert [r["name"] for r in alert["receivers"]] == ["sametime-admins"]
    annotations = alert["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    assert annotations["summary"].endswith(f"on {INSTANCE} expires in 20.0 days")
    assert "full resynchronize of each node" in annotations["description"]
    assert annotations["runbook_url"] == RUNBOOK + "apnscertificateexpiringsoon"
    node2 = alerts[stack.cert("dmgr_node2")["path"]]
    assert node2["labels"]["node"] == "stproxyNode2"
    assert (
        "The APNS push certificate of node stproxyNode2 (serial 5e1f0002)"
        in node2["annotations"]["description"]
    )


def test_webhooks_follow_the_severity_routing(stack: Stack) -> None:
    """Warnings reach the sametime-admins webhook and critical alerts the sametime-oncall one."""
    expiring = stack.cert("expiring")["path"]
    expired = stack.cert("expired")["path"]

    def delivered() -> bool:
        admins = {
            (a["labels"]["alertname"], a["labels"].get("path"))
            for a in stack.sink.alerts("sametime-admins")
        }
        oncall = {
            (a["labels"]["alertname"], a["labels"].get("path"))
            for a in stack.sink.alerts("sametime-oncall")
        }
        soon = ("ApnsCertificateExpiringSoon", expiring)
        return soon in admins and ("ApnsCertificateExpired", expired) in oncall

    wait_until(delivered, what="the expiry alerts at the webhook sink")
    notifications = stack.sink.notifications()
    assert {n.receiver for n in notifications} <= {"sametime-admins", "sametime-oncall"}
    for n in notifications:
        assert n.payload["receiver"] == n.receiver
        assert n.payload["version"] == "4"
        severities = {a["labels"]["severity"] for a in n.payload["alerts"]}
        assert severities == {"warning" if n.receiver == "sametime-admins" else "critical"}, n
        assert set(n.payload["groupLabels"]) <= {"alertname", "cell", "instance"}
    soon = next(
        a for a in stack.sink.alerts("sametime-admins") if a["labels"].get("path") == expiring
    )
    assert soon["status"] == "firing"
    assert soon["labels"]["alertname"] == "ApnsCertificateExpiringSoon"
    assert soon["annotations"]["runbook_url"] == RUNBOOK + "apnscertificateexpiringsoon"
    assert soon["generatorURL"].startswith("http://")


def test_sustained_failures_inhibit_the_single_failure_warning(stack: Stack) -> None:
    """Alertmanager mutes ApnsConnectionFailing while ApnsConnectionFailuresSustained fires."""

    def suppressed() -> list[dict[str, Any]]:
        found = stack.am_alerts(filter='alertname="ApnsConnectionFailing"')
        return [a for a in found if a["status"]["state"] == "suppressed"]

    (failing,) = wait_until(suppressed, what="ApnsConnectionFailing to be inhibited")
    (sustained,) = stack.am_alerts(filter='alertname="ApnsConnectionFailuresSustained"')
    assert failing["labels"]["server"] == sustained["labels"]["server"] == LIVE
    assert failing["status"]["inhibitedBy"] == [sustained["fingerprint"]]
    assert sustained["status"]["state"] == "active"
    assert [r["name"] for r in sustained["receivers"]] == ["sametime-oncall"]


# -- the Grafana dashboard ----------------------------------------------------------------------


def dashboard_targets() -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) for every query of every panel (rows included) and annotation."""
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for top in dash["panels"] for p in (top, *top.get("panels", []))]
    found = [(p["title"], t) for p in panels if p["type"] != "row" for t in p["targets"]]
    annotations = [a for a in dash["annotations"]["list"] if "expr" in a]
    found += [(f"annotation {a['name']}", {"refId": "A", "expr": a["expr"]}) for a in annotations]
    return found


def grafana_substitute(expr: str, values: Mapping[str, list[str]]) -> str:
    """Fill in the dashboard's variables as Grafana does for the selected values."""
    for name, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(name, value)
    for name, selected in values.items():
        regex = selected[0] if len(selected) == 1 else "(" + "|".join(selected) + ")"
        expr = expr.replace(f"${{{name}}}", regex).replace(f"${name}", regex)
    assert "$" not in expr, expr
    return expr


def variable_values(stack: Stack) -> dict[str, list[str]]:
    """The values Grafana's template variables offer (their label_values queries)."""
    values = {}
    for name, metric, extra in (
        ("instance", "stproxy_monitor_build_info", ""),
        ("server", "stproxy_log_messages_total", f'instance=~"{INSTANCE}"'),
    ):
        answer = get_json(
            stack.prometheus.url(f"/api/v1/label/{name}/values"),
            {"match[]": f"{metric}{{{extra}}}"},
        )
        values[name] = sorted(answer["data"])
    return values


def test_dashboard_variables_offer_the_instance_and_servers(stack: Stack) -> None:
    """The $instance and $server variables list the relabelled instance and every server."""
    assert variable_values(stack) == {
        "instance": [INSTANCE],
        "server": sorted(["STProxyServer", "STProxyServer2", LIVE]),
    }


def test_failure_rate_panel_shows_the_appended_failures(stack: Stack) -> None:
    """The failures-by-reason panel shows a positive rate exactly for the reasons just appended."""
    ((expr,),) = (
        [t["expr"] for t in [target]]
        for title, target in dashboard_targets()
        if title == "APNS connection failures by reason"
    )
    result = stack.query(grafana_substitute(expr, {"instance": [INSTANCE], "server": [LIVE]}))
    rates = {labels_of(s)["reason"]: float(s["value"][1]) for s in result}
    assert set(rates) == set(REASONS)
    assert {reason for reason, rate in rates.items() if rate > 0} == set(LIVE_FAILURES)


@pytest.mark.parametrize(
    ("title", "target"),
    dashboard_targets(),
    ids=[f"{title}/{target['refId']}" for title, target in dashboard_targets()],
)
def test_every_dashboard_query_returns_data(
    stack: Stack, title: str, target: dict[str, Any]
) -> None:
    """The panel's PromQL, variables filled in, returns samples with numeric values."""
    expr = grafana_substitute(target["expr"], variable_values(stack))
    result = wait_until(lambda: stack.query(expr), what=f"data for {title}: {expr}")
    for sample in result:
        assert math.isfinite(float(sample["value"][1])), (title, sample)
        assert sample["metric"].get("instance", INSTANCE) == INSTANCE
    if target.get("range"):
        end = time.time()
        answer = get_json(
            stack.prometheus.url("/api/v1/query_range"),
            {"query": expr, "start": str(end - 30), "end": str(end), "step": "1"},
        )
        assert answer["status"] == "success" and answer["data"]["result"], (title, answer)


# -- TLS and basic auth -------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for both sides: the daemon's server certificate, Prometheus' client one."""

    server_ca: Path
    server_cert: Path
    server_key: Path
    client_ca: Path
    client_cert: Path
    client_key: Path


def make_tls_files(root: Path) -> TLSFiles:
    """A CA for the daemon's certificate (for localhost) and another for Prometheus' client one."""
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server, client = server_ca.issue_cert("localhost"), client_ca.issue_cert("prometheus")
    files = TLSFiles(
        *(root / f"{name}.pem" for name in ("server-ca", "server", "server-key")),
        *(root / f"{name}.pem" for name in ("client-ca", "client", "client-key")),
    )
    server_ca.cert_pem.write_to_path(str(files.server_ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client_ca.cert_pem.write_to_path(str(files.client_ca))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files


def https_ok(url: str, files: TLSFiles, password: str) -> bool:
    """True when GET `url` over TLS, with the client certificate and basic auth, answers 200."""
    context = ssl.create_default_context(cafile=str(files.server_ca))
    context.load_cert_chain(str(files.client_cert), str(files.client_key))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    token = base64.b64encode(f"{SCRAPE_USER}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with opener.open(request, timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def own_servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Servers]:
    """Servers for one test, stopped at its end; their output goes into its failure report."""
    registry = Servers(tmp_path / "servers")
    try:
        with registry.attached(request):
            yield registry
    finally:
        registry.stop_all()


def test_prometheus_scrapes_the_daemon_over_tls_with_basic_auth(
    own_servers: Servers, tmp_path: Path, cert_manifest: dict[str, Any]
) -> None:
    """prometheus-tls.yml's job scrapes over mutual TLS with basic auth; bad credentials fail."""
    files = make_tls_files(tmp_path)
    password = "scrape-" + os.urandom(8).hex()
    (tmp_path / "scrape.pass").write_text(password + "\n", encoding="utf-8")
    (tmp_path / "wrong.pass").write_text("not-" + password + "\n", encoding="utf-8")
    # Cost 4 keeps the test fast; the daemon checks the hash exactly as with cost 12.
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    web_config = write_yaml(
        tmp_path / "web-config.yml",
        {
            "tls_server_config": {
                "cert_file": str(files.server_cert),
                "key_file": str(files.server_key),
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": str(files.client_ca),
                "min_version": "TLS12",
            },
            "basic_auth_users": {SCRAPE_USER: digest},
        },
    )
    expiring = cert_manifest["files"]["expiring"]
    certificates = [{"path": expiring["path"], "password_file": expiring["password_file"]}]

    def ready(server: Server) -> bool:
        if http_ok(server.url("/-/ready")):
            raise AssertionError("the daemon serves plain HTTP although its web config sets TLS")
        return https_ok(f"https://localhost:{server.port}/-/ready", files, password)

    def command(workdir: Path, port: int) -> list[str]:
        config = {"listen": f"127.0.0.1:{port}", "certificates": certificates}
        path = write_yaml(workdir / "stproxy-monitor.yml", config)
        run = [sys.executable, "-m", "stproxy_monitor", "run", "-c", str(path)]
        return [*run, "--web.config.file", str(web_config)]

    daemon = own_servers.start("daemon-tls", command, ready=ready, env=daemon_env())

    template = load_yaml(PROMETHEUS_TLS_YML)
    job = scrape_job(template, f"localhost:{daemon.port}")
    assert job["scheme"] == "https" and job["tls_config"]["insecure_skip_verify"] is False
    assert job["basic_auth"]["username"] == SCRAPE_USER
    job["basic_auth"] |= {"password_file": str(tmp_path / "scrape.pass")}
    job["tls_config"] |= {
        "ca_file": str(files.server_ca),
        "cert_file": str(files.client_cert),
        "key_file": str(files.client_key),
    }
    wrong_password = job | {
        "job_name": "wrong-password",
        "basic_auth": job["basic_auth"] | {"password_file": str(tmp_path / "wrong.pass")},
    }
    no_client_cert = job | {
        "job_name": "no-client-cert",
        "tls_config": {
            k: v for k, v in job["tls_config"].items() if k not in ("cert_file", "key_file")
        },
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [job, wrong_password, no_client_cert],
    }
    prometheus = start_prometheus(own_servers, "prometheus-tls", config)

    def targets() -> dict[str, dict[str, Any]]:
        answer = get_json(prometheus.url("/api/v1/targets"), {"state": "active"})
        return {t["labels"]["job"]: t for t in answer["data"]["activeTargets"]}

    wait_until(
        lambda: (
            {j: t["health"] for j, t in targets().items()}
            == {JOB: "up", "wrong-password": "down", "no-client-cert": "down"}
        ),
        what="the TLS target up and the other two down",
    )
    found = targets()
    assert found[JOB]["scrapeUrl"] == f"https://localhost:{daemon.port}/metrics"
    assert found[JOB]["labels"]["instance"] == INSTANCE
    assert found[JOB]["lastError"] == ""
    assert "401" in found["wrong-password"]["lastError"]
    assert found["no-client-cert"]["lastError"]
    answer = get_json(
        prometheus.url("/api/v1/query"),
        {
            "query": series(
                EXPIRY_DAYS,
                job=JOB,
                path=expiring["path"],
                serial=expiring["certificates"][0]["serial"],
            )
        },
    )
    (sample,) = answer["data"]["result"]
    assert 19.9 < float(sample["value"][1]) < 20.1
