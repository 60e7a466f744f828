"""Positions: atomic saves, corrupt or unwritable files, and resuming across restarts."""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import REPO, Clock, Lives, Records, append, rotate

from stproxy_monitor.config import LogConfig
from stproxy_monitor.logs.files import FileIdentity
from stproxy_monitor.logs.positions import (
    FileRecord,
    Positions,
    PositionStore,
    ServerRecord,
    decode,
    encode,
    file_record,
)
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.tailer import Cursor
from stproxy_monitor.logs.watcher import LogWatcher

FIXTURE_LOGS = REPO / "fixtures" / "logs"
TRUTH = json.loads((FIXTURE_LOGS / "ground_truth.json").read_text())


def sample_positions() -> Positions:
    """A positions document with every field set."""
    record = FileRecord(
        device=64769,
        inode=1234,
        fingerprint=base64.b64encode(b"************ Start").decode(),
        offset=4096,
        header_server="STProxyServer",
        cell="stproxyCell",
        node="stproxyNode",
        certificate={
            "not_after": 1.7e9,
            "not_before": 1.6e9,
            "subject": "CN=x",
            "issuer": "CN=y",
            "md5": "ab",
        },
    )
    server = ServerRecord(
        started=1.5e9, stopped=None, running=True, last_failure=1.55e9, legacy_endpoint=True
    )
    return Positions(files={"/logs/SystemOut.log": record}, servers={"STProxyServer": server})


