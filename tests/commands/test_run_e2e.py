"""The daemon end to end: a real `stproxy-monitor run` process, real files, HTTP scrapes."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import io
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from support import (
    APNS_CLASS,
    APNS_TEXT,
    DAEMON,
    END_BANNER,
    INDENT,
    START_BANNER,
    Key,
    append,
    daemon_env,
    en_us_time,
    free_port,
    key,
    parse_samples,
    readiness,
    spawn_daemon,
    stop_process,
    wait_until,
)

from stproxy_monitor.cli import main
from stproxy_monitor.logs.reasons import REASONS

pytestmark = pytest.mark.e2e

DEADLINE = 20.0
FAILURES = "stproxy_apns_connection_failures_total"
MESSAGES = "stproxy_log_messages_total"
ROTATIONS = "stproxy_monitor_rotations_total"
TRUNCATIONS = "stproxy_monitor_truncations_total"
PRESENT = "stproxy_monitor_file_present"
POSITION = "stproxy_monitor_read_position_bytes"
RELOAD_OK = "stproxy_monitor_config_last_reload_successful"
LAST_FAILURE = "stproxy_apns_last_connection_failure_timestamp_seconds"


# -- WebSphere records ------------------------------------------------------------------------

# Wordings other than support.CAUSES: "Name or service not known", "Network is unreachable".
CAUSES = {  # reason: (inline text, exception line of the stack trace)
    "connection_refused": (
        "Connection refused: connect",
        "java.net.ConnectException: Connection refused: connect",
    ),
    "timed_out": ("connect timed out", "java.net.SocketTimeoutException: connect timed out"),
    "unknown_host": (
        "java.net.UnknownHostException: gateway.push.apple.com: Name or service not known",
        "java.net.UnknownHostException: gateway.push.apple.com: Name or service not known",
    ),
    "handshake_failed": (
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: handshake_failure",
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: handshake_failure",
    ),
    "certificate_rejected": (
        "Received fatal alert: certificate_expired",
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired",
    ),
    "server_untrusted": (
        "sun.security.validator.ValidatorException: PKIX path building failed: unable to find "
        "valid certification path to requested target",
        "javax.net.ssl.SSLHandshakeException: sun.security.validator.ValidatorException: PKIX "
        "path building failed: unable to find valid certification path to requested target",
    ),
    "other": (
        "Network is unreachable: connect",
        "java.net.SocketException: Network is unreachable",
    ),
}
FRAMES = (
    "\tat java.net.DualStackPlainSocketImpl.connect0(Native Method)",
    "\tat java.net.Socket.connect(Socket.java:589)",
    f"\tat {APNS_CLASS}.startAPNS(APNSService.java:212)",
)


@dataclass
class Expected:
    """The metric values the writer has earned so far, booked as it writes."""

    values: dict[Key, float] = field(default_factory=dict)

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        """Increase a counter's expected value."""
        k = key(name, **labels)
        self.values[k] = self.values.get(k, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge's (or counter's) expected value."""
        self.values[key(name, **labels)] = value

    def family(self, name: str) -> dict[Key, float]:
        """Every expected sample of one name."""
        return {k: v for k, v in self.values.items() if k[0] == name}


class WebSphereLog:
    """A SystemOut.log written the way WebSphere writes it, booking what the daemon must count."""

    def __init__(self, path: Path, expected: Expected, *, start: datetime) -> None:
        self.path = path
        self.expected = expected
        self.server = path.parent.name
        self.time = start
        self.rotated: list[Path] = []
        self._known_servers: set[str] = set()

    # records ------------------------------------------------------------------------------
    def stamp(self) -> str:
        """The next record time as an en_US JVM writes it (M/d/yy H:mm:ss:SSS z)."""
        self.time += timedelta(seconds=1, milliseconds=7)
        return en_us_time(self.time)

    def _book(self, severity: str) -> None:
        """One record of `severity` for the current server (its failure series exist from now)."""
        if self.server not in self._known_servers:
            self._known_servers.add(self.server)
            for reason in REASONS:
                self.expected.add(FAILURES, 0, server=self.server, reason=reason)
        self.expected.add(MESSAGES, server=self.server, severity=severity)

    def record(self, kind: str, text: str, *, logger: str = "WsServerImpl") -> bytes:
        """A single-line record (short layout) of event type `kind`, booked."""
        self._book(kind)
        return f"[{self.stamp()}] 00000001 {logger[:13]:<13} {kind}   {text}\n".encode()

    def startup(self) -> bytes:
        """What a server start writes after its header block."""
        return b"".join(
            (
                self.record("I", "TRAS0017I: The startup trace state is *=info.", logger="Mgr"),
                self.record("W", "CWPKI0041W: One or more key stores use the default password."),
                self.record("A", "WSVR0221I: Application started: stproxy", logger="AppMgr"),
                self.record("O", "INFO [com.ibm.stproxy.Push] push service ready", logger="SysOut"),
                self.record("A", f"WSVR0001I: Server {self.server} open for e-business"),
            )
        )

    def failure_first_line(self, reason: str, *, layout: str, inline: bool) -> bytes:
        """The first line of a CLFRX0079W record, booked as one failure of `reason`."""
        self._book("W")
        stamp = self.stamp()
        self.expected.add(FAILURES, server=self.server, reason=reason)
        self.expected.set(LAST_FAILURE, self.time.timestamp(), server=self.server)
        text = f"CLFRX0079W: {APNS_TEXT}" + (f" {CAUSES[reason][0]}" if inline else "")
        source = f"{APNS_CLASS} startAPNS " if layout == "long" else "  "
        return f"[{stamp}] 0000004e APNSService   W {source}{text}\n".encode()

    @staticmethod
    def trace(reason: str) -> bytes:
        """A failure's continuation lines: the exception (33 spaces), then `\\tat` frames."""
        return "".join(f"{line}\n" for line in (INDENT + CAUSES[reason][1], *FRAMES)).encode()

    def failure(self, reason: str, *, layout: str = "short", style: str = "inline") -> bytes:
        """A CLFRX0079W record: cause inline, inline plus a trace, or only in the trace."""
        first = self.failure_first_line(reason, layout=layout, inline=style != "continuation")
        return first + (b"" if style == "inline" else self.trace(reason))

    def every_failure(self) -> bytes:
        """One failure of every reason, layouts and styles mixed."""
        styles = ("inline", "trace", "continuation")
        return b"".join(
            self.failure(reason, layout=("short", "long")[i % 2], style=styles[i % 3])
            for i, reason in enumerate(REASONS)
        )

    def header(self, server: str) -> bytes:
        """A server start's header block; what follows counts for `server`."""
        self.server = server
        return (
            f"{START_BANNER}\n"
            "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
            f"stproxyCell\\stproxyNode\\{server} and process id 4711\n"
            "Host Operating System is Linux, version 3.10.0-862.el7.x86_64\n"
            f"{END_BANNER}\n"
        ).encode()

    # files --------------------------------------------------------------------------------
    def append(self, data: bytes) -> None:
        """Append bytes as WebSphere does (O_APPEND)."""
        append(self.path, data)

    def rotate(self) -> Path:
        """Rename to SystemOut_yy.MM.dd_HH.mm.ss.log and start a new file with its block."""
        rotated = self.path.with_name(f"SystemOut_{self.time:%y.%m.%d_%H.%M.%S}.log")
        os.rename(self.path, rotated)
        self.path.write_bytes(
            f"{START_BANNER}\nLog file started at: [{self.stamp()}]\n{END_BANNER}\n".encode()
        )
        self.rotated.append(rotated)
        self.expected.add(ROTATIONS, path=str(self.path))
        return rotated

    def copy_truncate(self) -> Path:
        """logrotate's copytruncate: copy the log away, then truncate it to 0 bytes."""
        copy = self.path.with_name(self.path.name + ".1")
        shutil.copyfile(self.path, copy)
        os.truncate(self.path, 0)
        self.expected.add(TRUNCATIONS, path=str(self.path))
        return copy


