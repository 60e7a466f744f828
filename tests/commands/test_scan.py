"""End-to-end tests of `stproxy-monitor scan` over fixtures/logs against ground_truth.json."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stproxy_monitor.cli import main
from stproxy_monitor.commands import scan as scan_module
from stproxy_monitor.commands.scan import read_ahead
from stproxy_monitor.logs.parser import LogParser
from stproxy_monitor.logs.reasons import REASONS

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "fixtures" / "logs"
TRUTH: dict[str, dict[str, Any]] = json.loads(
    (LOGS / "ground_truth.json").read_text(encoding="utf-8")
)
SINGLE = sorted(k for k, v in TRUTH.items() if v.get("kind") in ("systemout", "currentstatus"))
CERTIFICATE_CASES = sorted(k for k in SINGLE if TRUTH[k]["certificate_status"])


Samples = list[dict[str, Any]]


def scan_json(*args: str) -> Samples:
    """Run the real CLI's scan in-process with --format json; exit status must be 0."""
    out, err = io.StringIO(), io.StringIO()
    status = main(["scan", "--format", "json", *args], stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    assert err.getvalue() == ""
    samples: Samples = json.loads(out.getvalue())
    return samples


def encoding_args(truth: dict[str, Any]) -> list[str]:
    """The --encoding flag an operator gives for this log (cp1252 for the Windows case)."""
    return ["--encoding", truth["encoding"]] if truth["encoding"] != "utf-8" else []


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """Values of one metric keyed by one label."""
    return {s["labels"][label]: s["value"] for s in samples if s["name"] == name}


def single(samples: Samples, name: str) -> float | None:
    """The value of a metric that must have at most one sample."""
    values = [s["value"] for s in samples if s["name"] == name]
    assert len(values) <= 1, (name, values)
    return values[0] if values else None


def nonzero(counts: dict[str, float]) -> dict[str, float]:
    """A count dictionary without its zero entries."""
    return {k: v for k, v in counts.items() if v}


def assert_matches_truth(samples: Samples, truth: dict[str, Any]) -> None:
    """Every log-derived metric of a scan agrees with the generator's ground truth."""
    server_labels = {s["labels"]["server"] for s in samples if "server" in s["labels"]}
    assert server_labels == {truth["server"]}
    failures = by_label(samples, "stproxy_apns_connection_failures_total", "reason")
    assert failures == {reason: truth["apns_failures"][reason] for reason in REASONS}
    assert single(
        samples, "stproxy_apns_last_connection_failure_timestamp_seconds"
    ) == pytest.approx(truth["last_failure_timestamp"], abs=1e-3)
    assert single(samples, "stproxy_server_start_timestamp_seconds") == pytest.approx(
        truth["server_start_timestamp"], abs=1e-3
    )
    severities = by_label(samples, "stproxy_log_messages_total", "severity")
    assert nonzero(severities) == truth["records_by_severity"]
    clfrx = by_label(samples, "stproxy_clfrx_messages_total", "severity")
    assert nonzero(clfrx) == nonzero(truth["clfrx_by_severity"])
    assert (
        sum(s["value"] for s in samples if s["name"] == "stproxy_monitor_unparsed_timestamps_total")
        == truth["unparsed_timestamps"]
    )
    handshakes = by_label(samples, "stproxy_websphere_ssl_handshake_failures_total", "target")
    assert handshakes == truth["ssl_handshake_failures"]
    assert single(samples, "stproxy_apns_legacy_endpoint") == truth["legacy_endpoint"]


@pytest.mark.parametrize("key", SINGLE)
def test_scan_of_each_fixture_matches_ground_truth(key: str) -> None:
    """Failures by reason, last failure, start, severities, CLFRX counts and label match."""
    truth = TRUTH[key]
    samples = scan_json(*encoding_args(truth), str(LOGS / key))
    assert_matches_truth(samples, truth)


@pytest.mark.parametrize("key", CERTIFICATE_CASES)
def test_scan_reports_the_certificate_block_of_the_log(key: str) -> None:
    """The last certificate-status block of a log is exported with source="log"."""
    truth = TRUTH[key]["certificate_status"]
    path = str(LOGS / key)
    samples = scan_json(*encoding_args(TRUTH[key]), path)
    rows = [
        s
        for s in samples
        if s["name"] == "stproxy_apns_certificate_not_after_timestamp_seconds"
        and s["labels"]["source"] == "log"
    ]
    assert [(r["labels"]["path"], r["value"]) for r in rows] == [(path, truth["not_after"])]
    before = [
        s["value"]
        for s in samples
        if s["name"] == "stproxy_apns_certificate_not_before_timestamp_seconds"
    ]
    assert before == [truth["not_before"]]
    (info,) = (s for s in samples if s["name"] == "stproxy_apns_certificate_info")
    assert (info["labels"]["subject"], info["labels"]["issuer"]) == (
        truth["subject"],
        truth["issuer"],
    )


def test_logs_without_certificate_block_export_none() -> None:
    """A log without a certificate-status block exports no log-sourced certificate."""
    key = next(k for k in SINGLE if not TRUTH[k]["certificate_status"])
    samples = scan_json(*encoding_args(TRUTH[key]), str(LOGS / key))
    assert [s for s in samples if s["name"].startswith("stproxy_apns_certificate_")] == []


def test_header_wins_over_directory_name() -> None:
    """A log whose header names another server than its directory is labelled by the header."""
    key = next(
        k
        for k in SINGLE
        if TRUTH[k].get("header_present") and TRUTH[k]["server"] != Path(k).parent.name
    )
    samples = scan_json(str(LOGS / key))
    assert {s["labels"]["server"] for s in samples if "server" in s["labels"]} == {
        TRUTH[key]["server"]
    }


def test_rotated_set_scanned_together_matches_its_totals() -> None:
    """All files of a rotated set given together count like one stream, the split record once."""
    truth = TRUTH["rotated_set"]
    files = [str(LOGS / name) for name in truth["files"]]
    samples = scan_json(*reversed(files))  # argument order must not matter
    assert_matches_truth(samples, truth)
    assert sum(truth["apns_failures"].values()) == sum(
        sum(TRUTH[name]["apns_failures"].values()) for name in truth["files"]
    )


def test_rotated_set_split_record_keeps_its_reason() -> None:
    """The failure split by the rotation gets the reason found in its continuation lines."""
    truth = TRUTH["rotated_set"]
    split = truth["split_record"]
    per_file: dict[str, float] = defaultdict(float)
    for name in truth["files"]:
        samples = scan_json(str(LOGS / name))
        for reason, value in by_label(
            samples, "stproxy_apns_connection_failures_total", "reason"
        ).items():
            per_file[reason] += value
    together = by_label(
        scan_json(*(str(LOGS / n) for n in truth["files"])),
        "stproxy_apns_connection_failures_total",
        "reason",
    )
    assert together[split["reason"]] == truth["apns_failures"][split["reason"]]
    assert sum(together.values()) == sum(per_file.values())


def test_rotated_file_ending_mid_line_does_not_swallow_the_next_files_record(
    tmp_path: Path,
) -> None:
    """A rotated file cut mid-line keeps that line apart from the next file's first record."""
    stamp = "4/16/18 10:23:45:123 UTC"
    old = tmp_path / "STProxyServer" / "SystemOut_18.04.16_10.23.46.log"
    live = tmp_path / "STProxyServer" / "SystemOut.log"
    old.parent.mkdir()
    old.write_bytes(f"[{stamp}] 00000051 SystemOut     O INFO  [x]- cut in the mid".encode())
    live.write_bytes(
        f"[{stamp}] 0000004e APNSService   W   CLFRX0079W: Unable to establish an SSL "
        "connection to the APNS service Connection refused\n".encode()
    )
    samples = scan_json(str(live), str(old))
    assert by_label(samples, "stproxy_log_messages_total", "severity") == {"O": 1, "W": 1}
    assert (
        by_label(samples, "stproxy_apns_connection_failures_total", "reason")["connection_refused"]
        == 1
    )


def test_scan_as_a_subprocess_in_prometheus_format() -> None:
    """`python -m stproxy_monitor scan` prints the Prometheus exposition of a fixture log."""
    key = "en_US/STProxyServer/SystemOut.log"
    truth = TRUTH[key]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "stproxy_monitor", "scan", str(LOGS / key)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    samples = [
        {"name": s.name, "labels": s.labels, "value": s.value}
        for family in text_string_to_metric_families(result.stdout)
        for s in family.samples
        if not s.name.endswith("_created")
    ]
    assert_matches_truth(samples, truth)


def test_scan_json_as_a_subprocess_of_the_rotated_set() -> None:
    """The subprocess's JSON for the rotated set equals the in-process result."""
    files = [str(LOGS / name) for name in TRUTH["rotated_set"]["files"]]
    result = subprocess.run(
        [sys.executable, "-m", "stproxy_monitor", "scan", "--format", "json", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert_matches_truth(json.loads(result.stdout), TRUTH["rotated_set"])


# --- bad arguments -------------------------------------------------------------------------


def run_bad(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    status = main(["scan", *args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    """A log file that does not exist is exit status 2 with one line naming it, nothing printed."""
    missing = tmp_path / "SystemOut.log"
    assert run_bad(str(missing)) == (2, "", f"stproxy-monitor: {missing}: no such file\n")


def test_every_missing_file_is_reported(tmp_path: Path) -> None:
    """Two missing files and a good one give two messages and no output."""
    good = str(LOGS / "en_US/STProxyServer/SystemOut.log")
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    status, out, err = run_bad(str(a), good, str(b))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"stproxy-monitor: {a}: no such file",
        f"stproxy-monitor: {b}: no such file",
    ]


def test_bad_timezone_exits_2() -> None:
    """An unknown --timezone is exit status 2 with the value received."""
    good = str(LOGS / "en_US/STProxyServer/SystemOut.log")
    assert run_bad("--timezone", "Mars/Olympus", good) == (
        2,
        "",
        "stproxy-monitor: --timezone: not an IANA zone (got 'Mars/Olympus')\n",
    )


def test_bad_date_order_and_format_exit_2() -> None:
    """A --date-order or --format outside the choices is exit status 2 with argparse's reason."""
    good = str(LOGS / "en_US/STProxyServer/SystemOut.log")
    status, _, err = run_bad("--date-order", "DYM", good)
    assert status == 2
    assert "argument --date-order: invalid choice: 'DYM'" in err
    status, _, err = run_bad("--format", "xml", good)
    assert status == 2
    assert "argument --format: invalid choice: 'xml'" in err


def test_no_log_file_exits_2() -> None:
    """scan without a LOGFILE is exit status 2 naming the missing argument."""
    status, out, err = run_bad()
    assert (status, out) == (2, "")
    assert "the following arguments are required: LOGFILE" in err


def test_unknown_encoding_exits_2() -> None:
    """An --encoding Python does not know is exit status 2."""
    good = str(LOGS / "en_US/STProxyServer/SystemOut.log")
    assert run_bad("--encoding", "klingon", good) == (
        2,
        "",
        "stproxy-monitor: --encoding: not a text encoding Python knows (got 'klingon')\n",
    )


@pytest.mark.parametrize("encoding", ["undefined", "idna"])
def test_encoding_that_cannot_decode_logs_exits_2(encoding: str) -> None:
    """A codec that cannot decode log bytes is refused with exit status 2, not a traceback."""
    good = str(LOGS / "en_US/STProxyServer/SystemOut.log")
    status, _, err = run_bad("--encoding", encoding, good)
    assert status == 2
    assert "--encoding" in err


def test_hpel_server_without_systemout_exits_2() -> None:
    """An HPEL server has no SystemOut.log: scanning it is exit status 2, not an empty success."""
    truth = TRUTH["hpel/STProxyServer"]
    assert truth["systemout_log"] is None
    missing = LOGS / "hpel/STProxyServer/SystemOut.log"
    status, out, err = run_bad(str(missing))
    assert (status, out) == (2, "")
    assert str(missing) in err


def test_scan_of_a_pipe_with_short_reads_keeps_its_read_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short read is not the last one on a pipe: the next reads stay large (the buffer once
    shrank to the first read's size, and 1.2 MB took a million feeds) and nothing is lost."""
    line = (
        b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   W   CLFRX0079W: x Connection refused\n"
    )
    data = line * 20_000  # 1.7 MB
    fifo = tmp_path / "SystemOut.log"
    os.mkfifo(fifo)

    first_fed = threading.Event()

    def write() -> None:
        with fifo.open("wb") as out:
            out.write(data[:1])
            out.flush()
            first_fed.wait(timeout=30)  # the reader got the one byte alone
            out.write(data[1:])

    feeds = []
    real_feed = LogParser.feed

    def counting_feed(self: LogParser, chunk: bytes | bytearray, now: float) -> Any:
        feeds.append(len(chunk))
        first_fed.set()
        return real_feed(self, chunk, now)

    monkeypatch.setattr(LogParser, "feed", counting_feed)
    writer = threading.Thread(target=write)
    writer.start()
    state = scan_module.scan_files([str(fifo)], clock=lambda: 1.7e9)
    writer.join()
    assert feeds[0] == 1
    assert sum(feeds) == len(data)
    assert len(feeds) < 200  # pipe reads of up to 64 KiB each, not one byte each
    totals = state.snapshot()
    assert sum(sum(t.failures.values()) for t in totals.servers.values()) == 20_000


class _FailingReader(io.RawIOBase):
    """A raw file that gives `chunks` then fails like a disk error."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        del size
        if not self.chunks:
            raise OSError(5, "Input/output error")
        return self.chunks.pop(0)


def test_read_ahead_gives_chunks_in_order_then_the_read_error() -> None:
    """The reader thread's chunks come in file order; a read error is raised after them, in
    the scan's thread; the reader thread is gone afterwards."""
    got: list[bytes] = []
    with pytest.raises(OSError, match="Input/output error"):
        got.extend(read_ahead(_FailingReader([b"a\n", b"b", b"c\n"]), size=4))
    assert got == [b"a\n", b"b", b"c\n"]
    assert not [t for t in threading.enumerate() if t.name == "scan-read-ahead"]


def test_read_ahead_stops_its_thread_when_the_scan_stops_early(tmp_path: Path) -> None:
    """Leaving the loop early (an exception while parsing) ends the reader thread too."""
    path = tmp_path / "big.log"
    path.write_bytes(b"x\n" * 100_000)
    with path.open("rb", buffering=0) as handle:
        chunks = read_ahead(handle, size=1000)
        assert next(chunks) == b"x\n" * 500
        chunks.close()
    assert not [t for t in threading.enumerate() if t.name == "scan-read-ahead"]