def leftovers(directory: Path) -> list[str]:
    """Temporary files a save left behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".positions-"))


# -- PositionStore ---------------------------------------------------------------------------


def test_save_then_load_gives_back_every_field(tmp_path: Path) -> None:
    """What is saved is what a new store loads."""
    store = PositionStore(str(tmp_path / "positions.json"))
    assert store.save(sample_positions(), now=10.0)
    assert PositionStore(store.path).load() == sample_positions()
    assert (store.saves, store.save_errors, store.last_save) == (1, 0, 10.0)


def test_save_replaces_the_file_by_rename_after_fsync(tmp_path: Path) -> None:
    """A save fsyncs a temporary file, renames it over the old one, then fsyncs the directory."""
    path = tmp_path / "positions.json"
    path.write_bytes(b"old")
    old_inode = path.stat().st_ino
    synced: list[int] = []
    store = PositionStore(str(path), fsync=lambda fd: synced.append(os.fstat(fd).st_ino))
    assert store.save(sample_positions(), now=1.0)
    assert path.stat().st_ino != old_inode
    assert synced == [path.stat().st_ino, tmp_path.stat().st_ino]
    assert decode(path.read_bytes()) == sample_positions()
    assert leftovers(tmp_path) == []


def test_missing_positions_file_is_a_fresh_start_not_an_error(tmp_path: Path) -> None:
    """No positions file: nothing resumed, nothing reported."""
    store = PositionStore(str(tmp_path / "positions.json"))
    assert store.load() == Positions()
    assert store.load_errors == 0


VALID = encode(sample_positions())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff garbage",
        VALID[: len(VALID) // 2],
        b"[]",
        b'{"version": 2, "files": {}}',
        VALID.replace(b'"offset": 4096', b'"offset": -1'),
        VALID.replace(b'"offset": 4096', b'"offset": true'),
        VALID.replace(b'"offset": 4096', b'"offset": "4096"'),
        VALID.replace(b'"inode": 1234,', b""),
        VALID.replace(b'"inode": 1234', b'"inode": 1234, "extra": 1'),
        VALID.replace(b"KioqKioq", b"!!!!"),
        VALID.replace(b'"files": {', b'"files": {"x": 1, '),
        VALID.replace(b'"running": true', b'"running": true, "color": "red"'),
        "é".encode("latin-1") + VALID,
    ],
)
def test_corrupt_positions_file_is_reported_and_replaced(tmp_path: Path, data: bytes) -> None:
    """A corrupt file loads as empty, counts a load error, and the next save replaces it."""
    path = tmp_path / "positions.json"
    path.write_bytes(data)
    store = PositionStore(str(path))
    assert store.load() == Positions()
    assert store.load_errors == 1
    assert store.save(sample_positions(), now=1.0)
    assert PositionStore(str(path)).load() == sample_positions()


def test_unreadable_positions_file_is_reported(tmp_path: Path) -> None:
    """A positions path that cannot be read (here a directory) loads as empty, reported."""
    path = tmp_path / "positions.json"
    path.mkdir()
    store = PositionStore(str(path))
    assert store.load() == Positions()
    assert store.load_errors == 1


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400) | st.builds(lambda b: VALID + b, st.binary(max_size=20)))
def test_decoding_random_bytes_fails_only_with_value_error(data: bytes) -> None:
    """Any bytes either decode to Positions or raise ValueError, nothing else."""
    try:
        positions = decode(data)
    except ValueError:
        return
    assert isinstance(positions, Positions)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["device", "inode", "fingerprint", "offset", "cell", "certificate"]),
    value=JSON_VALUES,
)
def test_a_wrong_value_in_any_field_never_crashes_the_load(field: str, value: object) -> None:
    """A saved field of the wrong type or value is rejected as a whole, never raised."""
    doc = json.loads(VALID)
    doc["files"]["/logs/SystemOut.log"][field] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "positions.json"
        path.write_text(json.dumps(doc))
        store = PositionStore(str(path))
        loaded = store.load()
    assert (loaded == Positions()) == (store.load_errors == 1)


def no_space(_fd: int) -> None:
    """An fsync on a full disk."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """ENOSPC on fsync: save returns False, counts an error, the previous positions stay."""
    path = tmp_path / "positions.json"
    assert PositionStore(str(path)).save(Positions(), now=1.0)
    store = PositionStore(str(path), fsync=no_space)
    assert store.save(sample_positions(), now=2.0) is False
    assert (store.save_errors, store.saves, store.last_save) == (1, 0, None)
    assert decode(path.read_bytes()) == Positions()
    assert leftovers(tmp_path) == []


def test_save_succeeds_again_once_the_disk_has_room(tmp_path: Path) -> None:
    """After a failed save the next one writes the file."""
    failures = [no_space]
    store = PositionStore(
        str(tmp_path / "positions.json"),
        fsync=lambda fd: failures.pop()(fd) if failures else os.fsync(fd),
    )
    assert store.save(sample_positions(), now=1.0) is False
    assert store.save(sample_positions(), now=2.0) is True
    assert (store.save_errors, store.saves, store.last_save) == (1, 1, 2.0)
    assert PositionStore(store.path).load() == sample_positions()


@pytest.mark.parametrize("kind", ["missing directory", "file in place of the directory"])
def test_unwritable_directory_fails_the_save_without_raising(tmp_path: Path, kind: str) -> None:
    """A directory that does not exist, or is a file, fails the save; nothing is raised."""
    parent = tmp_path / "state"
    if kind != "missing directory":
        parent.write_text("not a directory")
    store = PositionStore(str(parent / "positions.json"))
    assert store.save(sample_positions(), now=1.0) is False
    assert store.save_errors == 1
    assert store.load() == Positions()


def test_saved_offset_steps_back_over_unconsumed_bytes() -> None:
    """The saved offset is the read offset minus what the parser has not turned into events."""
    cursor = Cursor(FileIdentity(1, 2, b"head"), 1000)
    record = file_record(cursor, 120)
    assert record is not None
    assert (record.offset, record.cursor()) == (880, Cursor(FileIdentity(1, 2, b"head"), 880))
    assert file_record(Cursor(None, 0), 0) is None


def test_the_inode_generation_and_the_newest_rotated_file_behind_are_saved() -> None:
    """A cursor's generation and `passed` survive the JSON; a bad generation is refused."""
    cursor = Cursor(
        FileIdentity(1, 2, b"head", 3_000_000_123), 77, "SystemOut_26.11.29_10.00.00.log"
    )
    record = file_record(cursor, 0)
    assert record is not None
    assert decode(encode(Positions(files={"/x": record}))).files["/x"].cursor() == cursor
    doc = json.loads(encode(Positions(files={"/x": record})))
    doc["files"]["/x"]["generation"] = "3"
    with pytest.raises(ValueError, match="generation"):
        decode(json.dumps(doc).encode())
    del doc["files"]["/x"]["generation"], doc["files"]["/x"]["passed"]  # an older version's
    assert decode(json.dumps(doc).encode()).files["/x"].cursor() == Cursor(
        FileIdentity(1, 2, b"head"), 77
    )


