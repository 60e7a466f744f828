"""LogFollower on real files: rotation, truncation, deletion, half lines, encodings, long lines."""

from __future__ import annotations

import io
import os
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from support import (
    APNS_CLASS,
    APNS_TEXT,
    CAUSES,
    END_BANNER,
    INDENT,
    START_BANNER,
    append,
    en_us_time,
)

from stproxy_monitor.config import ParseOptions
from stproxy_monitor.logs.parser import LogParser
from stproxy_monitor.logs.state import FileTotals, State
from stproxy_monitor.logs.tailer import LogFollower, open_shared

SERVER = "STProxyServer"
FRAMES = (
    "\tat java.net.PlainSocketImpl.socketConnect(Native Method)",
    "\tat java.net.Socket.connect(Socket.java:589)",
    f"\tat {APNS_CLASS}.startAPNS(APNSService.java:212)",
)


class Records:
    """WebSphere basic-format records (en_US, UTC) whose clock moves one second a record."""

    def __init__(self, newline: str = "\n") -> None:
        self.time = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
        self.newline = newline
        self.last_epoch = 0.0

    def stamp(self) -> str:
        """The next timestamp as an en_US JVM writes it: M/d/yy H:mm:ss:SSS z."""
        self.time += timedelta(seconds=1, milliseconds=7)
        self.last_epoch = self.time.timestamp()
        return en_us_time(self.time)

    def lines(self, *texts: str) -> bytes:
        """Lines joined with this log's line end."""
        return "".join(text + self.newline for text in texts).encode()

    def first_line(
        self, kind: str, text: str, *, logger: str = "WsServerImpl", thread: str = "00000001"
    ) -> str:
        """`[time] thread shortName(13) T   text` (the short layout)."""
        return f"[{self.stamp()}] {thread} {logger[:13]:<13} {kind}   {text}"

    def record(self, kind: str, text: str, *, logger: str = "WsServerImpl") -> bytes:
        """One single-line record."""
        return self.lines(self.first_line(kind, text, logger=logger))

    def info(self, text: str = "TRAS0017I: The startup trace state is *=info.") -> bytes:
        """An I record."""
        return self.record("I", text, logger="ManagerAdmin")

    def failure_first_line(self, reason: str | None, *, layout: str = "short") -> str:
        """The first line of a CLFRX0079W record; reason None leaves the cause out."""
        text = f"CLFRX0079W: {APNS_TEXT}"
        if reason is not None:
            text += " " + CAUSES[reason][0]
        if layout == "long":
            return f"[{self.stamp()}] 0000004e {'APNSService':<13} W {APNS_CLASS} startAPNS {text}"
        return self.first_line("W", text, logger="APNSService", thread="0000004e")

    @staticmethod
    def trace(reason: str) -> list[str]:
        """The continuation lines of a failure: exception, then tab-indented frames."""
        return [INDENT + CAUSES[reason][1], *FRAMES]

    def failure(self, reason: str, *, layout: str = "short", style: str = "inline") -> bytes:
        """A whole CLFRX0079W record: cause inline, inline plus trace, or only in the trace."""
        first = self.failure_first_line(None if style == "continuation" else reason, layout=layout)
        rest = [] if style == "inline" else self.trace(reason)
        return self.lines(first, *rest)

    def header(self, server: str, cell: str = "stproxyCell", node: str = "stproxyNode") -> bytes:
        """The block a server start appends: names cell, node and server."""
        return self.lines(
            START_BANNER,
            "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
            f"{cell}\\{node}\\{server} and process id 4711",
            "Java version = 1.8.0_161",
            END_BANNER,
        )

    def rotation_block(self) -> bytes:
        """The three lines a file created by rotation starts with."""
        return self.lines(START_BANNER, f"Log file started at: [{self.stamp()}]", END_BANNER)