# -- the daemon ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An HTTP response, read whole."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Daemon:
    """A running `stproxy-monitor run` subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """One HTTP request to the daemon."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Response(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def scrape(self) -> dict[Key, float]:
        """Every sample of /metrics (Prometheus text format)."""
        response = self.request("/metrics")
        assert response.status == 200, response
        return parse_samples(response.body.decode())

    def wait_for(self, expected: dict[Key, float], *, what: str) -> dict[Key, float]:
        """Scrape until every expected sample has its value (or the deadline passes)."""
        last: dict[Key, float] = {}

        def matches() -> bool:
            last.clear()
            last.update(self.scrape())
            return all(last.get(k) == v for k, v in expected.items())

        with contextlib.suppress(AssertionError):  # the caller's exact assertion shows the diff
            wait_until(matches, what=what)
        return last

    def stderr(self) -> str:
        """What the daemon wrote to stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = DEADLINE) -> int:
        """Send `sig`, wait for the exit, return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


class DaemonFactory:
    """Starts daemons on free ports; stops every one of them at teardown."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Daemon] = []

    def start(self, *args: str, attempts: int = 5) -> Daemon:
        """`run ARGS --listen 127.0.0.1:PORT`, waited for until ready; another port if taken."""
        for _ in range(attempts):
            port = free_port()
            stderr_path = self.workdir / f"daemon-{len(self.started)}.stderr"
            listen = ("--listen", f"127.0.0.1:{port}")
            process = spawn_daemon(*args, *listen, stderr=stderr_path, cwd=self.workdir)
            daemon = Daemon(process, port, stderr_path)
            self.started.append(daemon)
            state = wait_until(
                lambda p=process, n=port: readiness(p, n), what=f"/-/ready on port {port}"
            )
            if state == "ready":
                return daemon
            if "cannot listen" not in daemon.stderr():
                break
        raise AssertionError(f"daemon exited with {process.returncode}:\n{daemon.stderr()}")

    def stop_all(self) -> None:
        """Terminate what still runs (kill after a grace period) and print each stderr."""
        for daemon in self.started:
            stop_process(daemon.process)
            # Shown by pytest only when the test failed.
            print(f"--- stderr of daemon on port {daemon.port} ---\n{daemon.stderr()}")


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[DaemonFactory]:
    """A daemon starter whose daemons are always terminated, even when the test fails."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    factory = DaemonFactory(workdir)
    try:
        yield factory
    finally:
        factory.stop_all()


