"""No record lost, none counted twice: faults, bad input, bounded memory, and a soak."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.registry import CollectorRegistry
from support import REPO, Lives, Records, append, load_script, rotate

from stproxy_monitor.config import LogConfig, ParseOptions, load_config
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.logs.parser import Batch, LogParser
from stproxy_monitor.logs.positions import PositionStore
from stproxy_monitor.logs.reasons import REASONS
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.tailer import LogFollower, open_shared
from stproxy_monitor.logs.watcher import LogWatcher
from stproxy_monitor.metrics.collector import MonitorCollector

FIXTURE_LOGS = sorted((REPO / "fixtures" / "logs").glob("*/STProxyServer/SystemOut.log"))
DEADLINE = 30.0


def load_soak() -> ModuleType:
    """bench/soak.py by path (bench/ is not a package): the writer, the daemon, the figures."""
    return load_script(REPO / "bench" / "soak.py")


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def metric(lives_or_state: Lives | State, name: str, **labels: str) -> float | None:
    """A sample of the collector over the state (fresh registry), with watcher self-metrics."""
    registry = CollectorRegistry(auto_describe=False)
    if isinstance(lives_or_state, Lives):
        lives = lives_or_state
        collector = MonitorCollector(
            lives.state,
            clock=lives.clock,
            watcher_alive=lives.watcher.observer_alive,
            positions=lambda: lives.store,
        )
    else:
        collector = MonitorCollector(lives_or_state)
    registry.register(collector)
    return registry.get_sample_value(name, labels)


@pytest.fixture
def rec() -> Records:
    """A record writer."""
    return Records()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """`<tmp>/STProxyServer/SystemOut.log` (directory created, file not)."""
    directory = tmp_path / "STProxyServer"
    directory.mkdir()
    return directory / "SystemOut.log"


# -- faults ----------------------------------------------------------------------------------


class Permissions:
    """An opener that refuses the paths it is told to refuse (tests run as root)."""

    def __init__(self) -> None:
        self.denied: set[str] = set()

    def __call__(self, path: str) -> BinaryIO:
        """Open, or raise PermissionError as a mode 000 file would."""
        if path in self.denied:
            raise PermissionError(13, "Permission denied", path)
        return open_shared(path)


def test_unreadable_log_is_reported_and_read_once_when_readable_across_a_restart(
    tmp_path: Path, rec: Records
) -> None:
    """A log that cannot be opened counts read errors; the others go on; nothing is lost."""
    first, second = tmp_path / "a" / "SystemOut.log", tmp_path / "b" / "SystemOut.log"
    for path in (first, second):
        path.parent.mkdir()
        append(path, rec.header() + rec.failure("timed_out"))
    opener = Permissions()
    lives = Lives([first, second], tmp_path / "positions.json", watcher_args={"opener": opener})
    lives.poll()
    opener.denied.add(str(first))
    append(first, rec.failure("unknown_host"))
    append(second, rec.failure("connection_refused"))
    lives.poll()
    assert metric(lives, "stproxy_monitor_read_errors_total", path=str(first)) == 1
    assert lives.total() == Counter(timed_out=2, connection_refused=1)
    lives.stop()
    lives.start()  # still unreadable: its saved position must survive this life
    lives.poll()
    lives.stop()
    lives.start()
    opener.denied.clear()
    lives.poll()
    assert lives.total() == Counter(timed_out=2, connection_refused=1, unknown_host=1)


def test_log_that_disappears_is_reported_absent_and_its_successor_read_from_the_start(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A deleted log shows file_present 0 through a restart; the new file is read once."""
    append(log, rec.header() + rec.failure("timed_out"))
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    log.unlink()
    lives.poll()
    assert metric(lives, "stproxy_monitor_file_present", path=str(log)) == 0
    lives.stop()
    lives.start()
    lives.poll()
    assert metric(lives, "stproxy_monitor_file_present", path=str(log)) == 0
    append(log, rec.header() + rec.failure("unknown_host") + rec.info())
    lives.poll()
    lives.poll()
    assert metric(lives, "stproxy_monitor_file_present", path=str(log)) == 1
    assert lives.total() == Counter(timed_out=1, unknown_host=1)