class Followed:
    """A LogFollower on a real path feeding a real State, polled with an injected clock."""

    def __init__(self, path: Path, *, options: ParseOptions | None = None, **kwargs: object):
        self.path = str(path)
        self.state = State()
        self.state.register(self.path)
        self.now = 1_000_000.0
        self.follower = LogFollower(
            self.path,
            LogParser(options),
            on_batch=lambda batch: self.state.apply(self.path, batch, now=self.now),
            on_facts=lambda facts: self.state.update_file(self.path, facts),
            on_counts=lambda counts: self.state.count_file(self.path, counts, now=self.now),
            **kwargs,  # type: ignore[arg-type]
        )

    def poll(self, advance: float = 0.1) -> int:
        """One poll, `advance` seconds after the previous one; returns bytes read."""
        self.now += advance
        return self.follower.poll(self.now)

    def settle(self) -> int:
        """A poll well after settle_seconds: a failure waiting for continuation lines is out."""
        return self.poll(advance=5.0)

    def failures(self, server: str = SERVER) -> dict[str, int]:
        """CLFRX0079W counts by reason for a server."""
        totals = self.state.snapshot().servers.get(server)
        return dict(+totals.failures) if totals else {}

    def severities(self, server: str = SERVER) -> dict[str, int]:
        """Record counts by event type letter for a server."""
        totals = self.state.snapshot().servers.get(server)
        return dict(+totals.severities) if totals else {}

    @property
    def file(self) -> FileTotals:
        """Reader facts and counters of the followed path."""
        return self.state.snapshot().files[self.path]


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """`<tmp>/STProxyServer/SystemOut.log`, the directory created, the file not."""
    directory = tmp_path / SERVER
    directory.mkdir()
    return directory / "SystemOut.log"


@pytest.fixture
def rec() -> Records:
    """A fresh record writer (LF line ends)."""
    return Records()


def rotate(path: Path, stamp: str) -> Path:
    """WebSphere rotation: rename SystemOut.log to SystemOut_<stamp>.log; return the new name."""
    rotated = path.with_name(f"SystemOut_{stamp}.log")
    os.rename(path, rotated)
    return rotated


# -- reading and re-reading -------------------------------------------------------------------


def test_reads_the_file_from_its_start_then_only_what_is_appended(
    log_path: Path, rec: Records
) -> None:
    """A first poll reads the whole file; later polls read only the appended bytes."""
    first = rec.info() + rec.failure("connection_refused") + rec.info()
    log_path.write_bytes(first)
    f = Followed(log_path)

    assert f.poll() == len(first)
    assert f.failures() == {"connection_refused": 1}
    assert f.severities() == {"I": 2, "W": 1}

    more = rec.failure("timed_out", layout="long", style="trace")
    append(log_path, more)
    assert f.poll() == len(more)
    assert f.poll() == 0
    f.settle()
    assert f.failures() == {"connection_refused": 1, "timed_out": 1}
    assert f.severities() == {"I": 2, "W": 2}
    file = f.file
    assert (file.bytes, file.position, file.size) == (len(first + more),) * 3
    assert (file.lines, file.records, file.present) == (8, 4, True)
    assert (file.rotations, file.truncations, file.read_errors) == (0, 0, 0)


def test_failure_without_a_cause_waits_for_continuation_lines_then_settles(
    log_path: Path, rec: Records
) -> None:
    """A CLFRX0079W whose cause is not on its first line is counted once settled, not before."""
    log_path.write_bytes(rec.lines(rec.failure_first_line(None)))
    f = Followed(log_path, settle_seconds=1.0)
    f.poll()
    f.poll(advance=0.5)
    assert f.failures() == {}

    append(log_path, rec.lines(*Records.trace("unknown_host")))
    f.poll(advance=0.5)
    assert f.failures() == {"unknown_host": 1}

    append(log_path, rec.lines(rec.failure_first_line(None)))
    f.poll()
    assert f.failures() == {"unknown_host": 1}
    f.poll(advance=1.0)
    assert f.failures() == {"unknown_host": 1, "other": 1}
    f.settle()
    assert f.failures() == {"unknown_host": 1, "other": 1}


# -- rename rotation --------------------------------------------------------------------------


