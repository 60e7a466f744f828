"""Soak: the real daemon follows a fast-growing, rotating log while it is stopped and killed.

    python bench/soak.py [--duration 180] [--rate 20000] [--rotate-kb 512] [--cycles 3] [--keep 5]

A writer process (`python bench/soak.py writer ...`, started by the run) appends realistic
WebSphere records to SystemOut.log at --rate records per second: WebSphere rename rotation every
--rotate-kb (SystemOut_yy.MM.dd_HH.mm.ss.log; --keep rotated files kept, as WebSphere does, but
never one the daemon's saved position has not passed), one copy-truncate, one delete and
re-create, half-written lines, and now and then a failure record split across a rotation. The daemon (`python -m stproxy_monitor run`, positions
file saved every 0.5 s) is stopped with SIGTERM and killed with SIGKILL --cycles times each
mid-stream; rotations happen while it is down. Ground truth is what the writer wrote (CLFRX0079W
per reason); stproxy_apns_connection_failures_total is summed over the daemon's lives, each life's
value scraped just before it is stopped. The daemon's own event log (one `apns_failure` line per
failure it counted) also gives what a life read after its last scrape (SIGKILL may cut its last
lines).

Before the copy-truncate and before the delete, the writer pauses until the daemon has read the
whole file: records written between the daemon's last read and a truncation or deletion are gone
before anyone could read them, and no tailer can count them.

tests/logs/test_reliability.py runs the same soak for about a minute.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from prometheus_client.parser import text_string_to_metric_families

from stproxy_monitor.logs.reasons import REASONS

REPO = Path(__file__).resolve().parents[1]
FAILURES = "stproxy_apns_connection_failures_total"
START_BANNER = "************ Start Display Current Environment ************"
END_BANNER = "************* End Display Current Environment *************"
INDENT = " " * 33
APNS_CLASS = "com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService"
APNS_TEXT = "Unable to establish an SSL connection to the APNS service"
WORDS = ("Chat", "Presence", "Meeting", "Awareness", "Push", "Roster", "Login", "Gateway")
FAILURE_SHARE = 0.05
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# (thread, logger, type, message, continuation lines): the mix of a busy proxy, with traps.
ORDINARY = (
    *[(0x9C, "STProxy", "I", "  CLFRX0012I: User {word}{n} logged in", "")] * 3,
    (
        0x1F,
        "webapp",
        "I",
        "com.ibm.ws.webcontainer.webapp.WebGroupImpl WebGroup SRVE0169I: Loading Web Module: "
        "{word}.",
        "",
    ),
    *[(0x84, "SystemOut", "O", "INFO  [stproxy.{word}]- Handled request {n} in 3 ms", "")] * 2,
    (0x63, "STProxy", "W", "  CLFRX0015W: Request to {word} timed out", ""),
    (0x51, "SystemOut", "O", f'Self-test: "CLFRX0079W: {APNS_TEXT}" ok', ""),
    (
        0x6A,
        "ServletWrappe",
        "E",
        "  SRVE0068E: An exception was thrown",
        f"{INDENT}java.lang.IllegalStateException: last APNS status was CLFRX0079W\n"
        "\tat com.ibm.stproxy.admin.StatusServlet.doGet(StatusServlet.java:88)\n",
    ),
    (0x9C, "SystemErr", "R", "\tat stproxy.{word}.Handler.run(H.java:{n})", ""),
)


def _load_fixture_generator() -> ModuleType:
    """fixtures/generate_logs.py by path: its JDK wordings of each failure reason."""
    path = REPO / "fixtures" / "generate_logs.py"
    spec = importlib.util.spec_from_file_location("generate_logs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_logs", module)
    spec.loader.exec_module(module)
    return module


# --- records ---------------------------------------------------------------------------------


def stamp(t: datetime) -> str:
    """en_US WebSphere time: M/d/yy H:mm:ss:SSS z."""
    return (
        f"{t.month}/{t.day}/{t.year % 100:02d} {t.hour}:{t.minute:02d}:{t.second:02d}:"
        f"{t.microsecond // 1000:03d} UTC"
    )


class RecordMaker:
    """Realistic records of a busy Sametime proxy; about 5% are CLFRX0079W failures."""

    def __init__(self, rng: random.Random) -> None:
        gen = _load_fixture_generator()
        self.causes = (*gen.linux_causes(), *gen.windows_causes())
        self.rng = rng
        self.now = datetime(2026, 11, 1, 3, 9, 1, tzinfo=UTC)

    def line(self, thread: int, logger: str, sev: str, body: str) -> str:
        """One record line; time moves on by up to 3 ms."""
        self.now += timedelta(microseconds=self.rng.randrange(0, 3000))
        return f"[{stamp(self.now)}] {thread:08x} {logger[:13]:<13} {sev} {body}\n"

    def ordinary(self) -> str:
        """A record that is not a failure (some of them mention CLFRX0079W on purpose)."""
        thread, logger, sev, body, tail = self.rng.choice(ORDINARY)
        word, n = self.rng.choice(WORDS), self.rng.randrange(100000)
        return self.line(thread, logger, sev, body.format(word=word, n=n)) + tail

    def failure(self, *, trace: bool | None = None) -> tuple[str, str, str]:
        """A CLFRX0079W record: (first line, continuation lines, reason)."""
        cause = self.rng.choice(self.causes)
        if trace is None:
            trace = self.rng.random() < 0.5
        if trace:
            first = self.line(
                0x4E, "APNSService", "W", f"{APNS_CLASS} startAPNS CLFRX0079W: {APNS_TEXT}"
            )
            rest = "".join(f"{text}\n" for text in (INDENT + cause.exception, *cause.frames))
            return first, rest, cause.reason
        first = self.line(0x4E, "APNSService", "W", f"  CLFRX0079W: {APNS_TEXT} {cause.inline}")
        return first, "", cause.reason

    def environment(self, server: str = "STProxyServer") -> str:
        """The block a server start writes at the top of a fresh SystemOut.log."""
        pid = self.rng.randrange(2000, 60000)
        return (
            f"{START_BANNER}\nWebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with "
            f"process name soakCell\\soakNode\\{server} and process id {pid}\n"
            f"Host Operating System is Linux\n{END_BANNER}\n"
            + self.line(1, "WsServerImpl", "A", f"  WSVR0001I: Server {server} open for e-business")
        )

    def started_block(self) -> str:
        """The three lines a file created by rotation starts with."""
        return f"{START_BANNER}\nLog file started at: [{stamp(self.now)}]\n{END_BANNER}\n"


# --- the writer process ----------------------------------------------------------------------


class Writer:
    """Appends records at a rate; obeys pause/resume/copytruncate/recreate/stop commands."""

    def __init__(
        self,
        directory: Path,
        ctl: Path,
        *,
        rate: float,
        rotate_bytes: int,
        keep: int,
        seed: int,
        url: str,
        positions: Path,
    ) -> None:
        self.dir = directory
        self.ctl = ctl
        self.path = directory / "SystemOut.log"
        self.rate = rate
        self.rotate_bytes = rotate_bytes
        self.keep = keep
        self.url = url
        self.positions = positions
        self.generations: list[int] = []  # inode of each SystemOut.log we created, in order
        self.rotated: list[tuple[Path, int]] = []  # rotated files, oldest first, generation
        self.rng = random.Random(seed)
        self.maker = RecordMaker(self.rng)
        self.handle: BinaryIO | None = None
        self.size = 0
        self.last_rotation = self.maker.now
        self.status: dict[str, Any] = {
            "records": 0,
            "failures": dict.fromkeys(REASONS, 0),
            "rotations": 0,
            "copytruncates": 0,
            "recreates": 0,
            "deleted_rotated": 0,
            "split_across_rotation": 0,
            "half_lines": 0,
            "not_caught_up": 0,
            "ack": 0,
            "paused": False,
            "done": False,
        }
        self.failure_times: list[tuple[float, str, int]] = []
        self.seq = 0

    # -- files ---------------------------------------------------------------------------------
    def _open(self, head: str) -> None:
        """Open SystemOut.log for appending (as the JVM does) and write its first lines."""
        self.handle = open(self.path, "ab", buffering=0)  # noqa: SIM115 - held across writes
        st = os.fstat(self.handle.fileno())
        self.size = st.st_size
        self.generations.append(st.st_ino)
        self._write(head)

    def _write(self, text: str) -> None:
        """One unbuffered write."""
        assert self.handle is not None
        data = text.encode("utf-8")
        self.handle.write(data)
        self.size += len(data)

    def _rotated_name(self) -> Path:
        """SystemOut_yy.MM.dd_HH.mm.ss.log, one second later than the previous at least."""
        when = max(self.maker.now, self.last_rotation + timedelta(seconds=1))
        self.last_rotation = when
        self.maker.now = when
        return self.dir / f"SystemOut_{when:%y.%m.%d_%H.%M.%S}.log"

    def rotate(self) -> None:
        """WebSphere's rotation: rename, then a new file with the 'Log file started' block."""
        assert self.handle is not None
        self.handle.close()
        rotated = self._rotated_name()
        os.rename(self.path, rotated)
        self.rotated.append((rotated, len(self.generations) - 1))
        self.status["rotations"] += 1
        self._open(self.maker.started_block())
        self._retention()

    def _retention(self) -> None:
        """Delete the oldest rotated files beyond `keep`, only those the daemon has passed."""
        passed = self._saved_generation()
        while len(self.rotated) > self.keep and self.rotated[0][1] < passed:
            self.rotated.pop(0)[0].unlink()
            self.status["deleted_rotated"] += 1

    def _saved_generation(self) -> int:
        """Which of our files the daemon's saved position is in (-1: none yet)."""
        try:
            doc = json.loads(self.positions.read_text())
            inode = doc["files"][str(self.path)]["inode"]
        except (OSError, ValueError, KeyError, TypeError):
            return -1
        for generation in range(len(self.generations) - 1, -1, -1):  # inodes are reused
            if self.generations[generation] == inode:
                return generation
        return -1

    def copytruncate(self) -> None:
        """logrotate's copytruncate, once the daemon has read everything."""
        self._wait_caught_up()
        copy = self._rotated_name()
        shutil.copyfile(self.path, copy)
        self.rotated.append((copy, len(self.generations) - 1))
        os.truncate(self.path, 0)
        self.size = 0
        self.status["copytruncates"] += 1
        self._retention()

    def recreate(self) -> None:
        """Delete SystemOut.log and start a new one, once the daemon has read everything."""
        self._wait_caught_up()
        assert self.handle is not None
        self.handle.close()
        os.remove(self.path)
        self.status["recreates"] += 1
        self._open(self.maker.environment())

    def _wait_caught_up(self, timeout: float = 120.0) -> None:
        """Poll the daemon until its read position is the size of the file."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            facts = daemon_file_facts(self.url, str(self.path))
            if facts is not None and facts == (self.size, self.size):
                return
            time.sleep(0.02)
        self.status["not_caught_up"] += 1

    # -- records -------------------------------------------------------------------------------
    def _emit(self, count: int) -> None:
        """Write `count` records in a few writes, rotating at record boundaries."""
        parts: list[str] = []
        pending = 0
        for _ in range(count):
            if self.rng.random() < FAILURE_SHARE:
                first, rest, reason = self.maker.failure()
                self._book(reason)
                text = first + rest
            else:
                text = self.maker.ordinary()
            if self.size + pending + len(text) > self.rotate_bytes:
                self._flush(parts)
                parts, pending = [], 0
                self._rotation_point()
            parts.append(text)
            pending += len(text)
        self._flush(parts)
        self.status["records"] += count

    def _book(self, reason: str) -> None:
        """Ground truth: one failure of this reason, written now."""
        self.status["failures"][reason] += 1
        millis = (self.maker.now - EPOCH) // timedelta(milliseconds=1)  # as the line shows it
        self.failure_times.append((time.time(), reason, millis))

    def _rotation_point(self) -> None:
        """Rotate; one time in ten a failure's first line ends the old file (DOMAIN.md)."""
        if self.rng.random() < 0.1:
            first, rest, reason = self.maker.failure(trace=True)
            self._book(reason)
            self.status["records"] += 1
            self.status["split_across_rotation"] += 1
            self._write(first)
            self.rotate()
            self._write(rest)
        else:
            self.rotate()

    def _flush(self, parts: list[str]) -> None:
        """Write the parts; now and then in two halves cut inside a line, a moment apart."""
        text = "".join(parts)
        if not text:
            return
        if self.rng.random() < 0.2 and len(text) > 2:
            cut = self.rng.randrange(1, len(text) - 1)
            if text[cut - 1] != "\n":
                self._write(text[:cut])
                self.status["half_lines"] += 1
                time.sleep(self.rng.uniform(0.002, 0.03))  # the other half comes a moment later
                self._write(text[cut:])
                return
        self._write(text)

    # -- commands --------------------------------------------------------------------------------
    def _command(self) -> str | None:
        """The newest unhandled command of the control file."""
        try:
            doc = json.loads((self.ctl / "control.json").read_text())
        except (OSError, ValueError):
            return None
        if doc["seq"] <= self.seq:
            return None
        self.seq = doc["seq"]
        return str(doc["command"])

    def _ordinary(self) -> None:
        """One whole ordinary record (so that no failure waits for continuation lines)."""
        self._write(self.maker.ordinary())
        self.status["records"] += 1

    def _pause(self) -> None:
        """End with a whole record and half of the next; wait for resume; finish the half."""
        self._ordinary()
        line = self.maker.ordinary()
        while line.count("\n") > 1:  # a one-line record: its first half is the held line
            line = self.maker.ordinary()
        half = len(line) // 2
        self._write(line[:half])
        self.status.update(paused=True, half_bytes=len(line[:half].encode()), size=self.size)
        self._ack()
        while self._command() != "resume":
            time.sleep(0.01)
        self._write(line[half:])
        self.status["records"] += 1
        self.status["paused"] = False
        self._ack()

    def _ack(self) -> None:
        """Say which command was done."""
        self.status["ack"] = self.seq
        self._save_status()

    def _save_status(self) -> None:
        """status.json, written atomically."""
        self.status["size"] = self.size
        tmp = self.ctl / "status.json.tmp"
        tmp.write_text(json.dumps(self.status))
        os.replace(tmp, self.ctl / "status.json")

    def run(self) -> None:
        """Write until told to stop."""
        self._open(self.maker.environment())
        self._emit(200)
        self._pause()  # the daemon starts now: it reads the existing file from its start
        allowance, last = 0.0, time.monotonic()
        actions: dict[str, Callable[[], None]] = {
            "pause": self._pause,
            "copytruncate": self.copytruncate,
            "recreate": self.recreate,
        }
        while True:
            command = self._command()
            if command == "stop":
                break
            if command in actions:
                self._ordinary()
                actions[command]()
                self._ack()
                last = time.monotonic()
            now = time.monotonic()
            allowance = min(allowance + (now - last) * self.rate, self.rate * 0.05)
            last = now
            if allowance < 1:
                self._save_status()
                time.sleep(0.005)  # pacing: the next records are due a moment later
                continue
            self._emit(int(allowance))
            allowance -= int(allowance)
        self._ordinary()
        (self.ctl / "failure_times.json").write_text(json.dumps(self.failure_times))
        self.status["done"] = True
        self._ack()