class FakeObserver:
    """A watchdog observer that can die, or fail to start."""

    def __init__(self, fail_start: bool) -> None:
        self.alive = False
        self.fail_start = fail_start

    def start(self) -> None:
        """Start, or fail as a broken inotify would."""
        if self.fail_start:
            raise OSError(24, "inotify instance limit reached")
        self.alive = True

    def is_alive(self) -> bool:
        """Whether its thread runs."""
        return self.alive

    def schedule(self, *_args: object, **_kwargs: object) -> None:
        """Accept a watch."""

    def stop(self) -> None:
        """Stop."""
        self.alive = False

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""


def test_dead_observer_is_reported_while_the_stat_loop_keeps_reading(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """watcher_alive shows 0 while no observer runs; records are read meanwhile; it returns."""
    append(log, rec.header())
    observers: list[FakeObserver] = []
    broken = threading.Event()

    def factory() -> FakeObserver:
        observers.append(FakeObserver(fail_start=broken.is_set()))
        return observers[-1]

    state = State()
    watcher = LogWatcher(
        (LogConfig(path=str(log)),), state, observer_factory=factory, poll_interval=0.02
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(state, watcher_alive=watcher.observer_alive))

    def alive() -> float | None:
        return registry.get_sample_value("stproxy_monitor_watcher_alive")

    def failures() -> int:
        totals = state.snapshot().servers.get("STProxyServer")
        return sum(totals.failures.values()) if totals else 0

    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: alive() == 1, "the observer to run")
        broken.set()
        observers[-1].alive = False  # the observer thread dies; restarts now fail
        wait_until(lambda: alive() == 0 and len(observers) >= 2, "the death to be seen")
        append(log, rec.failure("timed_out") + rec.info())
        wait_until(lambda: failures() == 1, "the stat loop to read without an observer")
        assert alive() == 0
        broken.clear()
        wait_until(lambda: alive() == 1, "a new observer")
    finally:
        stop.set()
        watcher.wake.set()
        thread.join(timeout=DEADLINE)
    assert not thread.is_alive()
    assert failures() == 1