def assert_family(samples: dict[Key, float], expected: Expected, name: str) -> None:
    """Every series of a family is exactly the expected one: no more, no fewer, no other value."""
    got = {k: v for k, v in samples.items() if k[0] == name}
    assert got == expected.family(name)


def assert_values(samples: dict[Key, float], expected: dict[Key, float]) -> None:
    """The given samples have exactly these values."""
    assert {k: samples.get(k) for k in expected} == expected


# -- the end-to-end story -----------------------------------------------------------------------


def test_every_failure_is_counted_once_across_rotation_truncation_deletion_and_half_lines(
    tmp_path: Path, daemons: DaemonFactory
) -> None:
    """Each CLFRX0079W written is counted exactly once, for the right server and reason."""
    expected = Expected()
    start = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
    proxy = WebSphereLog(tmp_path / "STProxyServer" / "SystemOut.log", expected, start=start)
    other = WebSphereLog(tmp_path / "Other" / "SystemOut.log", expected, start=start)
    proxy.path.parent.mkdir()
    proxy.append(proxy.startup() + proxy.failure("connection_refused") + proxy.failure("timed_out"))
    p, o = str(proxy.path), str(other.path)
    for path in (p, o):
        expected.set(ROTATIONS, 0, path=path)
        expected.set(TRUNCATIONS, 0, path=path)
    expected.set(PRESENT, 1, path=p)
    expected.set(PRESENT, 0, path=o)  # its directory does not exist yet

    daemon = daemons.start("--log", p, "--log", o)

    def check(phase: str) -> dict[Key, float]:
        samples = daemon.wait_for(expected.values, what=phase)
        assert_family(samples, expected, FAILURES)
        assert_family(samples, expected, MESSAGES)
        assert_family(samples, expected, LAST_FAILURE)
        assert_values(samples, expected.values)
        return samples

    check("the existing file to be read")

    # Every reason, both layouts, causes inline, in a trace, or only in the trace.
    proxy.append(proxy.every_failure() + proxy.record("I", "SRVE0242I: [stproxy] init"))
    check("appended failures")

    # A log whose directory appears while the daemon runs.
    other.path.parent.mkdir()
    other.append(other.startup() + other.every_failure() + other.failure("unknown_host"))
    expected.set(PRESENT, 1, path=o)
    check("the log created after the start")

    # WebSphere rotation with a record split across the old and the new file.
    proxy.append(
        proxy.failure("timed_out")
        + proxy.failure_first_line("handshake_failed", layout="long", inline=True)
    )
    proxy.rotate()
    proxy.append(proxy.trace("handshake_failed") + proxy.failure("certificate_rejected"))
    check("the WebSphere rotation")

    # copytruncate, then fewer bytes than were read before.
    other.copy_truncate()
    other.append(other.failure("other", style="trace"))
    check("the copy-truncate")

    # Deleted (seen absent), then re-created.
    other.path.unlink()
    expected.set(PRESENT, 0, path=o)
    expected.add(ROTATIONS, path=o)
    check("the deletion")
    other.append(other.startup() + other.failure("connection_refused", layout="long"))
    expected.set(PRESENT, 1, path=o)
    check("the re-created log")

    # Half lines: nothing counted until their newline arrives.
    held = dict(expected.values)
    half = proxy.failure("unknown_host", layout="long")
    other_half = other.record("E", "SRVE0777E: Exception thrown by application class")
    completed, expected.values = expected.values, held
    proxy.append(half[:70])
    other.append(other_half[:40])
    expected.set(POSITION, proxy.path.stat().st_size, path=p)
    expected.set(POSITION, other.path.stat().st_size, path=o)
    check("the half lines to be read and held")
    proxy.append(half[70:])
    other.append(other_half[40:])
    expected.values = completed
    check("the completed half lines")

    # A server start's header block renames the server for what follows it.
    proxy.append(proxy.header("STProxyServer2") + proxy.startup() + proxy.every_failure())
    samples = check("the header block")
    assert samples[key(FAILURES, server="STProxyServer2", reason="other")] == 1
    assert samples[key(FAILURES, server="STProxyServer", reason="connection_refused")] == 2

    # Nothing is counted twice: after more reads of both files the failures stay exactly put.
    proxy.append(proxy.record("I", "SRVE0242I: [stproxy] marker"))
    other.append(other.record("I", "SRVE0242I: [stproxy] marker"))
    check("the marker records")
    proxy.append(proxy.record("I", "SRVE0242I: [stproxy] second marker"))
    check("the second marker record")
    assert_family(daemon.scrape(), expected, FAILURES)

    assert daemon.stop() == 0