def test_rename_rotation_joins_a_record_whose_reason_tops_the_new_file(
    log_path: Path, rec: Records
) -> None:
    """Old file ends with a CLFRX0079W first line, its reason line opens the new file: one count."""
    log_path.write_bytes(rec.info() + rec.lines(rec.failure_first_line(None)))
    f = Followed(log_path)
    f.poll()
    assert f.failures() == {}

    rotate(log_path, "26.11.29_10.00.00")
    log_path.write_bytes(rec.lines(*Records.trace("timed_out")) + rec.info())
    f.poll()
    f.settle()
    f.settle()

    assert f.failures() == {"timed_out": 1}
    assert f.severities() == {"I": 2, "W": 1}
    assert (f.file.rotations, f.file.truncations) == (1, 0)
    assert f.file.position == log_path.stat().st_size


def test_rename_rotation_joins_a_record_split_around_the_log_file_started_block(
    log_path: Path, rec: Records
) -> None:
    """WebSphere's new file starts with its 'Log file started at' block, then the record's rest."""
    log_path.write_bytes(rec.info() + rec.lines(rec.failure_first_line(None)))
    f = Followed(log_path)
    f.poll()

    rotate(log_path, "26.11.29_10.00.00")
    log_path.write_bytes(rec.rotation_block() + rec.lines(*Records.trace("timed_out")) + rec.info())
    f.poll()
    f.settle()

    assert f.failures() == {"timed_out": 1}
    assert f.severities() == {"I": 2, "W": 1}
    assert f.file.rotations == 1


def test_rename_rotation_completes_a_line_the_old_file_left_without_newline(
    log_path: Path, rec: Records
) -> None:
    """Old file ends mid-line (no newline); the new file starts with the line's rest: one count."""
    line = rec.failure_first_line("connection_refused", layout="long")
    cut = len(line) - 20
    log_path.write_bytes(rec.info() + line[:cut].encode())
    f = Followed(log_path)
    f.poll()
    f.settle()
    assert f.failures() == {}

    rotate(log_path, "26.11.29_10.00.00")
    log_path.write_bytes(rec.lines(line[cut:]) + rec.info())
    f.poll()
    f.settle()

    assert f.failures() == {"connection_refused": 1}
    assert f.severities() == {"I": 2, "W": 1}
    assert f.file.rotations == 1


def test_rename_rotation_drains_what_the_old_file_got_after_the_last_poll(
    log_path: Path, rec: Records
) -> None:
    """Records written to the old file between the last poll and the rename are still counted."""
    log_path.write_bytes(rec.info())
    f = Followed(log_path)
    f.poll()
    append(log_path, rec.failure("unknown_host") + rec.failure("other", style="trace"))
    rotated = rotate(log_path, "26.11.29_10.00.00")
    log_path.write_bytes(rec.rotation_block() + rec.failure("handshake_failed"))

    f.poll()
    f.settle()
    f.settle()

    assert f.failures() == {"unknown_host": 1, "other": 1, "handshake_failed": 1}
    assert f.severities() == {"I": 1, "W": 3}
    assert f.file.rotations == 1
    assert f.file.bytes == rotated.stat().st_size + log_path.stat().st_size


def test_rotation_seen_as_a_missing_path_drains_the_renamed_file(
    log_path: Path, rec: Records
) -> None:
    """A poll between the rename and the new file: old file drained, file_present goes to 0."""
    log_path.write_bytes(rec.info())
    f = Followed(log_path)
    f.poll()
    append(log_path, rec.failure("certificate_rejected"))
    rotate(log_path, "26.11.29_10.00.00")

    f.poll()
    assert f.failures() == {"certificate_rejected": 1}
    assert (f.file.present, f.file.rotations) == (False, 1)

    log_path.write_bytes(rec.rotation_block() + rec.failure("connection_refused"))
    f.poll()
    f.settle()
    assert f.failures() == {"certificate_rejected": 1, "connection_refused": 1}
    assert (f.file.present, f.file.rotations) == (True, 1)


