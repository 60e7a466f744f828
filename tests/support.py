"""Helpers shared by the tests: ports, polling, the real daemon, /metrics, WebSphere records."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stproxy_monitor.config import LogConfig
from stproxy_monitor.logs.positions import PositionStore
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.watcher import LogWatcher

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
DAEMON = (sys.executable, "-m", "stproxy_monitor", "run")
# No proxy from the environment: everything the tests talk to is on the loopback interface.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# A sample's identity: its name and sorted labels.
Key = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[Key, float]

# Certificate files of fixtures/generate_certs.py: by validity, then by how they are stored.
VALIDITY_CASES = [
    "valid",
    "expiring",
    "critical",
    "expired",
    "not_yet_valid",
    "short_intermediate",
]
# One file per problem of the contract (certs.facts), and the legacy 3DES export with none.
PROBLEM_CASES = [
    "sandbox_only",
    "wrong_topic",
    "not_apple",
    "no_key",
    "key_mismatch",
    "aes",
    "triple_des",
]
CERT_FILE_CASES = [
    *VALIDITY_CASES,
    "no_password",
    "wrong_password",
    "corrupt",
    "pem",
    "der",
    *PROBLEM_CASES,
]


# -- ports and polling ------------------------------------------------------------------------


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the caller retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], T], *, what: str, timeout: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `condition` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    """True when GET `url` answers 200."""
    try:
        with HTTP.open(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


# -- the real daemon --------------------------------------------------------------------------


def daemon_env() -> dict[str, str]:
    """The environment of a daemon subprocess: the package importable from this checkout.

    With STPROXY_MONITOR_TEST_INSTALLED=1 (the tests of an unpacked sdist, .ci/sdist) the
    installed package is used instead.
    """
    env = dict(os.environ)
    if env.get("STPROXY_MONITOR_TEST_INSTALLED") == "1":
        return env
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def spawn_daemon(*args: str, stderr: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `stproxy-monitor run ARGS` with its stderr written to the file `stderr`."""
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [*DAEMON, *args],
            cwd=cwd,
            env=daemon_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def readiness(process: subprocess.Popen[bytes], port: int) -> str | None:
    """ "ready" once /-/ready answers 200, "exited" if the process ended, else None."""
    if process.poll() is not None:
        return "exited"
    return "ready" if http_ok(f"http://127.0.0.1:{port}/-/ready") else None


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM (if still running), then SIGKILL when it does not exit within `grace` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


# -- /metrics ---------------------------------------------------------------------------------


def key(name: str, **labels: str) -> Key:
    """A sample's identity: its name and sorted labels."""
    return name, tuple(sorted(labels.items()))


def parse_samples(text: str) -> Samples:
    """Samples of a Prometheus text exposition by name and labels."""
    return {
        key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(port: int) -> Samples:
    """Every sample of one scrape of the daemon on `port` (the scrape must answer 200)."""
    with HTTP.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return parse_samples(response.read().decode())


# -- WebSphere records ------------------------------------------------------------------------

INDENT = " " * 33
APNS_TEXT = "Unable to establish an SSL connection to the APNS service"
APNS_CLASS = "com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService"
START_BANNER = "************ Start Display Current Environment ************"
END_BANNER = "************* End Display Current Environment *************"
# Reasons and the JDK wordings that produce them (inline text, exception line of the trace).
CAUSES = {
    "connection_refused": (
        "Connection refused: connect",
        "java.net.ConnectException: Connection refused: connect",
    ),
    "timed_out": ("connect timed out", "java.net.SocketTimeoutException: connect timed out"),
    "unknown_host": (
        "java.net.UnknownHostException: gateway.push.apple.com",
        "java.net.UnknownHostException: gateway.push.apple.com",
    ),
    "handshake_failed": (
        "javax.net.ssl.SSLHandshakeException: Remote host closed connection during handshake",
        "javax.net.ssl.SSLHandshakeException: Remote host closed connection during handshake",
    ),
    "certificate_rejected": (
        "Received fatal alert: certificate_expired",
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired",
    ),
    "server_untrusted": (
        "javax.net.ssl.SSLHandshakeException: com.ibm.jsse2.util.j: PKIX path building failed",
        "javax.net.ssl.SSLHandshakeException: com.ibm.jsse2.util.j: PKIX path building failed",
    ),
    "other": ("Connection reset", "java.net.SocketException: Connection reset"),
}


def en_us_time(t: datetime) -> str:
    """A record time as an en_US JVM writes it (M/d/yy H:mm:ss:SSS z)."""
    return f"{t.month}/{t.day}/{t:%y} {t.hour}:{t:%M:%S}:{t.microsecond // 1000:03d} UTC"


def append(path: Path, data: bytes) -> None:
    """Append bytes the way a writer with O_APPEND does."""
    with open(path, "ab") as handle:
        handle.write(data)


def rotate(path: Path, index: int) -> Path:
    """WebSphere rotation: rename to SystemOut_yy.MM.dd_HH.mm.ss.log (index orders them)."""
    rotated = path.with_name(f"SystemOut_26.11.29_10.{index // 60:02d}.{index % 60:02d}.log")
    os.rename(path, rotated)
    return rotated


class Records:
    """en_US UTC records whose clock moves on by a second a record."""

    def __init__(self) -> None:
        self.time = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)

    def stamp(self) -> str:
        """The next timestamp: M/d/yy H:mm:ss:SSS z."""
        self.time += timedelta(seconds=1, milliseconds=7)
        return en_us_time(self.time)

    def info(self, text: str = "TRAS0017I: The startup trace state is *=info.") -> bytes:
        """An ordinary I record."""
        return f"[{self.stamp()}] 00000001 ManagerAdmin  I   {text}\n".encode()

    def failure(self, reason: str) -> bytes:
        """A CLFRX0079W record with its cause inline (classified at once)."""
        return (
            f"[{self.stamp()}] 0000004e APNSService   W   CLFRX0079W: {APNS_TEXT} "
            f"{CAUSES[reason][0]}\n"
        ).encode()

    def failure_head(self) -> bytes:
        """The first line of a CLFRX0079W whose cause only its stack trace names."""
        return (
            f"[{self.stamp()}] 0000004e APNSService   W {APNS_CLASS} startAPNS "
            f"CLFRX0079W: {APNS_TEXT}\n"
        ).encode()

    @staticmethod
    def trace(reason: str) -> bytes:
        """The stack trace lines that follow failure_head()."""
        return (
            f"{INDENT}{CAUSES[reason][1]}\n\tat {APNS_CLASS}.startAPNS(APNSService.java:212)\n"
        ).encode()

    def header(self, server: str = "STProxyServer") -> bytes:
        """The block a server start writes: it names the server."""
        return (
            f"{START_BANNER}\nWebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running "
            f"with process name cell\\node\\{server} and process id 4711\n{END_BANNER}\n"
        ).encode()

    def rotation_block(self) -> bytes:
        """The three lines a file created by rotation starts with."""
        return f"{START_BANNER}\nLog file started at: [{self.stamp()}]\n{END_BANNER}\n".encode()