# -- HTTP endpoints -----------------------------------------------------------------------------


@pytest.fixture
def one_log_daemon(tmp_path: Path, daemons: DaemonFactory) -> tuple[Daemon, WebSphereLog]:
    """A daemon following one log that holds two connection-refused failures."""
    log = WebSphereLog(
        tmp_path / "STProxyServer" / "SystemOut.log",
        Expected(),
        start=datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC),
    )
    log.path.parent.mkdir()
    log.append(
        log.startup() + log.failure("connection_refused") + log.failure("connection_refused")
    )
    daemon = daemons.start("--log", str(log.path))
    assert_values(daemon.wait_for(log.expected.values, what="the log"), log.expected.values)
    return daemon, log


def test_landing_page_health_readiness_and_errors(
    one_log_daemon: tuple[Daemon, WebSphereLog],
) -> None:
    """`/` is an HTML page linking /metrics; health and readiness say 200; 404 and 405 otherwise."""
    daemon, _log = one_log_daemon

    landing = daemon.request("/")
    assert landing.status == 200
    assert landing.headers["content-type"].startswith("text/html")
    assert b"href='/metrics'" in landing.body.replace(b'"', b"'")
    assert b"stproxy-monitor" in landing.body

    assert daemon.request("/-/healthy").status == 200
    assert daemon.request("/-/ready").status == 200

    assert daemon.request("/no/such/page").status == 404
    refused = daemon.request("/metrics", method="DELETE")
    assert refused.status == 405
    assert set(refused.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}

    head = daemon.request("/metrics", method="HEAD")
    assert (head.status, head.body) == (200, b"")
    assert int(head.headers["content-length"]) > 0