def test_several_rotations_between_two_polls_read_every_file_once_in_order(
    log_path: Path, rec: Records
) -> None:
    """Three rotations before one poll: every intermediate file is read, in order, nothing twice."""
    log_path.write_bytes(rec.info())
    f = Followed(log_path)
    f.poll()

    reasons = ["connection_refused", "timed_out", "unknown_host"]
    for index, reason in enumerate(reasons):
        # Each file ends with a failure whose trace (and so its reason) opens the next file:
        # a reader that skipped a file or took them out of order would get the reasons wrong.
        append(log_path, rec.info() + rec.lines(rec.failure_first_line(None)))
        rotate(log_path, f"26.11.29_10.00.0{index}")
        log_path.write_bytes(rec.rotation_block() + rec.lines(*Records.trace(reason)))
    append(log_path, rec.failure("handshake_failed"))
    last_epoch = rec.last_epoch

    f.poll()
    f.settle()
    f.settle()

    assert f.failures() == dict.fromkeys([*reasons, "handshake_failed"], 1)
    assert f.severities() == {"I": 4, "W": 4}
    assert f.state.snapshot().servers[SERVER].last_failure == pytest.approx(last_epoch)
    assert f.file.rotations == 3
    assert f.file.bytes == sum(p.stat().st_size for p in log_path.parent.iterdir())


def test_old_rotated_files_present_at_the_first_poll_are_not_read(
    log_path: Path, rec: Records
) -> None:
    """Rotated files older than the first poll are read neither by it nor by a later rotation."""
    log_path.with_name("SystemOut_26.11.28_09.00.00.log").write_bytes(rec.failure("other"))
    log_path.with_name("SystemOut_26.11.28_23.00.00.log").write_bytes(rec.failure("other"))
    log_path.write_bytes(rec.info())
    f = Followed(log_path)
    f.poll()
    rotate(log_path, "26.11.29_10.00.00")
    log_path.write_bytes(rec.rotation_block() + rec.failure("timed_out"))
    f.poll()
    f.settle()

    assert f.failures() == {"timed_out": 1}
    assert f.severities() == {"I": 1, "W": 1}


# -- truncation -------------------------------------------------------------------------------


def test_copy_truncate_with_fewer_new_bytes_than_the_old_offset(
    log_path: Path, rec: Records, tmp_path: Path
) -> None:
    """logrotate copytruncate, then a short write: restart at 0, count the new record once."""
    log_path.write_bytes(rec.info() * 3 + rec.failure("timed_out"))
    f = Followed(log_path)
    f.poll()
    shutil.copyfile(log_path, tmp_path / "SystemOut.log.1")
    os.truncate(log_path, 0)
    append(log_path, rec.failure("unknown_host"))
    assert log_path.stat().st_size < f.file.position

    f.poll()
    f.settle()

    assert f.failures() == {"timed_out": 1, "unknown_host": 1}
    assert f.severities() == {"I": 3, "W": 2}
    assert (f.file.truncations, f.file.rotations) == (1, 0)
    assert f.file.position == log_path.stat().st_size


def test_copy_truncate_with_more_new_bytes_than_the_old_offset(
    log_path: Path, rec: Records, tmp_path: Path
) -> None:
    """copytruncate, then more bytes than were read before: the new first bytes give it away."""
    log_path.write_bytes(rec.info() + rec.failure("timed_out"))
    f = Followed(log_path)
    f.poll()
    old_offset = f.file.position
    shutil.copyfile(log_path, tmp_path / "SystemOut.log.1")
    os.truncate(log_path, 0)
    append(log_path, rec.info() * 5 + rec.failure("connection_refused", style="trace"))
    assert log_path.stat().st_size > old_offset

    f.poll()
    f.settle()

    assert f.failures() == {"timed_out": 1, "connection_refused": 1}
    assert f.severities() == {"I": 6, "W": 2}
    assert (f.file.truncations, f.file.rotations) == (1, 0)