# -- in-process daemon lives ------------------------------------------------------------------


class Clock:
    """An injected clock that only moves when told."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The current time."""
        return self.now


class Lives:
    """A daemon's successive lives in-process (the first starts at once), one positions file.

    `stop()` does what LogWatcher.run does on SIGTERM (a final poll, then a save); `kill()`
    drops the life without saving, as SIGKILL does. Counts of ended lives are summed.
    """

    def __init__(
        self,
        logs: list[Path],
        positions: Path,
        *,
        clock: Clock | None = None,
        save_interval: float = 5.0,
        watcher_args: dict[str, Any] | None = None,
        store_factory: Callable[[], PositionStore] | None = None,
    ) -> None:
        self.logs = tuple(LogConfig(path=str(p)) for p in logs)
        self.positions = positions
        self.clock = clock or Clock()
        self.save_interval = save_interval
        self.watcher_args = watcher_args or {}
        self.store_factory = store_factory or (lambda: PositionStore(str(positions)))
        self.ended: Counter[str] = Counter()
        self.started = 0
        self.start()

    def _watcher(self) -> LogWatcher:
        """A watcher as Service builds it, without an observer."""
        return LogWatcher(
            self.logs,
            self.state,
            clock=self.clock,
            observer_factory=None,
            store=self.store,
            save_interval=self.save_interval,
            **self.watcher_args,
        )

    def start(self) -> None:
        """A new life: load the positions (LogWatcher.run does this first)."""
        self.started += 1
        self.running = True
        self.state = State()
        self.store = self.store_factory()
        self.watcher = self._watcher()
        self.watcher.restore()

    def poll(self, advance: float = 0.1) -> int:
        """One poll of every log, `advance` seconds later."""
        self.clock.now += advance
        return self.watcher.poll_all()

    def save(self) -> bool:
        """A periodic save."""
        return self.watcher.save_positions()

    def stop(self) -> None:
        """SIGTERM: final poll, save, the life's counts booked."""
        self.poll()
        self.watcher.save_positions()
        self.ended += self.failures_now()
        self.running = False

    def kill(self) -> None:
        """SIGKILL: the life's counts booked, nothing saved."""
        self.ended += self.failures_now()
        self.running = False

    def failures_now(self) -> Counter[str]:
        """The running life's failures by reason, all servers."""
        counts: Counter[str] = Counter()
        for totals in self.state.snapshot().servers.values():
            counts.update(totals.failures)
        return +counts

    def total(self) -> Counter[str]:
        """Failures over every life so far, the running one included."""
        return +(self.ended + self.failures_now()) if self.running else +self.ended


GENERATOR_PATH = REPO / "fixtures" / "generate_certs.py"


def load_script(path: Path) -> ModuleType:
    """Import a script of bench/ or fixtures/ by path (neither is a package), once per name."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module


def load_cert_generator() -> ModuleType:
    """Import fixtures/generate_certs.py by path (fixtures/ is not a package)."""
    return load_script(GENERATOR_PATH)


CertTree = Callable[[datetime], dict[str, Any]]


# Files whose text is attached to the report of a failing test (a subprocess's stderr, say).
ATTACHED_FILES = pytest.StashKey[list[Path]]()


def shared_path(*parts: str) -> Path:
    """A path under ../shared relative to the repository root (read-only material: real logs,
    peer test data); never copied into the repository. Tests skip when it is absent."""
    return REPO.parent.joinpath("shared", *parts)