def test_full_disk_for_positions_is_reported_and_the_loop_goes_on(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """ENOSPC on every save: errors counted, counting goes on; once there is room, resume.

    Each poll that counted a failure tries a save too: two polls, two periodic saves.
    """
    full = threading.Event()
    full.set()

    def fsync(fd: int) -> None:
        if full.is_set():
            raise OSError(28, "No space left on device")
        os.fsync(fd)

    lives = Lives(
        [log],
        tmp_path / "positions.json",
        store_factory=lambda: PositionStore(str(tmp_path / "positions.json"), fsync=fsync),
    )
    append(log, rec.header() + rec.failure("timed_out"))
    lives.poll()
    assert lives.save() is False
    append(log, rec.failure("other") + rec.info())
    lives.poll()
    assert lives.save() is False
    assert metric(lives, "stproxy_monitor_positions_save_errors_total") == 4
    assert lives.total() == Counter(timed_out=1, other=1)
    assert not (tmp_path / "positions.json").exists()
    full.clear()
    lives.stop()
    append(log, rec.failure("unknown_host") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1, other=1, unknown_host=1)


def test_positions_in_a_directory_that_is_a_file_never_stop_the_daemon(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """An unwritable positions path (its directory is a file) fails saves, nothing else.

    Two saves fail: the one after the poll that counted the failure, and the final one.
    """
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    lives = Lives([log], blocker / "positions.json")
    append(log, rec.header() + rec.failure("timed_out"))
    lives.stop()
    assert lives.store.save_errors == 2
    assert lives.ended == Counter(timed_out=1)


class RotatingOpener:
    """An opener that lets WebSphere rotate the log between the poll's stat and its open."""

    def __init__(self, log: Path, new_content: bytes) -> None:
        self.log = log
        self.new_content = new_content
        self.armed = False

    def __call__(self, path: str) -> BinaryIO:
        """Open, after rotating once when armed."""
        if self.armed and path == str(self.log):
            self.armed = False
            rotate(self.log, 1)
            self.log.write_bytes(self.new_content)
        return open_shared(path)


def test_a_rotation_between_stat_and_open_neither_loses_nor_repeats(
    log: Path, rec: Records
) -> None:
    """The file opened must be the file stat named; a rotation in between is seen next poll."""
    append(log, rec.header() + rec.failure("timed_out"))
    opener = RotatingOpener(log, rec.rotation_block() + rec.failure("connection_refused"))
    state = State()
    follower = LogFollower(
        str(log),
        LogParser(),
        on_batch=lambda batch: state.apply(str(log), batch, now=0.0),
        on_facts=lambda facts: state.update_file(str(log), facts),
        on_counts=lambda counts: state.count_file(str(log), counts),
        opener=opener,
    )
    follower.poll(0.0)
    append(log, rec.failure("unknown_host") + rec.info())
    opener.armed = True
    for now in (1.0, 2.0, 3.0):
        follower.poll(now)
    append(log, rec.info())
    follower.poll(4.0)
    failures = state.snapshot().servers["STProxyServer"].failures
    assert failures == Counter(timed_out=1, unknown_host=1, connection_refused=1)
    assert state.snapshot().files[str(log)].truncations == 0


class PoisonParser(LogParser):
    """A parser with a bug: it raises once on a chunk holding the word POISON."""

    def __init__(self) -> None:
        super().__init__()
        self.raised = False

    def feed(self, data: bytes, now: float) -> Batch:
        """Raise the first time POISON is seen."""
        if b"POISON" in data and not self.raised:
            self.raised = True
            raise RuntimeError("parser bug")
        return super().feed(data, now)


def test_a_parser_exception_neither_rereads_nor_stops_the_file(log: Path, rec: Records) -> None:
    """Chunks read before a parser bug are not read again; the file goes on after it."""
    before = rec.header() + rec.failure("timed_out") + rec.info()
    append(log, before + rec.info("POISON") + rec.failure("unknown_host"))
    state = State()
    follower = LogFollower(
        str(log),
        PoisonParser(),
        on_batch=lambda batch: state.apply(str(log), batch, now=0.0),
        on_facts=lambda facts: state.update_file(str(log), facts),
        on_counts=lambda counts: state.count_file(str(log), counts),
        chunk_bytes=len(before),
    )
    with pytest.raises(RuntimeError):
        follower.poll(0.0)
    append(log, rec.failure("other") + rec.info())
    follower.poll(1.0)
    follower.poll(10.0)
    failures = state.snapshot().servers["STProxyServer"].failures
    assert (failures["timed_out"], failures["other"]) == (1, 1)
    assert follower.cursor.offset == log.stat().st_size


class EndlessLog:
    """A virtual log of 1 KiB blocks (a failure and a record each) behind a sparse 1 TiB file."""

    def __init__(self, block: bytes, on_read: Callable[[], None]) -> None:
        assert len(block) == 1024
        self.block = block
        self.on_read = on_read
        self.position = 0
        self.served = 0

    def __call__(self, _path: str) -> EndlessLog:
        """The opener: a fresh handle on the same content."""
        handle = EndlessLog(self.block, self.on_read)
        handle.served = self.served
        return handle

    def __enter__(self) -> EndlessLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def seek(self, offset: int) -> None:
        """Move to `offset`."""
        self.position = offset

    def read(self, size: int) -> bytes:
        """Bytes of the endless repetition of the block (a runaway read fails after 2 GiB)."""
        self.served += size
        if self.served > 2 << 30:
            raise OSError(5, "the test's read limit")
        self.on_read()
        start = self.position % 1024
        data = (self.block * (2 + size // 1024))[start : start + size]
        self.position += len(data)
        return data


def test_stop_during_an_endless_catch_up_saves_where_the_reading_stopped(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A stop request is honoured within one poll's bytes; the saved offset resumes exactly."""
    with open(log, "wb") as handle:
        handle.truncate(1 << 40)
    failure = rec.failure("timed_out")
    filler = rec.info("TRAS0017I: ")
    block = failure + filler[:-1] + b"x" * (1024 - len(failure) - len(filler)) + b"\n"
    stop = threading.Event()
    reads = 0

    def on_read() -> None:
        nonlocal reads
        reads += 1
        if reads == 3:
            stop.set()  # SIGTERM arrives in the middle of the catch-up

    opener = EndlessLog(block, on_read)
    lives = Lives([log], tmp_path / "positions.json", watcher_args={"opener": opener})
    thread = threading.Thread(target=lives.watcher.run, args=(stop,), daemon=True)
    thread.start()
    thread.join(timeout=DEADLINE)
    assert not thread.is_alive()
    saved = json.loads((tmp_path / "positions.json").read_text())["files"][str(log)]["offset"]
    assert 0 < saved < 1 << 40
    assert lives.failures_now() == Counter(timed_out=saved // 1024)
    lives.kill()  # the first life is over (it saved at its stop)
    lives.start()
    lives.poll()
    offset = metric(lives, "stproxy_monitor_read_position_bytes", path=str(log))
    assert offset is not None
    assert lives.total() == Counter(timed_out=int(offset) // 1024)


# -- end to end: reload, SIGTERM ---------------------------------------------------------------


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Starts `stproxy-monitor run -c CONFIG`; every daemon is killed in the finalizer."""
    soak = load_soak()
    started: list[Any] = []

    def start(config: Path, *, ready: bool = True) -> Any:
        port = soak.free_port()
        doc = json.loads(config.read_text())
        doc["listen"] = f"127.0.0.1:{port}"
        config.write_text(json.dumps(doc))
        daemon = soak.Daemon(config, port, tmp_path)
        started.append(daemon)
        daemon.start()
        if ready:
            daemon.wait_ready()
        return daemon

    yield start
    for daemon in started:
        daemon.close()


@pytest.mark.e2e
def test_invalid_config_on_sighup_or_reload_keeps_the_old_one(
    tmp_path: Path, log: Path, rec: Records, daemon_factory: Callable[..., Any]
) -> None:
    """SIGHUP and POST /-/reload with a broken config: reload_successful 0, logs still read."""
    soak = load_soak()
    append(log, rec.header() + rec.failure("timed_out"))
    config = tmp_path / "stproxy-monitor.json"
    config.write_text(json.dumps({"logs": [str(log)], "poll_interval": 0.1}))
    daemon = daemon_factory(config)

    def value(name: str, **labels: str) -> float | None:
        found = [v for lab, v in daemon.samples().get(name, []) if lab == labels]
        return found[0] if found else None

    reload_ok = "stproxy_monitor_config_last_reload_successful"
    failures = "stproxy_apns_connection_failures_total"
    server = {"server": "STProxyServer"}
    wait_until(lambda: value(failures, **server, reason="timed_out") == 1, "the first read")
    assert value(reload_ok) == 1
    good = config.read_text()
    config.write_text(good.replace('"poll_interval": 0.1', '"poll_interval": -1'))
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: value(reload_ok) == 0, "the failed SIGHUP reload")
    append(log, rec.failure("unknown_host"))
    wait_until(lambda: value(failures, **server, reason="unknown_host") == 1, "reading on")
    status, body = soak.http_post(daemon.url + "/-/reload")
    assert status == 500
    assert "poll_interval: must be greater than 0" in body
    assert value(reload_ok) == 0
    config.write_text(good)
    assert soak.http_post(daemon.url + "/-/reload")[0] == 200
    assert value(reload_ok) == 1
    assert value(failures, **server, reason="timed_out") == 1
    assert daemon.stop(signal.SIGTERM) == 0


@pytest.mark.e2e
def test_sigterm_while_reading_a_backlog_flushes_positions_and_exits_0(
    tmp_path: Path, log: Path, daemon_factory: Callable[..., Any]
) -> None:
    """SIGTERM in the middle of a 40 MiB first read: exit 0, the offset reached saved, exact."""
    soak = load_soak()
    maker = soak.RecordMaker(random.Random(7))  # noqa: S311 - test data
    written: Counter[str] = Counter()
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(maker.environment())
        while handle.tell() < 40 << 20:
            parts = []
            for _ in range(2000):
                first, rest, reason = maker.failure()
                written[reason] += 1
                parts.append(first + rest + maker.ordinary() * 19)
            handle.write("".join(parts))
        handle.write(maker.ordinary())
    size = log.stat().st_size
    positions = tmp_path / "positions.json"
    config = tmp_path / "stproxy-monitor.json"
    config.write_text(json.dumps({"logs": [str(log)], "positions_file": str(positions)}))
    daemon = daemon_factory(config, ready=False)  # ready comes after the first read

    def reading() -> bool:
        status, text = soak.http_get(daemon.url + "/metrics", timeout=1)
        samples = soak.parse_samples(text) if status == 200 else {}
        return bool(soak.file_counter(samples, "stproxy_monitor_records_read_total") > 0)

    wait_until(reading, "the read to begin")
    assert soak.daemon_file_facts(daemon.url, str(log))[0] < size, "the read ended too soon"
    assert daemon.stop(signal.SIGTERM) == 0
    first_life = daemon.event_count(1)
    saved = json.loads(positions.read_text())["files"][str(log)]["offset"]
    assert first_life == read_whole(log.read_bytes()[:saved], ParseOptions())[0]
    daemon.start()
    daemon.wait_ready()
    wait_until(lambda: soak.daemon_file_facts(daemon.url, str(log)) == (size, size), "the rest")
    second_life = soak.failures_by_reason(daemon.samples())
    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.event_count(2) == second_life
    assert first_life + second_life == written


# -- bad input -------------------------------------------------------------------------------


def read_whole(data: bytes, options: ParseOptions) -> tuple[Counter[str], Counter[str]]:
    """Failures by reason and records by severity of one pass over `data`."""
    state = State()
    parser = LogParser(options)
    state.apply("log", parser.feed(data, 0.0), now=0.0)
    state.apply("log", parser.finish(0.0), now=0.0)
    return totals(state)


def totals(state: State) -> tuple[Counter[str], Counter[str]]:
    """Failures by reason and records by severity over every server."""
    failures: Counter[str] = Counter()
    severities: Counter[str] = Counter()
    for server in state.snapshot().servers.values():
        failures.update(server.failures)
        severities.update(server.severities)
    return +failures, +severities


def options_for(path: Path) -> ParseOptions:
    """The fixtures' one cp1252 log."""
    return ParseOptions(encoding="cp1252" if "windows" in str(path) else "utf-8")


def follow_in_pieces(data: bytes, cuts: list[int], chunk: int, options: ParseOptions) -> State:
    """Append `data` to a real file in pieces, polling after each; a final late poll."""
    state = State()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "SystemOut.log"
        path.write_bytes(b"")
        follower = LogFollower(
            str(path),
            LogParser(options),
            on_batch=lambda batch: state.apply("log", batch, now=0.0),
            on_facts=lambda _facts: None,
            on_counts=lambda _counts: None,
            chunk_bytes=chunk,
        )
        follower.poll(0.0)
        bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
        for start, end in itertools.pairwise(bounds):
            append(path, data[start:end])
            follower.poll(0.0)  # the clock stands still: no settle_seconds between pieces
        follower.poll(60.0)
        assert follower.cursor.offset == len(data)
        follower.parser.options = options
        state.apply("log", follower.parser.finish(60.0), now=60.0)
    return state


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(FIXTURE_LOGS) - 1),
    cuts=st.lists(st.integers(min_value=0, max_value=200_000), max_size=30),
    chunk=st.sampled_from([7, 100, 4096, 1 << 20]),
    mutations=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=200_000),
            st.integers(min_value=0, max_value=8),
            st.sampled_from([b"", b"\n", b"[", b"] ", b"\x00", b"\xff\xfe", b"\r\n", b"    "]),
        ),
        max_size=6,
    ),
)
def test_real_logs_mutated_and_written_in_pieces_give_the_same_counts_as_read_whole(
    index: int, cuts: list[int], chunk: int, mutations: list[tuple[int, int, bytes]]
) -> None:
    """Any split of a real (or damaged) log into writes and reads counts what one pass counts."""
    path = FIXTURE_LOGS[index]
    data = bytearray(path.read_bytes())
    for position, delete, insert in mutations:
        at = position % (len(data) + 1)
        data[at : at + delete] = insert
    options = options_for(path)
    assert totals(follow_in_pieces(bytes(data), cuts, chunk, options)) == read_whole(
        bytes(data), options
    )


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=10),
    chunk=st.sampled_from([1, 13, 4096]),
)
def test_random_bytes_through_the_follower_never_raise(
    data: bytes, cuts: list[int], chunk: int
) -> None:
    """Arbitrary bytes written in arbitrary pieces are read to the end without an exception."""
    state = follow_in_pieces(data, cuts, chunk, ParseOptions(max_line_bytes=256))
    failures, severities = totals(state)
    assert set(failures) <= set(REASONS)
    assert all(len(letter) == 1 and letter.isupper() for letter in severities)