# --- the daemon ------------------------------------------------------------------------------


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a GET (status 0 when nothing listens)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - local
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (OSError, urllib.error.URLError):
        return 0, ""


def http_post(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of an empty POST (status 0 when nothing listens)."""
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310 - local
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (OSError, urllib.error.URLError):
        return 0, ""


def parse_samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Exposition text as {sample name: [(labels, value)]}."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def daemon_file_facts(url: str, path: str) -> tuple[int, int] | None:
    """(read position, file size) the daemon reports for `path`, None when unreachable."""
    status, text = http_get(url + "/metrics")
    if status != 200:
        return None
    samples = parse_samples(text)
    values = []
    for name in ("stproxy_monitor_read_position_bytes", "stproxy_monitor_file_size_bytes"):
        found = [v for labels, v in samples.get(name, []) if labels.get("path") == path]
        if not found:
            return None
        values.append(int(found[0]))
    return values[0], values[1]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """`python -m stproxy_monitor run -c CONFIG`, one life at a time."""

    def __init__(self, config: Path, port: int, workdir: Path) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives = 0

    def start(self) -> None:
        """Start a new life; its event log goes to life<N>.log."""
        self.lives += 1
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with open(self.workdir / f"life{self.lives}.log", "wb") as err:
            self.proc = subprocess.Popen(
                # --log-level debug: failures of a catch-up are logged one by one at debug only
                [
                    sys.executable,
                    "-m",
                    "stproxy_monitor",
                    "run",
                    "-c",
                    str(self.config),
                    "--log-level",
                    "debug",
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=self.workdir,
                env=env,
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /-/ready answers 200 (the first poll, with any draining, is done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, "daemon exited"
            if http_get(self.url + "/-/ready", timeout=1)[0] == 200:
                return
            time.sleep(0.05)
        raise TimeoutError("daemon not ready")

    def samples(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """One scrape."""
        status, text = http_get(self.url + "/metrics")
        if status != 200:
            raise RuntimeError(f"scrape failed with status {status}")
        return parse_samples(text)

    def peak_rss_kb(self) -> int:
        """VmHWM of the daemon process."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self, sig: int, timeout: float = 60.0) -> int:
        """Send a signal, wait for the exit status."""
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Finalizer: kill a life still running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def events(self, life: int) -> Counter[tuple[int, str]]:
        """Failures a life counted, from its event log: (record time in ms, reason) each."""
        counts: Counter[tuple[int, str]] = Counter()
        for line in (self.workdir / f"life{life}.log").read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "apns_failure":
                counts[round(event["record_time"] * 1000), event["reason"]] += 1
        return counts

    def event_count(self, life: int) -> Counter[str]:
        """Failures a life counted by reason, from its event log."""
        counts: Counter[str] = Counter()
        for (_ms, reason), n in self.events(life).items():
            counts[reason] += n
        return counts


def failures_by_reason(samples: dict[str, list[tuple[dict[str, str], float]]]) -> Counter[str]:
    """stproxy_apns_connection_failures_total summed over servers."""
    counts: Counter[str] = Counter()
    for labels, value in samples.get(FAILURES, []):
        counts[labels["reason"]] += int(value)
    return counts


def file_counter(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> int:
    """A per-file self-metric summed over paths."""
    return int(sum(value for _labels, value in samples.get(name, [])))


# --- the run ---------------------------------------------------------------------------------


@dataclass
class KillRecord:
    """What is known about one SIGKILL."""

    scraped: Counter[str]
    scrape_time: float
    kill_time: float
    saves_in_gap: bool


@dataclass
class SoakResult:
    """Figures of one soak run."""

    written_records: int = 0
    written: Counter[str] = field(default_factory=Counter)
    counted: Counter[str] = field(default_factory=Counter)
    counted_by_events: Counter[str] = field(default_factory=Counter)
    # Record by record (time written in it, reason): written but counted by no life, and
    # counted more often than written. A save follows the event lines of what it covers, so
    # a record cut from a killed life's event log is read again by the next life.
    lost_records: int = 0
    extra_records: int = 0
    writer: dict[str, Any] = field(default_factory=dict)
    daemon_rotations: int = 0
    daemon_truncations: int = 0
    lives: int = 0
    term_exit_codes: list[int] = field(default_factory=list)
    term_positions: list[tuple[int, int]] = field(default_factory=list)
    term_scrape_is_final: list[bool] = field(default_factory=list)
    kills: list[KillRecord] = field(default_factory=list)
    kill_bounds: list[int] = field(default_factory=list)
    peak_rss_kb: int = 0
    seconds: float = 0.0

    @property
    def over_count(self) -> int:
        """Failures counted twice, by the scraped sums (negative: counted but never scraped)."""
        return sum(self.counted.values()) - sum(self.written.values())

    @property
    def unseen(self) -> int:
        """Failures a killed life counted (and saved) after its last scrape: never scraped."""
        return max(0, -self.over_count)

    @property
    def over_count_by_events(self) -> int:
        """Failures counted twice, by the daemon's own event logs."""
        return sum(self.counted_by_events.values()) - sum(self.written.values())


class Soak:
    """Orchestrates the writer and the daemon's lives."""

    def __init__(
        self,
        workdir: Path,
        *,
        rate: float,
        records: int,
        rotate_bytes: int,
        cycles: int,
        keep: int = 5,
        positions_interval: float = 0.5,
        poll_interval: float = 0.2,
        seed: int = 1,
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.dir = workdir
        self.logdir = workdir / "logs" / "STProxyServer"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.ctl = workdir / "ctl"
        self.ctl.mkdir(exist_ok=True)
        self.path = self.logdir / "SystemOut.log"
        self.rate, self.records, self.cycles = rate, records, cycles
        self.rotate_bytes, self.keep, self.seed = rotate_bytes, keep, seed
        self.positions_interval, self.poll_interval = positions_interval, poll_interval
        self.progress = progress
        port = free_port()
        config = workdir / "stproxy-monitor.yml"
        config.write_text(
            json.dumps(
                {
                    "listen": f"127.0.0.1:{port}",
                    "positions_file": str(workdir / "positions.json"),
                    "positions_interval": positions_interval,
                    "poll_interval": poll_interval,
                    "logs": [{"path": str(self.path)}],
                }
            )
        )
        self.daemon = Daemon(config, port, workdir)
        self.writer: subprocess.Popen[bytes] | None = None
        self.seq = 0
        self.result = SoakResult()

    # -- the writer ------------------------------------------------------------------------------
    def start_writer(self) -> None:
        """The writer subprocess."""
        self.writer = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "writer",
                str(self.logdir),
                str(self.ctl),
                f"--rate={self.rate}",
                f"--rotate-bytes={self.rotate_bytes}",
                f"--keep={self.keep}",
                f"--seed={self.seed}",
                f"--url={self.daemon.url}",
                f"--positions={self.dir / 'positions.json'}",
            ],
            cwd=self.dir,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def status(self) -> dict[str, Any]:
        """The writer's last status (empty before its first)."""
        try:
            return dict(json.loads((self.ctl / "status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def wait_status(
        self, ok: Callable[[dict[str, Any]], bool], what: str, timeout: float
    ) -> dict[str, Any]:
        """Poll the writer's status until `ok` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.writer is not None and self.writer.poll() in (None, 0), "writer died"
            status = self.status()
            if status and ok(status):
                return status
            time.sleep(0.01)
        raise TimeoutError(f"writer: {what}")

    def command(self, name: str, timeout: float = 180.0) -> dict[str, Any]:
        """Send a command to the writer and wait until it is done."""
        self.seq += 1
        tmp = self.ctl / "control.json.tmp"
        tmp.write_text(json.dumps({"seq": self.seq, "command": name}))
        os.replace(tmp, self.ctl / "control.json")
        seq = self.seq
        return self.wait_status(lambda s: s.get("ack", 0) >= seq, name, timeout)

    # -- the daemon ------------------------------------------------------------------------------
    def wait_caught_up(self, size: int, timeout: float = 120.0) -> None:
        """Until the daemon has read the current file to `size`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if daemon_file_facts(self.daemon.url, str(self.path)) == (size, size):
                return
            time.sleep(0.02)
        raise TimeoutError("daemon did not catch up")

    def end_life(self, samples: dict[str, list[tuple[dict[str, str], float]]]) -> None:
        """Book a life's last scrape."""
        self.result.counted += failures_by_reason(samples)
        self.result.daemon_rotations += file_counter(samples, "stproxy_monitor_rotations_total")
        self.result.daemon_truncations += file_counter(samples, "stproxy_monitor_truncations_total")
        self.result.peak_rss_kb = max(self.result.peak_rss_kb, self.daemon.peak_rss_kb())

    def restart_after_rotations(self, rotations: int = 2) -> None:
        """Let the writer rotate while the daemon is down, then start it again."""
        start = self.status()["rotations"]
        self.wait_status(lambda s: s["rotations"] >= start + rotations, "rotate", 120)
        self.daemon.start()
        self.daemon.wait_ready()

    def terminate(self) -> None:
        """Scrape a caught-up daemon, SIGTERM it; its last scrape must be its whole count."""
        samples = self.daemon.samples()
        self.end_life(samples)
        self.result.term_exit_codes.append(self.daemon.stop(signal.SIGTERM))
        counted = self.daemon.event_count(self.daemon.lives)
        self.result.term_scrape_is_final.append(counted == failures_by_reason(samples))

    def sigterm(self) -> None:
        """Pause the writer half-way through a line, scrape, SIGTERM, check the saved offset."""
        status = self.command("pause")
        self.wait_caught_up(status["size"])
        self.terminate()
        saved = json.loads((self.dir / "positions.json").read_text())["files"][str(self.path)]
        same_file = saved["inode"] == os.stat(self.path).st_ino
        expected = status["size"] - status["half_bytes"]
        self.result.term_positions.append((saved["offset"] if same_file else -1, expected))
        self.command("resume")
        self.restart_after_rotations()

    def sigkill(self) -> None:
        """Kill half-way between two saves of the positions file, right after a scrape."""
        positions = self.dir / "positions.json"
        before = _signature(positions)
        deadline = time.monotonic() + 30
        while _signature(positions) == before and time.monotonic() < deadline:
            time.sleep(0.002)
        saved = _signature(positions)
        seen = time.time()
        while True:  # scrape until half an interval after that save; the last scrape counts
            scrape_time = time.time()
            samples = self.daemon.samples()
            if time.time() - seen >= self.positions_interval / 2:
                break
        self.end_life(samples)
        self.daemon.stop(signal.SIGKILL)
        kill_time = time.time()
        self.result.kills.append(
            KillRecord(
                scraped=failures_by_reason(samples),
                scrape_time=scrape_time,
                kill_time=kill_time,
                saves_in_gap=_signature(positions) != saved,
            )
        )
        self.restart_after_rotations()

    # -- the whole run ---------------------------------------------------------------------------
    def run(self) -> SoakResult:
        """Writer first, then the daemon (reading the existing file from its start), events."""
        begun = time.monotonic()
        self.start_writer()
        self.wait_status(lambda s: s["paused"], "first records", 60)
        self.daemon.start()
        self.daemon.wait_ready()
        self.command("resume")
        steps = self._schedule()
        for fraction, step in steps:
            self.wait_status(_at_least(int(fraction * self.records)), "progress", 600)
            self.progress(f"{step} at {self.status()['records']} records")
            if step in ("copytruncate", "recreate"):
                self.command(step)
            else:
                getattr(self, step)()
        self.wait_status(lambda s: s["records"] >= self.records, "progress", 600)
        final = self.command("stop")
        assert self.writer is not None
        self.writer.wait(timeout=60)
        self.wait_caught_up(final["size"])
        self.terminate()
        self._book(final)
        self.result.seconds = time.monotonic() - begun
        return self.result

    def _schedule(self) -> list[tuple[float, str]]:
        """One copy-truncate, one re-create, `cycles` SIGTERMs and SIGKILLs in turn."""
        stops = 2 * self.cycles
        steps = [((i + 1) / (stops + 1), ("sigterm", "sigkill")[i % 2]) for i in range(stops)]
        steps += [(0.5 / (stops + 1), "copytruncate"), (2.5 / (stops + 1), "recreate")]
        return sorted(steps)

    def _book(self, final: dict[str, Any]) -> None:
        """Ground truth, the exact per-life counts and the bound of each SIGKILL."""
        result = self.result
        result.writer = final
        result.written_records = final["records"]
        result.written = Counter({r: n for r, n in final["failures"].items() if n})
        result.lives = self.daemon.lives
        seen: Counter[tuple[int, str]] = Counter()
        for life in range(1, self.daemon.lives + 1):
            seen += self.daemon.events(life)
        for (_ms, reason), n in seen.items():
            result.counted_by_events[reason] += n
        booked = json.loads((self.ctl / "failure_times.json").read_text())
        wrote = Counter((millis, reason) for _t, reason, millis in booked)
        result.lost_records = sum((wrote - seen).values())
        result.extra_records = sum((seen - wrote).values())
        times = [t for t, _reason, _millis in booked]
        window = self.positions_interval + 2 * self.poll_interval
        for kill in result.kills:
            result.kill_bounds.append(
                sum(1 for t in times if kill.scrape_time - window <= t <= kill.kill_time)
            )

    def close(self) -> None:
        """Finalizer: stop whatever still runs."""
        self.daemon.close()
        if self.writer is not None and self.writer.poll() is None:
            self.writer.kill()
            self.writer.wait(timeout=10)


def _at_least(records: int) -> Callable[[dict[str, Any]], bool]:
    """A status condition: the writer has written `records` records."""
    return lambda status: bool(status["records"] >= records)


def _signature(path: Path) -> tuple[int, int] | None:
    """Inode and mtime of the positions file: changes on every save (a rename)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


# --- command line ----------------------------------------------------------------------------


def report(result: SoakResult) -> str:
    """The figures, one per line."""
    written, counted = sum(result.written.values()), sum(result.counted.values())
    lines = [
        f"duration                     {result.seconds:.0f} s, {result.lives} daemon lives",
        f"records written              {result.written_records}",
        f"failures written             {written}  {dict(sorted(result.written.items()))}",
        f"failures counted (scraped)   {counted}  {dict(sorted(result.counted.items()))}",
        f"failures counted (event log) {sum(result.counted_by_events.values())} (SIGKILL may cut "
        "the last lines)",
        f"lost (record by record)      {result.lost_records}",
        f"SIGKILL: counted twice       {max(0, result.over_count)} scraped, "
        f"{result.extra_records} record by record; counted after the last scrape (never "
        f"scraped) {result.unseen}, bound {sum(result.kill_bounds)} "
        f"({len(result.kills)} kills)",
        f"SIGTERM exit codes           {result.term_exit_codes}",
        f"SIGTERM saved offsets        {result.term_positions} (saved, expected)",
        f"SIGTERM last scrape = count  {result.term_scrape_is_final}",
        f"rotations (writer / daemon)  {result.writer.get('rotations')} / "
        f"{result.daemon_rotations}, copy-truncates {result.writer.get('copytruncates')}, "
        f"re-creates {result.writer.get('recreates')}, truncations seen "
        f"{result.daemon_truncations}",
        f"half-written lines           {result.writer.get('half_lines')}, failures split "
        f"across a rotation {result.writer.get('split_across_rotation')}",
        f"daemon peak RSS (VmHWM)      {result.peak_rss_kb / 1024:.1f} MiB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`writer` runs the writer process; otherwise one soak run with a report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    writer = sub.add_parser("writer")
    writer.add_argument("directory", type=Path)
    writer.add_argument("ctl", type=Path)
    writer.add_argument("--rate", type=float, required=True)
    writer.add_argument("--rotate-bytes", type=int, required=True)
    writer.add_argument("--keep", type=int, required=True)
    writer.add_argument("--seed", type=int, required=True)
    writer.add_argument("--url", required=True)
    writer.add_argument("--positions", type=Path, required=True)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of writing")
    parser.add_argument("--rate", type=float, default=20000.0, help="records per second")
    parser.add_argument("--rotate-kb", type=int, default=512)
    parser.add_argument("--cycles", type=int, default=3, help="SIGTERMs and SIGKILLs each")
    parser.add_argument("--keep", type=int, default=5, help="rotated files kept")
    parser.add_argument("--workdir", type=Path, help="default: a fresh temporary directory")
    args = parser.parse_args(argv)
    if args.command == "writer":
        Writer(
            args.directory,
            args.ctl,
            rate=args.rate,
            rotate_bytes=args.rotate_bytes,
            keep=args.keep,
            seed=args.seed,
            url=args.url,
            positions=args.positions,
        ).run()
        return 0
    import tempfile  # noqa: PLC0415

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stproxy-soak-"))
    soak = Soak(
        workdir,
        rate=args.rate,
        records=int(args.rate * args.duration),
        rotate_bytes=args.rotate_kb * 1024,
        cycles=args.cycles,
        keep=args.keep,
        progress=lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True),
    )
    try:
        result = soak.run()
    finally:
        soak.close()
    print(report(result))
    print(f"work directory               {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
