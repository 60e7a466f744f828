"""Helpers of the reliability tests: WebSphere records and in-process daemon lives."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stproxy_monitor.config import LogConfig
from stproxy_monitor.daemon import LogWatcher
from stproxy_monitor.positions import PositionStore
from stproxy_monitor.state import State

REPO = Path(__file__).resolve().parents[1]
INDENT = " " * 33
APNS_TEXT = "Unable to establish an SSL connection to the APNS service"
APNS_CLASS = "com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService"
START_BANNER = "************ Start Display Current Environment ************"
END_BANNER = "************* End Display Current Environment *************"
CAUSES = {  # reason: (inline wording, exception line of the stack trace)
    "connection_refused": (
        "Connection refused: connect",
        "java.net.ConnectException: Connection refused: connect",
    ),
    "timed_out": ("connect timed out", "java.net.SocketTimeoutException: connect timed out"),
    "unknown_host": (
        "java.net.UnknownHostException: gateway.push.apple.com",
        "java.net.UnknownHostException: gateway.push.apple.com",
    ),
    "certificate_rejected": (
        "Received fatal alert: certificate_expired",
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired",
    ),
    "other": ("Connection reset", "java.net.SocketException: Connection reset"),
}


class Records:
    """en_US UTC records whose clock moves on by a second a record."""

    def __init__(self) -> None:
        self.time = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)

    def stamp(self) -> str:
        """The next timestamp: M/d/yy H:mm:ss:SSS z."""
        self.time += timedelta(seconds=1, milliseconds=7)
        t = self.time
        return f"{t.month}/{t.day}/{t:%y} {t.hour}:{t:%M:%S}:{t.microsecond // 1000:03d} UTC"

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


def append(path: Path, data: bytes) -> None:
    """Append as a writer with O_APPEND does."""
    with open(path, "ab") as handle:
        handle.write(data)


def rotate(path: Path, index: int) -> Path:
    """WebSphere rotation: rename to SystemOut_yy.MM.dd_HH.mm.ss.log (index orders them)."""
    rotated = path.with_name(f"SystemOut_26.11.29_10.{index // 60:02d}.{index % 60:02d}.log")
    os.rename(path, rotated)
    return rotated


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