def test_copy_truncate_seen_while_the_file_is_empty(
    log_path: Path, rec: Records, tmp_path: Path
) -> None:
    """A poll that finds the truncated file still empty counts one truncation, then reads on."""
    log_path.write_bytes(rec.failure("timed_out"))
    f = Followed(log_path)
    f.poll()
    shutil.copyfile(log_path, tmp_path / "SystemOut.log.1")
    os.truncate(log_path, 0)
    f.poll()
    assert (f.file.truncations, f.file.position, f.file.size) == (1, 0, 0)

    append(log_path, rec.failure("timed_out"))
    f.poll()
    f.poll()
    assert f.failures() == {"timed_out": 2}
    assert f.file.truncations == 1


def test_truncation_in_place_rewrites_the_same_inode(log_path: Path, rec: Records) -> None:
    """Opening the log with O_TRUNC and writing anew keeps the inode: a truncation, read from 0."""
    log_path.write_bytes(rec.info() * 2 + rec.failure("other"))
    inode = log_path.stat().st_ino
    f = Followed(log_path)
    f.poll()
    f.settle()
    with open(log_path, "wb") as handle:
        handle.write(rec.failure("certificate_rejected"))
    assert log_path.stat().st_ino == inode

    f.poll()

    assert f.failures() == {"other": 1, "certificate_rejected": 1}
    assert (f.file.truncations, f.file.rotations) == (1, 0)


# -- deletion and files that do not exist yet -------------------------------------------------


def test_delete_then_re_create_seen_in_between(log_path: Path, rec: Records) -> None:
    """Deleted (seen absent), then re-created: one rotation, the new file read from its start."""
    log_path.write_bytes(rec.failure("timed_out"))
    f = Followed(log_path)
    f.poll()
    log_path.unlink()
    f.poll()
    assert (f.file.present, f.file.rotations, f.file.size, f.file.position) == (False, 1, 0, 0)

    log_path.write_bytes(rec.failure("timed_out") + rec.info())
    f.poll()
    assert f.failures() == {"timed_out": 2}
    assert (f.file.present, f.file.rotations, f.file.truncations) == (True, 1, 0)


def test_delete_and_re_create_between_two_polls(log_path: Path, rec: Records) -> None:
    """Deleted and re-created (another inode) before the next poll: the new file is read whole."""
    log_path.write_bytes(rec.failure("timed_out"))
    f = Followed(log_path)
    f.poll()
    replacement = log_path.with_name("new.tmp")
    replacement.write_bytes(rec.failure("unknown_host") + rec.info())
    log_path.unlink()
    os.rename(replacement, log_path)

    f.poll()

    assert f.failures() == {"timed_out": 1, "unknown_host": 1}
    assert f.severities() == {"W": 2, "I": 1}
    assert (f.file.rotations, f.file.truncations) == (1, 0)


def test_half_line_of_a_deleted_file_does_not_swallow_the_new_files_first_record(
    log_path: Path, rec: Records
) -> None:
    """A half line left by a deleted file is ended by the re-created file's first record."""
    log_path.write_bytes(
        rec.info() + rec.first_line("I", "SRVE0242I: [stproxy] half a li").encode()
    )
    f = Followed(log_path)
    f.poll()
    replacement = log_path.with_name("new.tmp")
    replacement.write_bytes(rec.failure("connection_refused") + rec.info())
    log_path.unlink()
    os.rename(replacement, log_path)

    f.poll()

    assert f.failures() == {"connection_refused": 1}
    assert f.severities() == {"I": 3, "W": 1}


def test_file_missing_at_the_first_poll_is_read_once_it_appears(
    log_path: Path, rec: Records
) -> None:
    """A log that does not exist yet is reported absent, then read from its start."""
    f = Followed(log_path)
    assert f.poll() == 0
    assert (f.file.present, f.file.rotations, f.file.read_errors) == (False, 0, 0)

    log_path.write_bytes(rec.failure("handshake_failed"))
    f.poll()
    assert f.failures() == {"handshake_failed": 1}
    assert (f.file.present, f.file.rotations) == (True, 0)