CONFIG_EXAMPLE = (REPO / "deploy" / "config.example.yml").read_bytes()


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300)
    | st.builds(
        lambda at, delete, insert: CONFIG_EXAMPLE[:at] + insert + CONFIG_EXAMPLE[at + delete :],
        st.integers(min_value=0, max_value=len(CONFIG_EXAMPLE)),
        st.integers(min_value=0, max_value=40),
        st.binary(max_size=12) | st.sampled_from([b": ", b"\n  - ", b"\t", b"{", b"&a", b"*a"]),
    )
)
def test_config_loader_fuzz_gives_a_config_or_config_error(data: bytes) -> None:
    """Random or damaged YAML files load to a Config or raise ConfigError, nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.problems
            assert all(isinstance(p, str) and p for p in exc.problems)


# -- bounded resources -----------------------------------------------------------------------


def test_distinct_garbage_server_names_cannot_grow_the_series(rec: Records) -> None:
    """Headers naming ever new servers in one log leave a bounded set of server labels."""
    state = State()
    parser = LogParser()
    for n in range(500):
        data = rec.header(f"Garbage{n}") + rec.failure("timed_out")
        state.apply("log", parser.feed(data, 0.0), now=0.0)
    state.apply("log", parser.finish(0.0), now=0.0)
    servers = state.snapshot().servers
    assert len(servers) <= 10
    assert sum(sum(t.failures.values()) for t in servers.values()) == 500


def test_garbage_type_letters_and_message_ids_are_a_bounded_label_set(rec: Records) -> None:
    """Severity and CLFRX labels come from one letter: at most 26 values, whatever the input."""
    rng = random.Random(3)  # noqa: S311 - test data
    lines = []
    for _ in range(5000):
        letter = chr(rng.randrange(33, 127))
        stamp = rec.stamp()
        lines.append(f"[{stamp}] 0000004e Garbage{rng.randrange(10**6):<6} {letter}   x")
        lines.append(
            f"[{stamp}] 0000004e APNSService   W   CLFRX{rng.randrange(10**4):04d}{letter}: x"
        )
    state = State()
    state.register("log", server="proxy")
    parser = LogParser()
    state.apply("log", parser.feed(("\n".join(lines) + "\n").encode(), 0.0), now=0.0)
    server = state.snapshot().servers["proxy"]
    assert 1 < len(server.severities) <= 26
    assert 1 < len(server.clfrx) <= 26
    assert all(len(k) == 1 and k.isupper() for k in (*server.severities, *server.clfrx))


def peak_parser_memory(blocks: Iterator[bytes]) -> int:
    """Peak traced bytes while a parser is fed block by block (each kind of block made once)."""
    parser = LogParser(ParseOptions(max_line_bytes=64 * 1024))
    tracemalloc.start()
    try:
        for block in blocks:
            parser.feed(block, 0.0)
            parser.idle(0.0, settle_seconds=1.0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def realistic_blocks(megabytes: int) -> Iterator[bytes]:
    """Fixture logs repeated: 1 MiB blocks of real records."""
    data = b"".join(p.read_bytes() for p in FIXTURE_LOGS if "windows" not in str(p))
    block = (data * (1 + (1 << 20) // len(data)))[: 1 << 20]
    block = block[: block.rfind(b"\n") + 1]
    for _ in range(megabytes):
        yield block


def endless_trace_blocks(megabytes: int) -> Iterator[bytes]:
    """One CLFRX0079W without a cause, then a stack trace that never ends, in 64 KiB reads."""
    rec = Records()
    yield rec.failure_head()
    block = b"\tat com.example.Loop.spin(Loop.java:42)\n" * 1600
    for _ in range(megabytes * 16):
        yield block


def long_line_blocks(megabytes: int) -> Iterator[bytes]:
    """A line without a newline that grows by 1 MiB a read."""
    block = b"x" * (1 << 20)
    for _ in range(megabytes):
        yield block


@pytest.mark.parametrize("blocks", [realistic_blocks, endless_trace_blocks, long_line_blocks])
def test_parser_memory_does_not_grow_with_the_size_of_the_log(
    blocks: Callable[[int], Iterator[bytes]],
) -> None:
    """Eight times more log does not raise the parser's peak memory beyond a small margin."""
    small = peak_parser_memory(blocks(2))
    large = peak_parser_memory(blocks(16))
    assert large <= small * 1.5 + (256 << 10), (small, large)