def test_metrics_in_openmetrics_format_when_asked(
    one_log_daemon: tuple[Daemon, WebSphereLog],
) -> None:
    """`Accept: application/openmetrics-text` gets OpenMetrics with the same counts."""
    daemon, log = one_log_daemon
    response = daemon.request(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.body.endswith(b"# EOF\n")
    samples = {
        key(sample.name, **sample.labels): sample.value
        for family in openmetrics_families(response.body.decode())
        for sample in family.samples
    }
    server = log.server
    assert samples[key(FAILURES, server=server, reason="connection_refused")] == 2
    assert samples[key(FAILURES, server=server, reason="timed_out")] == 0
    assert samples[key(PRESENT, path=str(log.path))] == 1

    plain = daemon.request("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    assert not plain.body.endswith(b"# EOF\n")


def test_metrics_gzip_compressed_when_asked(one_log_daemon: tuple[Daemon, WebSphereLog]) -> None:
    """`Accept-Encoding: gzip` gets a gzip body that decompresses to the exposition."""
    daemon, log = one_log_daemon
    response = daemon.request("/metrics", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers.get("content-encoding") == "gzip"
    samples = parse_samples(gzip.decompress(response.body).decode())
    assert samples[key(FAILURES, server=log.server, reason="connection_refused")] == 2

    identity = daemon.request("/metrics")
    assert "content-encoding" not in identity.headers
    assert (
        parse_samples(identity.body.decode())[
            key(FAILURES, server=log.server, reason="connection_refused")
        ]
        == 2
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_exit_0(
    one_log_daemon: tuple[Daemon, WebSphereLog], sig: signal.Signals
) -> None:
    """The daemon stops on SIGTERM (and Ctrl-C) with exit status 0 and frees its port."""
    daemon, _log = one_log_daemon
    assert daemon.stop(sig) == 0
    with pytest.raises(OSError, match="refused"):
        daemon.request("/-/healthy")


# -- reload ---------------------------------------------------------------------------------------


def write_config(path: Path, logs: list[Path], extra: str = "") -> None:
    """A YAML config following `logs`, with a short poll interval."""
    lines = ["poll_interval: 0.2", "logs:", *(f"  - path: {log}" for log in logs)]
    path.write_text("\n".join(lines) + "\n" + extra)


def test_sighup_and_post_reload_keep_the_old_config_when_the_new_one_is_invalid(
    tmp_path: Path, daemons: DaemonFactory
) -> None:
    """A broken config is refused (reload 0, old logs still followed); a fixed one adds logs."""
    expected = Expected()
    start = datetime(2026, 11, 29, 9, 0, 0, tzinfo=UTC)
    first = WebSphereLog(tmp_path / "STProxyServer" / "SystemOut.log", expected, start=start)
    second = WebSphereLog(tmp_path / "STProxyServer2" / "SystemOut.log", expected, start=start)
    third = WebSphereLog(tmp_path / "STProxyServer3" / "SystemOut.log", expected, start=start)
    for log in (first, second, third):
        log.path.parent.mkdir()
        log.append(log.failure("timed_out"))
    config = tmp_path / "stproxy-monitor.yml"
    write_config(config, [first.path])
    daemon = daemons.start("-c", str(config))
    failures_of = {
        log: key(FAILURES, server=log.server, reason="timed_out") for log in (first, second, third)
    }
    samples = daemon.wait_for({failures_of[first]: 1, key(RELOAD_OK): 1}, what="the first log")
    assert_values(samples, {failures_of[first]: 1, key(RELOAD_OK): 1})
    assert failures_of[second] not in samples

    # SIGHUP with a config that became invalid: refused, the old config stays in force.
    config.write_text(f"logs:\n  - path: {second.path}\n    encodng: utf-8\nlisten: [\n")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for({key(RELOAD_OK): 0}, what="the refused SIGHUP reload")
    first.append(first.failure("timed_out"))
    samples = daemon.wait_for({failures_of[first]: 2}, what="the old log still followed")
    assert_values(samples, {key(RELOAD_OK): 0, failures_of[first]: 2})
    assert failures_of[second] not in samples
    assert "reload_failed" in daemon.stderr()

    # POST /-/reload with a semantically invalid config: 500 naming file, key and value.
    write_config(config, [first.path, second.path], extra="warn_days: soon\n")
    refused = daemon.request("/-/reload", method="POST")
    assert refused.status == 500
    assert f"{config}: warn_days: must be a number (got str 'soon')" in refused.body.decode()
    assert_values(daemon.scrape(), {key(RELOAD_OK): 0})

    # POST /-/reload with a valid config adding a log.
    write_config(config, [first.path, second.path])
    accepted = daemon.request("/-/reload", method="POST")
    assert accepted.status == 200
    samples = daemon.wait_for(
        {key(RELOAD_OK): 1, failures_of[second]: 1, key(PRESENT, path=str(second.path)): 1},
        what="the log added by POST /-/reload",
    )
    assert_values(
        samples,
        {
            key(RELOAD_OK): 1,
            failures_of[first]: 2,
            failures_of[second]: 1,
            key(PRESENT, path=str(second.path)): 1,
        },
    )

    # SIGHUP with a valid config adding another log.
    write_config(config, [first.path, second.path, third.path])
    daemon.process.send_signal(signal.SIGHUP)
    samples = daemon.wait_for({failures_of[third]: 1}, what="the log added by SIGHUP")
    assert_values(
        samples,
        {
            key(RELOAD_OK): 1,
            failures_of[first]: 2,
            failures_of[second]: 1,
            failures_of[third]: 1,
        },
    )
    assert daemon.stop() == 0


# -- bad configurations -------------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, list[str]]:
    """`stproxy-monitor ARGV` in process: exit status and stderr lines."""
    err = io.StringIO()
    status = main(list(argv), stdout=io.StringIO(), stderr=err)
    return status, err.getvalue().splitlines()


BAD_CONFIGS = {
    "unknown key": (
        "lisen: ':10116'\nlogs: [/var/log/SystemOut.log]\n",
        [["lisen", "unknown key"]],
    ),
    "unknown key in a log": (
        "logs:\n  - path: /var/log/SystemOut.log\n    servr: STProxyServer\n",
        [["logs[0].servr", "unknown key"]],
    ),
    "wrong types": (
        "warn_days: thirty\npoll_interval: true\nlogs:\n  - path: /l/SystemOut.log\n"
        "    server: 42\n",
        [
            ["warn_days", "must be a number", "'thirty'"],
            ["poll_interval", "must be a number", "True"],
            ["logs[0].server", "must be a non-empty string", "42"],
        ],
    ),
    "logs not a list": ("logs:\n  path: /l/SystemOut.log\n", [["logs", "must be a list", "dict"]]),
    "bad listen": (
        "listen: localhost\nlogs: [/l/SystemOut.log]\n",
        [["listen", "HOST:PORT", "'localhost'"]],
    ),
    "listen port out of range": (
        "listen: ':70000'\nlogs: [/l/SystemOut.log]\n",
        [["listen", "65535", "':70000'"]],
    ),
    "bad timezone": (
        "logs:\n  - path: /l/SystemOut.log\n    timezone: Mars/Olympus_Mons\n",
        [["logs[0].timezone", "IANA zone", "'Mars/Olympus_Mons'"]],
    ),
    "bad encoding": (
        "logs:\n  - path: /l/SystemOut.log\n    encoding: klingon\n",
        [["logs[0].encoding", "encoding", "'klingon'"]],
    ),
    "bad date_order": (
        "logs:\n  - path: /l/SystemOut.log\n    date_order: MMDDYY\n",
        [["logs[0].date_order", "MDY, DMY, YMD", "'MMDDYY'"]],
    ),
    "invalid regex": (
        "logs:\n  - path: /l/SystemOut.log\n    certificate_patterns: ['(?P<not_after>']\n",
        [["logs[0].certificate_patterns[0].regex", "regular expression", "'(?P<not_after>'"]],
    ),
    "YAML syntax error": ("logs: [/l/SystemOut.log\nlisten: ':1'\n", [["not valid YAML", "line"]]),
    "no logs at all": ("logs: []\n", [["nothing to monitor"]]),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_is_one_line_per_problem_and_exit_2(tmp_path: Path, case: str) -> None:
    """Each config problem is one stderr line naming the file, the key, the rule and the value."""
    text, problems = BAD_CONFIGS[case]
    config = tmp_path / "bad.yml"
    config.write_text(text)

    status, lines = run_cli("run", "-c", str(config))

    assert status == 2
    assert len(lines) == len(problems), lines
    for line, words in zip(lines, problems, strict=True):
        assert line.startswith("stproxy-monitor: ")
        if words != ["nothing to monitor"]:
            assert f"{config}: " in line
        for word in words:
            assert word in line, (word, line)


def test_every_config_problem_is_reported_at_once(tmp_path: Path) -> None:
    """A config with six problems gets six lines, not just the first."""
    config = tmp_path / "bad.yml"
    config.write_text(
        "listen: nowhere\nwarn_days: soon\ncolour: blue\nlogs:\n"
        "  - path: /l/SystemOut.log\n    timezone: Nowhere/Land\n    encoding: nope\n"
        "    date_order: XYZ\n"
    )
    status, lines = run_cli("run", "-c", str(config))
    assert status == 2
    keys = ["colour", "listen", "warn_days", "logs[0].encoding", "logs[0].timezone"]
    keys.append("logs[0].date_order")
    assert sorted(line.split(": ")[2] for line in lines) == sorted(keys)
    assert all(line.startswith(f"stproxy-monitor: {config}: ") for line in lines)


def test_missing_config_file(tmp_path: Path) -> None:
    """A config file that does not exist is named in one line; exit 2."""
    missing = tmp_path / "nowhere.yml"
    assert run_cli("run", "-c", str(missing)) == (
        2,
        [f"stproxy-monitor: {missing}: cannot read: No such file or directory"],
    )


def test_no_logs_and_bad_listen_flags() -> None:
    """Without anything to follow, or with a bad --listen, `run` says why and exits 2."""
    status, lines = run_cli("run")
    assert status == 2
    assert len(lines) == 1
    assert "nothing to monitor" in lines[0]

    status, lines = run_cli("run", "--log", "/l/SystemOut.log", "--listen", "127.0.0.1:99999")
    assert (status, len(lines)) == (2, 1)
    assert "--listen" in lines[0]
    assert "'127.0.0.1:99999'" in lines[0]


def test_bad_config_through_the_real_command(tmp_path: Path) -> None:
    """The installed entry point (`python -m stproxy_monitor`) exits 2 with the problem lines."""
    config = tmp_path / "bad.yml"
    config.write_text("logs:\n  - path: /l/SystemOut.log\n    timezone: Mars/Base\nfoo: 1\n")
    done = subprocess.run(
        [*DAEMON, "-c", str(config)],
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"stproxy-monitor: {config}: foo: unknown key",
        f"stproxy-monitor: {config}: logs[0].timezone: must be an IANA zone such as "
        "America/New_York (got str 'Mars/Base')",
    ]