def test_directory_missing_at_the_first_poll(tmp_path: Path, rec: Records) -> None:
    """A log whose directory does not exist yet is absent without errors, then read."""
    path = tmp_path / "profiles" / "STPAppProfile" / "logs" / SERVER / "SystemOut.log"
    f = Followed(path)
    f.poll()
    f.poll()
    assert (f.file.present, f.file.read_errors) == (False, 0)

    path.parent.mkdir(parents=True)
    path.write_bytes(rec.info() + rec.failure("timed_out"))
    f.poll()
    assert f.failures() == {"timed_out": 1}
    assert f.severities() == {"I": 1, "W": 1}


# -- half lines, line ends, encodings, odd bytes ----------------------------------------------


def test_half_line_is_not_counted_until_its_newline_arrives(log_path: Path, rec: Records) -> None:
    """A record written in pieces counts once, when its newline is read."""
    record = rec.failure("connection_refused", layout="long")
    log_path.write_bytes(rec.info())
    f = Followed(log_path)
    f.poll()
    for piece in (record[:10], record[10:60], record[60:-1]):
        append(log_path, piece)
        assert f.poll() == len(piece)
        f.settle()
        assert f.failures() == {}
        assert f.severities() == {"I": 1}
    assert f.file.position == log_path.stat().st_size

    append(log_path, record[-1:])
    f.poll()
    f.settle()
    assert f.failures() == {"connection_refused": 1}
    assert f.severities() == {"I": 1, "W": 1}
    assert f.file.lines == 2


def test_crlf_line_ends(log_path: Path) -> None:
    """Windows CRLF logs: records, reasons from continuation lines and a CR/LF split."""
    rec = Records(newline="\r\n")
    data = rec.info() + rec.failure("timed_out", style="continuation") + rec.info()
    data += rec.failure("connection_refused", layout="long")
    log_path.write_bytes(data[:-1])  # the last CR arrives, its LF not yet
    f = Followed(log_path)
    f.poll()
    assert f.failures() == {"timed_out": 1}

    append(log_path, data[-1:])
    f.poll()
    assert f.failures() == {"timed_out": 1, "connection_refused": 1}
    assert f.severities() == {"I": 2, "W": 2}
    assert f.file.lines == 8


def test_invalid_utf8_bytes_are_replaced_not_fatal(log_path: Path, rec: Records) -> None:
    """Bytes that are not UTF-8 inside records neither crash the reader nor hide a failure."""
    bad = rec.record("O", "user \xff\xfe name").replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe\x80")
    data = bad + rec.failure("unknown_host").replace(b"APNS service", b"APNS \xe9 service")
    log_path.write_bytes(data + rec.info())
    f = Followed(log_path)
    f.poll()
    assert f.failures() == {"unknown_host": 1}
    assert f.severities() == {"O": 1, "W": 1, "I": 1}
    assert f.file.read_errors == 0


def test_windows_1252_log_with_encoding_cp1252(tmp_path: Path) -> None:
    """cp1252 bytes decode to the right server name; an unmapped byte (0x81) is not fatal."""
    rec = Records()
    path = tmp_path / "ProxyÄ" / "SystemOut.log"
    path.parent.mkdir()
    header = rec.header("STProxyServerÄ").decode().encode("cp1252")
    body = rec.record("O", "Benutzer Müller \x81 angemeldet")
    body = body.replace(b"\xc3\xbc", b"\xfc").replace(b"\xc2\x81", b"\x81")
    path.write_bytes(header + body + rec.failure("timed_out"))

    f = Followed(path, options=ParseOptions(encoding="cp1252"))
    f.poll()

    assert f.failures("STProxyServerÄ") == {"timed_out": 1}
    assert f.file.header_server == "STProxyServerÄ"


