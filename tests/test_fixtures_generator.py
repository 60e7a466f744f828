"""The log fixtures generator: deterministic output and an oracle that agrees with its files."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stproxy_monitor.logs.reasons import REASONS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOGS = FIXTURES / "logs"
GENERATOR = FIXTURES / "generate_logs.py"
RECORD = re.compile(r"^\[[^\]]+\] [0-9a-fA-F]{8} .{13} ([A-Z]) ")


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    """The committed ground truth."""
    return json.loads((LOGS / "ground_truth.json").read_text(encoding="utf-8"))


def systemout_entries(truth: dict[str, Any]) -> dict[str, Any]:
    """Ground-truth entries of single SystemOut files."""
    return {key: entry for key, entry in truth.items() if entry["kind"] == "systemout"}


def lines_of(key: str, entry: dict[str, Any]) -> list[str]:
    """A fixture's lines, decoded as the ground truth says (invalid bytes escaped)."""
    data = (LOGS / key).read_bytes().decode(entry["encoding"], errors="surrogateescape")
    return data.split("\r\n" if entry["line_ending"] == "crlf" else "\n")[:-1]


def all_files(root: Path) -> dict[str, bytes]:
    """Every file under root by relative POSIX path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_generator_reproduces_committed_fixtures(tmp_path: Path) -> None:
    """A fresh run writes byte-identical files to the committed fixtures/logs."""
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True,
                   capture_output=True)
    fresh, committed = all_files(tmp_path), all_files(LOGS)
    assert sorted(fresh) == sorted(committed)
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert changed == [], "rerun `python fixtures/generate_logs.py` and commit fixtures/logs"


def test_record_lines_match_severity_counts(truth: dict[str, Any]) -> None:
    """Lines matching the record-start regex, by type letter, equal records_by_severity."""
    for key, entry in systemout_entries(truth).items():
        letters = [m[1] for line in lines_of(key, entry) if (m := RECORD.match(line))]
        counted = {letter: letters.count(letter) for letter in sorted(set(letters))}
        assert counted == entry["records_by_severity"], key
        assert len(letters) == entry["records_total"], key


def test_failure_lines_match_oracle_without_traps(truth: dict[str, Any]) -> None:
    """Without traps, record lines holding CLFRX0079W are exactly the APNS failures."""
    checked = 0
    for key, entry in systemout_entries(truth).items():
        if entry["traps"]:
            continue
        hits = [ln for ln in lines_of(key, entry) if RECORD.match(ln) and "CLFRX0079W" in ln]
        assert len(hits) == sum(entry["apns_failures"].values()), key
        checked += 1
    assert checked >= 8


def test_traps_are_present_where_declared(truth: dict[str, Any]) -> None:
    """The en_US traps are in the file: a mention outside a failure and an unreadable time."""
    key = "en_US/STProxyServer/SystemOut.log"
    entry = truth[key]
    lines = lines_of(key, entry)
    record_hits = [ln for ln in lines if RECORD.match(ln) and "CLFRX0079W" in ln]
    assert len(record_hits) == sum(entry["apns_failures"].values()) + 1  # the O-record trap
    assert any(ln.startswith("[99/99/99 ") and "CLFRX0079W" in ln for ln in lines)
    assert any("CLFRX0079W" in ln and not RECORD.match(ln) for ln in lines)
    assert entry["unparsed_timestamps"] == 1
    assert b"caf\xe9 " in (LOGS / key).read_bytes()


def test_every_reason_is_covered(truth: dict[str, Any]) -> None:
    """Each single-file case and the rotated set hold all six reasons."""
    entries = {k: e for k, e in truth.items() if e["kind"] in ("systemout", "rotated_set")}
    for key, entry in entries.items():
        assert set(entry["apns_failures"]) == set(REASONS), key
        if not key.startswith("rotated/"):
            assert all(entry["apns_failures"].values()), key


def test_rotated_set_totals_are_sums_of_its_files(truth: dict[str, Any]) -> None:
    """The rotated set counts each record once, the split one in its first line's file."""
    rotated = truth["rotated_set"]
    files = [truth[name] for name in rotated["files"]]
    for field in ("records_by_severity", "apns_failures", "clfrx_by_severity"):
        summed: dict[str, int] = {}
        for entry in files:
            for name, count in entry[field].items():
                summed[name] = summed.get(name, 0) + count
        assert {k: v for k, v in summed.items() if v} == {
            k: v for k, v in rotated[field].items() if v}, field
    assert rotated["files"][-1] == "rotated/STProxyServer/SystemOut.log"


def test_split_record_lies_across_the_rotation(truth: dict[str, Any]) -> None:
    """The old file ends with the split record's first line; the new one continues it."""
    split = truth["rotated_set"]["split_record"]
    old = lines_of(split["first_line_in"], truth[split["first_line_in"]])
    new = lines_of(split["continuation_in"], truth[split["continuation_in"]])
    assert RECORD.match(old[-1])
    assert "CLFRX0079W" in old[-1]
    assert "Log file started at: [" in new[1]
    start = split["continuation_starts_at_line"] - 1
    continuation = new[start : start + split["continuation_lines"]]
    assert continuation[0].startswith(" " * 33)
    assert all(not RECORD.match(line) for line in continuation)
    assert RECORD.match(new[start + split["continuation_lines"]])