def test_rotations_do_not_grow_what_the_daemon_holds(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """After hundreds of rotations: one file, one server, a positions file of constant size."""
    append(log, rec.header())
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    sizes = []
    for index in range(300):
        append(log, rec.failure("timed_out") + rec.info())
        rotate(log, index)
        append(log, rec.rotation_block())
        lives.poll()
        lives.save()
        sizes.append((tmp_path / "positions.json").stat().st_size)
        for old in sorted(log.parent.glob("SystemOut_*.log"))[:-5]:
            old.unlink()
    snapshot = lives.state.snapshot()
    assert (len(snapshot.files), len(snapshot.servers)) == (1, 1)
    assert max(sizes) - min(sizes) < 64
    assert lives.total() == Counter(timed_out=300)


# -- soak ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_soak_counts_every_failure_across_sigterm_sigkill_and_rotations(tmp_path: Path) -> None:
    """Through a minute of rotations, a SIGTERM and a SIGKILL, no failure is lost.

    A writer process appends records fast (WebSphere rename rotation every 256 KiB, one
    copy-truncate, one delete and re-create, half-written lines, failures split across a
    rotation, rotations while the daemon is down, 5 rotated files kept but never one the
    daemon's saved position has not passed). The daemon saves positions every 0.5 s. Before
    the copy-truncate and before the delete, the writer pauses until the daemon has read the
    whole file: records written after the daemon's last read and before a truncation or
    deletion are destroyed before any tailer can read them, so they are not part of this
    contract. Ground truth is what the writer wrote, compared record by record. Each life's
    counter is scraped just before it is stopped. A SIGTERM comes with the writer paused
    half-way through a line and the daemon caught up: its last scrape is its whole count (its
    own event log agrees) and it saves the offset where the half line starts, so the sum
    across it is exact. Across the SIGKILL nothing is counted twice (a poll that counted a
    failure saved its position before the count was served), record by record from the event
    logs; what the killed life counted after its last scrape was saved and is never scraped
    (the blind spot of any exporter between its last scrape and its end): at most the failures
    written in one poll interval before the scrape, up to the kill.
    """
    soak_module = load_soak()
    soak = soak_module.Soak(
        tmp_path, rate=4000, records=160_000, rotate_bytes=256 << 10, cycles=1, keep=5
    )
    try:
        result = soak.run()
    finally:
        soak.close()
    print(soak_module.report(result))
    written, counted = result.written, result.counted
    assert sum(written.values()) > 5000
    assert result.term_exit_codes == [0, 0]
    assert result.term_scrape_is_final == [True, True]
    assert [saved == expected for saved, expected in result.term_positions] == [True]
    assert all(counted[reason] <= n for reason, n in written.items()), (counted, written)
    assert (result.lost_records, result.extra_records) == (0, 0)
    # Failures were counted between the periodic save and the kill: their polls saved too.
    assert [kill.saves_in_gap for kill in result.kills] == [True]
    assert result.unseen <= sum(result.kill_bounds)
    assert result.writer["rotations"] >= 20
    assert result.writer["copytruncates"] == result.writer["recreates"] == 1
    assert result.writer["not_caught_up"] == 0
    assert result.daemon_truncations >= 1