def test_nul_bytes_inside_lines(log_path: Path, rec: Records) -> None:
    """NUL bytes in a line and on lines of their own do not hide the records around them."""
    data = rec.record("O", "binary\0\0junk") + b"\0\0\0\n" + rec.failure("timed_out")
    log_path.write_bytes(data + rec.info())
    f = Followed(log_path)
    f.poll()
    assert f.failures() == {"timed_out": 1}
    assert f.severities() == {"O": 1, "W": 1, "I": 1}


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 4096, 1000])
def test_long_line_is_capped_and_counted(log_path: Path, rec: Records, chunk_bytes: int) -> None:
    """A line beyond max_line_bytes is counted in long_lines once; the records after it count."""
    long_record = rec.record("O", "x" * 20_000)
    data = rec.info() + long_record + rec.failure("timed_out") + rec.info()
    log_path.write_bytes(data)
    f = Followed(log_path, options=ParseOptions(max_line_bytes=4096), chunk_bytes=chunk_bytes)
    f.poll()
    assert f.failures() == {"timed_out": 1}
    assert f.severities() == {"I": 2, "O": 1, "W": 1}
    assert (f.file.long_lines, f.file.lines) == (1, 4)

    # Half lines after the long one are still joined right.
    tail = rec.failure("unknown_host", layout="long") + rec.info()
    append(log_path, tail[:50])
    f.poll()
    append(log_path, tail[50:])
    f.poll()
    assert f.failures() == {"timed_out": 1, "unknown_host": 1}
    assert f.severities() == {"I": 3, "O": 1, "W": 2}
    assert (f.file.long_lines, f.file.lines) == (1, 6)


def test_long_line_written_in_pieces_is_counted_once(log_path: Path, rec: Records) -> None:
    """A long line that grows over several polls is one long line, and does not eat the next."""
    log_path.write_bytes(rec.info())
    f = Followed(log_path, options=ParseOptions(max_line_bytes=1024))
    f.poll()
    line = rec.record("O", "y" * 5000)
    for start in range(0, len(line), 700):
        append(log_path, line[start : start + 700])
        f.poll()
    append(log_path, rec.failure("connection_refused"))
    f.poll()
    assert f.failures() == {"connection_refused": 1}
    assert f.severities() == {"I": 1, "O": 1, "W": 1}
    assert (f.file.long_lines, f.file.lines) == (1, 3)


# -- the server label -------------------------------------------------------------------------


def test_header_block_switches_the_server_label_for_what_follows(
    log_path: Path, rec: Records
) -> None:
    """Failures after 'running with process name cell\\node\\STProxyServer2' count for it."""
    log_path.write_bytes(rec.failure("timed_out"))
    f = Followed(log_path)
    f.poll()
    append(log_path, rec.header("STProxyServer2"))
    f.poll()
    append(log_path, rec.failure("connection_refused") + rec.info())
    f.poll()

    assert f.failures() == {"timed_out": 1}
    assert f.failures("STProxyServer2") == {"connection_refused": 1}
    assert f.severities() == {"W": 1}
    assert f.severities("STProxyServer2") == {"W": 1, "I": 1}
    assert (f.file.header_server, f.file.cell, f.file.node) == (
        "STProxyServer2",
        "stproxyCell",
        "stproxyNode",
    )


def test_header_and_records_in_one_read_count_severities_for_the_new_server(
    log_path: Path, rec: Records
) -> None:
    """A file that starts with a header block counts its records' severities for that server."""
    log_path.write_bytes(rec.header("STProxyServer2") + rec.failure("timed_out") + rec.info())
    f = Followed(log_path)
    f.poll()
    assert f.failures("STProxyServer2") == {"timed_out": 1}
    assert f.severities("STProxyServer2") == {"W": 1, "I": 1}


# -- failures that no real file can produce ---------------------------------------------------