def test_encodings_and_line_ends(truth: dict[str, Any]) -> None:
    """The Windows log is cp1252 with CRLF; the others are UTF-8 with LF only."""
    for key, entry in systemout_entries(truth).items():
        data = (LOGS / key).read_bytes()
        if entry["line_ending"] == "crlf":
            assert data.count(b"\n") == data.count(b"\r\n"), key
            assert b"\x80" in data  # the euro sign in windows-1252
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        else:
            assert b"\r" not in data, key
        assert len(data) < 200_000, key


def test_headers_name_the_server(truth: dict[str, Any]) -> None:
    """The process line names the ground truth's cell, node and server; ja proves it wins."""
    for key, entry in systemout_entries(truth).items():
        process = [ln for ln in lines_of(key, entry) if "running with process name" in ln]
        assert bool(process) == entry["header_present"], key
        for line in process:
            assert f"name {entry['cell']}\\{entry['node']}\\{entry['server']} and" in line, key
    assert truth["ja/STProxyServer/SystemOut.log"]["server"] == "STProxyServer2"
    assert truth["rotated/STProxyServer/SystemOut.log"]["cell"] is None


def test_utc_case_times_are_written_as_the_oracle_says(truth: dict[str, Any]) -> None:
    """In the UTC case the last failure and the last start are found at the oracle's times."""
    key = "en_US/STProxyServer/SystemOut.log"
    entry = truth[key]
    lines = lines_of(key, entry)
    for seconds, marker in ((entry["last_failure_timestamp"], "CLFRX0079W"),
                            (entry["server_start_timestamp"], "WSVR0001I")):
        t = datetime.fromtimestamp(seconds, tz=UTC)
        stamp = f"[{t.month}/{t.day}/{t:%y} {t.hour}:{t:%M:%S}:{t.microsecond // 1000:03d} UTC]"
        assert [ln for ln in lines if ln.startswith(stamp) and marker in ln], marker
    later = [ln for ln in lines if "CLFRX0079W" in ln and RECORD.match(ln)]
    assert lines.index(later[-1]) > lines.index(next(ln for ln in lines if "99/99/99" in ln))


def test_certificate_status_matches_the_printed_block(truth: dict[str, Any]) -> None:
    """certificate_status is the last printed block, dates at 00:00 UTC."""
    with_status = {k: e for k, e in truth.items() if e.get("certificate_status")}
    assert {"en_US/STProxyServer/SystemOut.log", "windows/STProxyServer/SystemOut.log",
            "currentstatus/STProxyServer/CurrentStatus.log"} <= set(with_status)
    for key, entry in with_status.items():
        status = entry["certificate_status"]
        last_to = [ln for ln in lines_of(key, entry) if "To (yyyy-mm-dd): " in ln][-1]
        day = datetime.strptime(last_to.rsplit(" ", 1)[1], "%Y-%m-%d").replace(tzinfo=UTC)
        assert day.timestamp() == status["not_after"], key
        assert any(ln.endswith(f"MD5: {status['md5']}") for ln in lines_of(key, entry)), key


def test_hpel_case_has_binary_logs_only(truth: dict[str, Any]) -> None:
    """The HPEL server directory has logdata/*.wbl and no SystemOut.log."""
    entry = truth["hpel/STProxyServer"]
    assert not (LOGS / "hpel/STProxyServer/SystemOut.log").exists()
    assert [str(p.relative_to(LOGS).as_posix())
            for p in (LOGS / "hpel/STProxyServer/logdata").iterdir()] == entry["wbl_files"]


def load_generator() -> Any:
    """The generator as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("generate_logs", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_logs"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_each_failure_wording_holds_one_reasons_keywords() -> None:
    """Every wording holds only its own reason's keywords (certificate ones also 'handshake')."""
    generator = load_generator()
    keywords = {
        "certificate_rejected": ("certificate_expired", "certificate_revoked",
                                 "certificate_unknown", "bad_certificate"),
        "handshake_failed": ("handshake",),
        "unknown_host": ("unknownhostexception",),
        "timed_out": ("timed out", "timeout"),
        "connection_refused": ("connection refused",),
    }
    for cause in (*generator.linux_causes(), *generator.windows_causes()):
        text = "\n".join((generator.APNS_TEXT, cause.inline, cause.exception, *cause.frames))
        found = {reason for reason, words in keywords.items()
                 if any(word in text.lower() for word in words)}
        expected = set() if cause.reason == "other" else {cause.reason}
        if cause.reason == "certificate_rejected":
            expected.add("handshake_failed")
        assert found == expected, cause