# -- resuming --------------------------------------------------------------------------------


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """`<tmp>/STProxyServer/SystemOut.log` (directory created, file not)."""
    directory = tmp_path / "STProxyServer"
    directory.mkdir()
    return directory / "SystemOut.log"


@pytest.fixture
def rec() -> Records:
    """A record writer."""
    return Records()


def test_without_positions_existing_files_are_read_from_their_start(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """The first life reads what the log already holds."""
    append(log, rec.header() + rec.failure("timed_out") + rec.failure("other") + rec.info())
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    assert lives.total() == Counter(timed_out=1, other=1)


def test_sigterm_then_restart_counts_nothing_twice(log: Path, tmp_path: Path, rec: Records) -> None:
    """Before stop + after restart = everything written, with records written while down."""
    append(log, rec.header() + rec.failure("timed_out") + rec.info())
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    append(log, rec.failure("unknown_host") + rec.info())
    lives.stop()
    append(log, rec.failure("connection_refused") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1, unknown_host=1, connection_refused=1)
    assert lives.ended == Counter(timed_out=1, unknown_host=1)


def test_legacy_endpoint_flag_survives_a_restart(log: Path, tmp_path: Path, rec: Records) -> None:
    """The binary API seen before a restart stays flagged: the record is not read again."""
    append(log, rec.header() + rec.failure("unknown_host") + rec.info())  # gateway.push.apple.com
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    assert lives.state.snapshot().servers["STProxyServer"].legacy_endpoint is True
    lives.stop()
    lives.start()
    append(log, rec.failure("timed_out"))
    lives.poll()
    assert lives.failures_now() == Counter(timed_out=1)
    assert lives.state.snapshot().servers["STProxyServer"].legacy_endpoint is True


def test_half_line_at_shutdown_is_read_again_and_counted_once(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A line without its newline at shutdown is not saved as read; the next life counts it."""
    append(log, rec.header() + rec.info())
    line = rec.failure("certificate_rejected")
    append(log, line[:30])
    lives = Lives([log], tmp_path / "positions.json")
    lives.stop()
    assert lives.ended == Counter()
    saved = json.loads((tmp_path / "positions.json").read_text())["files"][str(log)]
    assert saved["offset"] == log.stat().st_size - 30
    append(log, line[30:] + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(certificate_rejected=1)


def test_failure_waiting_for_its_trace_at_shutdown_gets_its_reason_after_restart(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A CLFRX0079W still waiting for its stack trace is saved as unread, then counted once."""
    append(log, rec.header() + rec.failure_head())
    lives = Lives([log], tmp_path / "positions.json")
    lives.stop()
    assert lives.ended == Counter()
    append(log, rec.trace("unknown_host") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(unknown_host=1)


def test_rotations_while_down_are_drained_in_order_then_the_new_file(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """The old file is found among the rotated ones and finished; later ones; then the new."""
    append(log, rec.header() + rec.failure("timed_out"))
    lives = Lives([log], tmp_path / "positions.json")
    lives.stop()
    append(log, rec.failure("other") + rec.info())
    rotate(log, 1)
    append(log, rec.rotation_block() + rec.failure("unknown_host"))
    rotate(log, 2)
    append(log, rec.rotation_block() + rec.failure("certificate_rejected") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1, other=1, unknown_host=1, certificate_rejected=1)
    assert lives.state.snapshot().files[str(log)].rotations == 2


def test_failure_split_by_a_rotation_survives_a_restart_in_between(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A failure whose first line ends the rotated file and whose trace is not written yet."""
    append(log, rec.header() + rec.info())
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    append(log, rec.failure_head())
    rotate(log, 1)
    append(log, rec.rotation_block())
    lives.stop()  # the first line is in the rotated file; the trace will follow the new block
    append(log, rec.trace("timed_out") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1)


def test_half_line_left_by_a_rotated_file_survives_a_restart(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A line cut by the rotation (its end in the new file) is saved where it starts."""
    append(log, rec.header() + rec.info())
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    line = rec.failure("unknown_host")
    append(log, line[:25])
    rotate(log, 1)
    log.write_bytes(b"")
    lives.stop()
    append(log, line[25:] + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(unknown_host=1)


def test_rotated_file_deleted_while_down_loses_only_its_unread_rest(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """If retention removed the old file, the new file is still read from its start."""
    append(log, rec.header() + rec.failure("timed_out"))
    lives = Lives([log], tmp_path / "positions.json")
    lives.stop()
    append(log, rec.failure("other"))
    rotate(log, 1).unlink()
    append(log, rec.rotation_block() + rec.failure("unknown_host") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1, unknown_host=1)


def test_copy_truncate_while_down_reads_the_new_content_from_its_start(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A truncated file is read from 0; what was written before the copy and not read is lost."""
    append(log, rec.header() + rec.failure("timed_out") + rec.info())
    lives = Lives([log], tmp_path / "positions.json")
    lives.stop()
    append(log, rec.failure("other"))
    shutil.copyfile(log, log.with_name("SystemOut_26.11.29_10.00.01.log"))
    os.truncate(log, 0)
    append(log, rec.failure("unknown_host") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1, unknown_host=1)
    assert lives.state.snapshot().files[str(log)].truncations == 1


def test_corrupt_positions_at_start_read_from_the_start_and_replaced(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A corrupt positions file is reported, the logs are read from their start, then saved."""
    positions = tmp_path / "positions.json"
    positions.write_text("{ not json")
    append(log, rec.header() + rec.failure("timed_out"))
    lives = Lives([log], positions)
    lives.poll()
    assert lives.store.load_errors == 1
    assert lives.total() == Counter(timed_out=1)
    assert lives.save()
    assert decode(positions.read_bytes()).files[str(log)].offset == log.stat().st_size


def test_sigkill_right_after_failures_were_counted_counts_none_again(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """A poll that counted failures saved its position: killed at once, nothing is read twice.

    (It was: killed without a final save, the next life re-read from the last periodic save and
    counted unknown_host and other twice.)
    """
    append(log, rec.header() + rec.failure("timed_out"))
    lives = Lives([log], tmp_path / "positions.json")
    lives.poll()
    lives.save()
    append(log, rec.failure("unknown_host") + rec.failure("other") + rec.info())
    lives.poll()
    lives.kill()
    append(log, rec.failure("connection_refused") + rec.info())
    lives.start()
    lives.poll()
    assert lives.total() == Counter(timed_out=1, unknown_host=1, other=1, connection_refused=1)


class RecordingStore(PositionStore):
    """A store that remembers the time of every save."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.times: list[float] = []

    def save(self, positions: Positions, *, now: float) -> bool:
        """Save, and note when."""
        self.times.append(now)
        return super().save(positions, now=now)


class SteppedWatcher(LogWatcher):
    """A watcher whose every poll happens one second after the previous one."""

    def __init__(self, *args: Any, clock: Clock, on_poll: Callable[[int], None], **kw: Any):
        super().__init__(*args, clock=clock, **kw)
        self.stepped_clock = clock
        self.on_poll = on_poll
        self.polls = 0

    def poll_all(self) -> int:
        """Move the clock, let the test act, poll."""
        self.polls += 1
        self.stepped_clock.now += 1.0
        self.on_poll(self.polls)
        return super().poll_all()


def test_positions_are_saved_at_most_every_interval_and_at_shutdown(
    log: Path, tmp_path: Path, rec: Records
) -> None:
    """run() saves once per save_interval while running, after a poll that counted a failure
    (poll 12, at 1012), and once more after its final poll."""
    append(log, rec.header())
    clock = Clock(1000.0)
    store = RecordingStore(str(tmp_path / "positions.json"))
    stop = threading.Event()

    def on_poll(polls: int) -> None:
        if polls == 12:  # a record arrives, then SIGTERM
            append(log, rec.failure("timed_out"))
            stop.set()

    state = State()
    watcher = SteppedWatcher(
        (LogConfig(path=str(log)),),
        state,
        clock=clock,
        on_poll=on_poll,
        observer_factory=None,
        poll_interval=0.0,
        store=store,
        save_interval=5.0,
    )
    watcher.run(stop)
    assert store.times == [1001.0, 1006.0, 1011.0, 1012.0, 1013.0]
    saved = decode((tmp_path / "positions.json").read_bytes()).files[str(log)]
    assert saved.offset == log.stat().st_size
    assert sum(state.snapshot().servers["STProxyServer"].failures.values()) == 1


# -- any split, any restart ------------------------------------------------------------------

ROTATED_SET = [FIXTURE_LOGS / name for name in TRUTH["rotated_set"]["files"]]


def stream_of(case: str) -> tuple[list[bytes], Counter[str]]:
    """The files of a fixture case (oldest first) and the failures the generator wrote."""
    if case == "rotated":
        files, truth = ROTATED_SET, TRUTH["rotated_set"]
    else:
        key = f"{case}/STProxyServer/SystemOut.log"
        files, truth = [FIXTURE_LOGS / key], TRUTH[key]
    return [f.read_bytes() for f in files], +Counter(truth["apns_failures"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    case=st.sampled_from(["en_US", "de", "rotated"]),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=40_000),
            st.sampled_from(["poll", "poll", "save", "stop", "kill"]),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_any_split_into_writes_polls_restarts_and_rotations_counts_each_failure_once(
    case: str, steps: list[tuple[int, str]]
) -> None:
    """Writing a real log in random pieces across restarts gives its failures, none twice.

    Kills are followed by a save-less restart, so their re-reads are allowed and measured:
    without kills the total is exact; with kills nothing is lost.
    """
    files, truth = stream_of(case)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "STProxyServer" / "SystemOut.log"
        log.parent.mkdir()
        lives = Lives([log], Path(tmp) / "positions.json")
        killed = False
        for index, data in enumerate(files):
            if index:
                rotate(log, index)
            log.write_bytes(b"")
            if not index:  # the daemon runs before the log exists: it knows the first file
                lives.poll()
                lives.save()
            written = 0
            for size, action in steps:
                piece = data[written : written + size]
                append(log, piece)
                written += len(piece)
                killed |= _act(lives, action)
                if written == len(data):
                    break
            append(log, data[written:])
        lives.poll(advance=60.0)  # long after settle_seconds
        lives.stop()
        total = lives.total()
    if killed:
        assert all(total[reason] >= n for reason, n in truth.items()), (total, truth)
    else:
        assert total == truth


def _act(lives: Lives, action: str) -> bool:
    """One step of a life; True for a kill."""
    if action == "poll":
        lives.poll()
    elif action == "save":  # run() saves after a poll, never before a life's first poll
        lives.poll()
        lives.save()
    elif action == "stop":
        lives.stop()
        lives.start()
    else:
        lives.kill()
        lives.start()
        return True
    return False