class FlakyOpener:
    """Raises a given error for the first `failures` opens, then opens the real file."""

    def __init__(self, error: OSError, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    def __call__(self, path: str) -> BinaryIO:
        """Open like open_shared, unless it is still time to fail."""
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return open_shared(path)


def test_permission_error_on_open_is_counted_then_the_file_is_read(
    log_path: Path, rec: Records
) -> None:
    """An unreadable log counts read errors and reads nothing; once readable it is read whole."""
    log_path.write_bytes(rec.failure("timed_out"))
    opener = FlakyOpener(PermissionError(13, "Permission denied"), failures=2)
    f = Followed(log_path, opener=opener)
    assert f.poll() == 0
    assert f.poll() == 0
    assert f.failures() == {}
    assert f.file.read_errors == 2

    assert f.poll() == log_path.stat().st_size
    assert f.failures() == {"timed_out": 1}
    assert (f.file.read_errors, f.file.rotations, f.file.truncations) == (2, 0, 0)


def test_stat_error_is_counted_as_a_read_error(log_path: Path, rec: Records) -> None:
    """A stat that fails with something other than 'not found' is a read error, not an absence."""
    log_path.write_bytes(rec.failure("timed_out"))
    calls = Counter[str]()

    def failing_stat(path: str) -> os.stat_result:
        calls[path] += 1
        if calls[path] == 1:
            raise PermissionError(13, "Permission denied", path)
        return os.stat(path)

    f = Followed(log_path, stat=failing_stat)
    assert f.poll() == 0
    assert (f.file.read_errors, f.file.rotations) == (1, 0)
    f.poll()
    assert f.failures() == {"timed_out": 1}


def test_file_vanishing_between_stat_and_open_is_no_error(log_path: Path, rec: Records) -> None:
    """A log deleted right after its stat reads nothing and counts no error."""
    log_path.write_bytes(rec.failure("timed_out"))
    f = Followed(log_path, opener=FlakyOpener(FileNotFoundError(2, "gone"), failures=1))
    assert f.poll() == 0
    assert f.file.read_errors == 0
    f.poll()
    assert f.failures() == {"timed_out": 1}


def test_read_error_in_the_middle_of_a_file_keeps_the_offset(log_path: Path, rec: Records) -> None:
    """An I/O error while reading keeps what was read and resumes after it on the next poll."""
    first = rec.failure("timed_out")
    log_path.write_bytes(first + rec.failure("unknown_host"))

    class FailingRead(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= len(first):
                raise OSError(5, "Input/output error")
            return super().read(len(first))

    opens = Counter[str]()

    def opener(path: str) -> BinaryIO:
        opens["n"] += 1
        data = Path(path).read_bytes()
        return FailingRead(data) if opens["n"] == 1 else open_shared(path)

    f = Followed(log_path, opener=opener)
    assert f.poll() == len(first)
    assert f.failures() == {"timed_out": 1}
    assert f.file.read_errors == 1

    f.poll()
    assert f.failures() == {"timed_out": 1, "unknown_host": 1}
    assert f.file.position == log_path.stat().st_size


def test_a_rotated_file_deleted_before_it_was_finished_counts_lost_bytes_and_skips_nothing_later(
    log_path: Path, rec: Records
) -> None:
    """Retention deletes the file the reader is in: its rest is lost, the later files are read."""
    first = rec.info() + rec.failure("timed_out") + rec.failure("timed_out")
    log_path.write_bytes(first)
    f = Followed(log_path, poll_bytes=len(rec.info()))
    f.poll()
    assert f.follower.behind
    old = rotate(log_path, "26.11.29_10.00.00")
    log_path.write_bytes(rec.rotation_block() + rec.failure("unknown_host"))
    middle = rotate(log_path, "26.11.29_10.00.01")
    log_path.write_bytes(rec.rotation_block() + rec.failure("other"))
    old.unlink()
    while f.poll() or f.follower.behind:  # a poll reads one record's worth at most
        pass
    f.settle()
    assert f.failures() == {"unknown_host": 1, "other": 1}
    assert f.file.lost_bytes == len(first) - len(rec.info())
    assert f.file.bytes == len(rec.info()) + middle.stat().st_size + log_path.stat().st_size


def test_the_first_bytes_of_a_truncated_file_wait_until_they_tell_a_record_from_a_rest(
    log_path: Path, rec: Records
) -> None:
    """A half line held, the file truncated, one byte of a new record: not glued to the half."""
    log_path.write_bytes(rec.info() + b"[half a line")
    f = Followed(log_path)
    f.poll()
    log_path.write_bytes(b"[")
    assert f.poll() == 0  # one byte cannot tell: it waits
    failure = rec.failure("timed_out")
    log_path.write_bytes(failure)
    f.poll()
    assert f.failures() == {"timed_out": 1}
    assert f.file.truncations == 1
    assert f.file.unparsed_timestamps == 0
