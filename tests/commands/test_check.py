"""Tests for the check command (commands.check.plugin): states, exit codes, output, perfdata."""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import CERT_FILE_CASES, CertTree

from stproxy_monitor import cli
from stproxy_monitor.commands.check.plugin import check_command
from stproxy_monitor.commands.check.rules import perf_label, short_labels
from stproxy_monitor.config import load_config

NOW = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
T = NOW.timestamp()
CELL = "stproxyCell"

# Nagios plugin perfdata: 'label'=value[UOM];[warn];[crit];[min];[max], items separated by spaces.
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE = rf"@?(?:~|{_NUMBER})?(?::(?:{_NUMBER})?)?"
PERF_ITEM = (
    rf"'(?P<label>[^'=]+)'=(?P<value>{_NUMBER}|U)(?P<uom>s|ms|us|%|B|KB|MB|TB|c|d)?"
    rf"(?:;(?P<warn>{_RANGE})(?:;(?P<crit>{_RANGE})(?:;(?P<min>{_NUMBER})?"
    rf"(?:;(?P<max>{_NUMBER})?)?)?)?)?"
)
_ANY_ITEM = re.sub(r"\?P<\w+>", "?:", PERF_ITEM)
PERFDATA = re.compile(rf"{_ANY_ITEM}(?: {_ANY_ITEM})*")
STATUS_LINE = re.compile(r"STPROXY (?P<state>OK|WARNING|CRITICAL|UNKNOWN) - (?P<text>[^|]+?)")


# -- helpers -------------------------------------------------------------------------------


def _stamp(epoch: float) -> str:
    """A record time in the en_US basic format, e.g. ``[5/3/24 11:55:00:000 UTC]``."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"[{moment.month}/{moment.day}/{moment:%y} {moment.hour}:{moment:%M:%S}:000 UTC]"


def _header(node: str = "stproxyNode1") -> str:
    return (
        "************ Start Display Current Environment ************\n"
        "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
        f"{CELL}\\{node}\\STProxyServer and process id 1\n"
        "************* End Display Current Environment *************\n"
    )


def _started(epoch: float) -> str:
    return f"{_stamp(epoch)} 00000001 WsServerImpl  A   WSVR0001I: Server STProxyServer open for e-business\n"  # noqa: E501


def _failure(epoch: float, stamp: str | None = None) -> str:
    return (
        f"{stamp or _stamp(epoch)} 0000004e APNSService   W   CLFRX0079W: Unable to establish "
        "an SSL connection to the APNS service Connection refused: connect\n"
    )


def _write_log(path: Path, text: str, *, mtime: float = T - 60) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return str(path)


def _node_file(manifest: dict[str, Any], profile: str, node: str) -> Path:
    return (
        Path(manifest["profiles"][profile])
        / "config"
        / "cells"
        / CELL
        / "nodes"
        / node
        / "apns-prod.pkcs12"
    )


def _roll_out(manifest: dict[str, Any]) -> None:
    """Finish the fixture cell's rollout: the new certificate on every node, copies in sync,
    and the APNs roots in every trust store (node2's lacked them)."""
    new = Path(manifest["files"]["dmgr_node1"]["path"]).read_bytes()
    for profile, node in [
        ("Dmgr01", "stproxyNode2"),
        ("Dmgr01", "stproxyNode3"),
        ("STPAppProfile2", "stproxyNode2"),
    ]:
        _node_file(manifest, profile, node).write_bytes(new)
    stores = manifest["truststores"]
    trusted = Path(stores["trust_node1"]["path"]).read_bytes()
    for case in ("trust_node2", "trust_node2_copy"):
        Path(stores[case]["path"]).write_bytes(trusted)


def _age_certificates(manifest: dict[str, Any], mtime: float = T - 7200) -> None:
    """Give every certificate file of the cell one modification time."""
    for profile in manifest["profiles"].values():
        for path in Path(profile).glob("config/cells/*/nodes/*/apns-prod.pkcs12"):
            os.utime(path, (mtime, mtime))


def _config(tmp_path: Path, manifest: dict[str, Any], **data: Any) -> Path:
    """Write a config: the fixtures' thresholds plus ``data``; profiles=True adds the cell."""
    password = manifest["files"]["valid"]["password_file"]
    if data.pop("profiles", False):
        data["profiles"] = [
            {"path": path, "password_file": password} for path in manifest["profiles"].values()
        ]
    data.setdefault("warn_days", 30)
    data.setdefault("critical_days", 7)
    path = tmp_path / "check.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _certs(manifest: dict[str, Any], *cases: str) -> list[dict[str, Any]]:
    """certificates: entries for fixture files, each with its own password file."""
    entries = []
    for case in cases:
        entry = {"path": manifest["files"][case]["path"]}
        if manifest["files"][case]["password_file"]:
            entry["password_file"] = manifest["files"][case]["password_file"]
        entries.append(entry)
    return entries


def _check(
    config: Path, *, now: float = T, environ: dict[str, str] | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    status = check_command(load_config(config), now=now, environ=environ or {}, out=out)
    return status, out.getvalue()


def _perf(output: str) -> dict[str, re.Match[str]]:
    """label -> parsed item of the status line's perfdata (asserting the Nagios grammar)."""
    first = output.splitlines()[0]
    assert " | " in first, first
    perfdata = first.split(" | ", 1)[1]
    assert PERFDATA.fullmatch(perfdata), perfdata
    items = {m["label"]: m for m in re.finditer(PERF_ITEM, perfdata)}
    assert len(items) == len(re.findall(PERF_ITEM, perfdata)), "labels must be unique"
    return items


def _value(output: str, label: str) -> float:
    return float(_perf(output)[label]["value"])


def _state(output: str) -> str:
    m = STATUS_LINE.match(output)
    assert m, output
    return m["state"]


@pytest.fixture
def fine_site(tmp_path: Path, cert_tree: CertTree) -> tuple[dict[str, Any], Path]:
    """A finished rollout, certificates older than the last start, a fresh quiet log."""
    manifest = cert_tree(NOW)
    _roll_out(manifest)
    _age_certificates(manifest)
    log = _write_log(
        tmp_path / "logs" / "STProxyServer" / "SystemOut.log",
        _header() + _started(T - 3600) + _failure(T - 7200),
    )
    config = _config(
        tmp_path,
        manifest,
        profiles=True,
        certificates=_certs(manifest, "valid"),
        logs=[{"path": log}],
    )
    return manifest, config


# -- OK and the APNS failure window --------------------------------------------------------


def test_config_whose_files_are_all_fine_is_ok(fine_site: tuple[dict[str, Any], Path]) -> None:
    """Valid certificates, a completed rollout and an old failure give OK and exit 0."""
    _, config = fine_site
    status, output = _check(config)
    assert (status, _state(output)) == (0, "OK")
    assert output.count("\n") == 1, "an OK check has a single line"
    perf = _perf(output)
    assert {label: float(m["value"]) for label, m in perf.items()} == {
        "apns_failures_recent": 0,
        "days_left_min": 200.0,
        "days_left_valid.p12": 200.0,
        "days_left_Dmgr01_stproxyNode1": 200.0,
        "days_left_Dmgr01_stproxyNode2": 200.0,
        "days_left_Dmgr01_stproxyNode3": 200.0,
        "days_left_STPAppProfile1_stproxyNode1": 200.0,
        "days_left_STPAppProfile2_stproxyNode2": 200.0,
        "nodes_forgotten": 0,
        "sync_pending": 0,
        "restart_pending": 0,
        "truststores_without_apns_root": 0,
        "log_age": 60,
    }
    assert (perf["days_left_min"]["uom"], perf["days_left_min"]["warn"]) == ("d", "30:")
    assert perf["days_left_min"]["crit"] == "7:"
    assert (perf["log_age"]["uom"], perf["log_age"]["warn"]) == ("s", "3600")
    assert "no APNS failures in the last 15 min" in output


@pytest.mark.parametrize(
    ("age", "expected"),
    [(5 * 60, (2, "CRITICAL", 1)), (2 * 3600, (0, "OK", 0))],
    ids=["5min-ago", "2h-ago"],
)
def test_apns_failure_counts_only_within_the_window(
    tmp_path: Path, cert_tree: CertTree, age: float, expected: tuple[int, str, int]
) -> None:
    """A CLFRX0079W dated 5 minutes before now is CRITICAL, one dated 2 hours before is not."""
    manifest = cert_tree(NOW)
    log = _write_log(tmp_path / "STProxyServer" / "SystemOut.log", _failure(T - age))
    config = _config(tmp_path, manifest, certificates=_certs(manifest, "valid"), logs=[log])
    code, output = _check(config)
    assert (code, _state(output), _value(output, "apns_failures_recent")) == expected
    recent = expected[2]
    assert _perf(output)["apns_failures_recent"]["crit"] == "0"
    if recent:
        assert output.startswith(
            "STPROXY CRITICAL - 1 APNS connection failure (CLFRX0079W) in the last 15 min "
            "(connection_refused), the last at 2024-05-03 11:55:00Z"
        )


def test_failure_window_comes_from_the_config(tmp_path: Path, cert_tree: CertTree) -> None:
    """failure_window_minutes: 180 makes a failure 2 hours old recent again."""
    manifest = cert_tree(NOW)
    log = _write_log(tmp_path / "STProxyServer" / "SystemOut.log", _failure(T - 7200) * 3)
    config = _config(tmp_path, manifest, logs=[log], failure_window_minutes=180)
    status, output = _check(config)
    assert (status, _value(output, "apns_failures_recent")) == (2, 3)
    assert "3 APNS connection failures (CLFRX0079W) in the last 180 min" in output


def test_each_log_is_read_with_its_own_options(tmp_path: Path, cert_tree: CertTree) -> None:
    """A 'CST' time read as China time (the log's timezone) is 14 hours earlier: not recent."""
    manifest = cert_tree(NOW)
    stamp = _stamp(T - 300 - 6 * 3600).replace("UTC", "CST")  # Java's CST is UTC-6
    path = tmp_path / "STProxyServer" / "SystemOut.log"
    log = _write_log(path, _failure(0, stamp=stamp))
    as_is = _config(tmp_path, manifest, logs=[log])
    assert _check(as_is)[0] == 2
    in_china = _config(tmp_path, manifest, logs=[{"path": log, "timezone": "Asia/Shanghai"}])
    status, output = _check(in_china)
    assert (status, _value(output, "apns_failures_recent")) == (0, 0)


def test_rotated_files_of_a_glob_are_read_before_the_live_log(
    tmp_path: Path, cert_tree: CertTree
) -> None:
    """A failure in SystemOut_<date>.log counts, and log_age is the live file's age."""
    manifest = cert_tree(NOW)
    directory = tmp_path / "STProxyServer"
    _write_log(directory / "SystemOut_24.05.03_11.50.00.log", _failure(T - 400), mtime=T - 600)
    _write_log(directory / "SystemOut.log", _started(T - 300), mtime=T - 120)
    config = _config(tmp_path, manifest, logs=[str(directory / "SystemOut*.log")])
    status, output = _check(config)
    assert (status, _value(output, "apns_failures_recent"), _value(output, "log_age")) == (
        2,
        1,
        120,
    )


# -- certificates --------------------------------------------------------------------------

FILE_CASES = CERT_FILE_CASES


@pytest.mark.parametrize("case", FILE_CASES)
def test_each_certificate_file_gets_the_contract_state(
    tmp_path: Path, cert_tree: CertTree, case: str
) -> None:
    """The exit status of one file is the status the fixture manifest expects of it."""
    manifest = cert_tree(NOW)
    config = _config(tmp_path, manifest, certificates=_certs(manifest, case))
    status, output = _check(config)
    expected = manifest["files"][case]
    assert status == expected["status"]
    assert _state(output) == ["OK", "WARNING", "CRITICAL", "UNKNOWN"][status]
    name = Path(expected["path"]).name
    if expected["certificates"]:
        least = min(cert["days_left"] for cert in expected["certificates"])
        assert _value(output, f"days_left_{name}") == pytest.approx(least, abs=0.05)
    else:
        assert f"{name}: cannot read ({expected['reason']})" in output


PROBLEM_LINE = re.compile(r"^(?P<state>CRITICAL|WARNING): [^:]+: (?P<problem>[a-z_]+): ", re.M)


@pytest.mark.parametrize("case", [c for c in FILE_CASES if c not in ("wrong_password", "corrupt")])
def test_each_certificate_file_has_exactly_its_problems_in_the_output(
    tmp_path: Path, cert_tree: CertTree, case: str
) -> None:
    """One long-output line per problem the fixture has, no other; critical ones CRITICAL."""
    manifest = cert_tree(NOW)
    _, output = _check(_config(tmp_path, manifest, certificates=_certs(manifest, case)))
    found = {m["problem"]: m["state"] for m in PROBLEM_LINE.finditer(output)}
    expected = manifest["files"][case]["problems"]
    assert sorted(found) == sorted(expected)
    critical = {"no_private_key", "key_mismatch", "sandbox_only", "topic_mismatch"}
    assert all((state == "CRITICAL") == (problem in critical) for problem, state in found.items())


def test_trust_stores_of_the_cell_as_built(tmp_path: Path, cert_tree: CertTree) -> None:
    """node2's stores (without the roots, one with an impostor USERTrust) are CRITICAL."""
    manifest = cert_tree(NOW)
    stores = manifest["truststores"]
    status, output = _check(_config(tmp_path, manifest, profiles=True))
    assert status == 2
    lines = [line for line in output.splitlines()[1:] if " trust store " in line]
    bad = {
        Path(stores[case]["path"]).parent.name
        for case in ("trust_node2", "trust_node2_copy")
    }
    assert bad == {"stproxyNode2"}
    assert len(lines) == 2
    assert all(line.startswith("CRITICAL: trust store ") for line in lines)
    assert all("stproxyNode2" in line for line in lines)
    assert "2 of 4 trust stores trust APNs" in output  # Dmgr01's cell and node1 stores do


def test_configured_trust_store_with_its_password_and_a_wrong_one(
    tmp_path: Path, cert_tree: CertTree
) -> None:
    """The configured password opens the store; without it ("WebAS") the store is UNKNOWN."""
    manifest = cert_tree(NOW)
    custom = manifest["truststores"]["trust_custom_password"]
    copy = tmp_path / "copy" / "trust.p12"
    copy.parent.mkdir()
    copy.write_bytes(Path(custom["path"]).read_bytes())
    truststores = [
        {"path": custom["path"], "password_file": custom["password_file"]},
        {"path": str(copy)},
    ]
    status, output = _check(_config(tmp_path, manifest, truststores=truststores))
    assert (status, _state(output)) == (3, "UNKNOWN")
    assert "trust store trust.p12: cannot read (bad_password)" in output
    assert "1 of 1 trust store trust APNs" in output


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("expiring", "expiring.p12: expires in 20.0 days (2024-05-23)"),
        ("critical", "critical.p12: expires in 3.0 days (2024-05-06)"),
        ("expired", "expired.p12: expired 5.0 days ago (2024-04-28)"),
        ("not_yet_valid", "not_yet_valid.p12: not valid before 2024-05-13"),
        ("short_intermediate", "short_intermediate.p12 (chain certificate): expires in 25.0 days"),
    ],
)
def test_certificate_problem_is_named_on_the_status_line(
    tmp_path: Path, cert_tree: CertTree, case: str, phrase: str
) -> None:
    """The status line says which file, how many days and the end date."""
    manifest = cert_tree(NOW)
    _, output = _check(_config(tmp_path, manifest, certificates=_certs(manifest, case)))
    assert phrase in output.splitlines()[0]


def test_missing_certificate_file_and_unmatched_glob_are_unknown(
    tmp_path: Path, cert_tree: CertTree
) -> None:
    """A named file that is absent and a glob that matches nothing are UNKNOWN (3)."""
    manifest = cert_tree(NOW)
    certificates = [{"path": str(tmp_path / "absent.p12")}, {"path": str(tmp_path / "*.pfx")}]
    status, output = _check(_config(tmp_path, manifest, certificates=certificates))
    assert (status, _state(output)) == (3, "UNKNOWN")
    assert "absent.p12: cannot read (missing)" in output
    assert f"no certificate file matches {tmp_path / '*.pfx'}" in output


@pytest.mark.parametrize(
    ("cases", "status"),
    [(("expiring", "wrong_password"), 3), (("expired", "wrong_password"), 2)],
)
def test_unreadable_outranks_warning_but_not_critical(
    tmp_path: Path, cert_tree: CertTree, cases: tuple[str, ...], status: int
) -> None:
    """Worst-of order OK < WARNING < UNKNOWN < CRITICAL, as certs.worst_status."""
    manifest = cert_tree(NOW)
    assert _check(_config(tmp_path, manifest, certificates=_certs(manifest, *cases)))[0] == status


def test_thresholds_come_from_the_config(tmp_path: Path, cert_tree: CertTree) -> None:
    """warn_days: 10 makes the 20-day certificate OK, and the perfdata carry the thresholds."""
    manifest = cert_tree(NOW)
    certificates = _certs(manifest, "expiring")
    config = _config(tmp_path, manifest, certificates=certificates, warn_days=10, critical_days=2)
    status, output = _check(config)
    assert status == 0
    item = _perf(output)["days_left_expiring.p12"]
    assert (item["value"], item["uom"], item["warn"], item["crit"]) == ("20.0", "d", "10:", "2:")


# -- the cell ------------------------------------------------------------------------------


def test_generated_cell_names_forgotten_and_missing_nodes(
    tmp_path: Path, cert_tree: CertTree
) -> None:
    """Dmgr01 holds 2 certificates (node2 the old one) and no file for node3: CRITICAL."""
    manifest = cert_tree(NOW)
    # Keep certificate expiry out of it: node2's synchronized copy gets the new certificate.
    shutil.copy(manifest["files"]["node1_copy"]["path"], manifest["files"]["node2_copy"]["path"])
    config = _config(tmp_path, manifest, profiles=True, warn_days=10, critical_days=2)
    status, output = _check(config)
    assert (status, _state(output)) == (2, "CRITICAL")
    lines = output.splitlines()
    assert "CRITICAL: cell stproxyCell: no apns-prod.pkcs12 for stproxyNode3 in Dmgr01" in lines
    assert (
        "CRITICAL: cell stproxyCell: 2 different certificates in Dmgr01, stproxyNode2 not on "
        "the newest"
    ) in lines
    assert "WARNING: cell stproxyCell: full resynchronize pending for stproxyNode2" in lines
    assert (_value(output, "nodes_forgotten"), _value(output, "sync_pending")) == (2, 1)


def test_missing_node_file_alone_is_critical(tmp_path: Path, cert_tree: CertTree) -> None:
    """Every node on the new certificate but node3 without a file: still CRITICAL."""
    manifest = cert_tree(NOW)
    _roll_out(manifest)
    _node_file(manifest, "Dmgr01", "stproxyNode3").unlink()
    status, output = _check(_config(tmp_path, manifest, profiles=True))
    assert (status, _value(output, "nodes_forgotten"), _value(output, "sync_pending")) == (2, 1, 0)
    assert "no apns-prod.pkcs12 for stproxyNode3" in output.splitlines()[0]


def test_sync_pending_alone_is_warning(tmp_path: Path, cert_tree: CertTree) -> None:
    """A node profile copy with other bytes than the dmgr's master copy: WARNING (1)."""
    manifest = cert_tree(NOW)
    _roll_out(manifest)
    shutil.copy(manifest["files"]["valid"]["path"], manifest["files"]["node2_copy"]["path"])
    status, output = _check(_config(tmp_path, manifest, profiles=True))
    assert (status, _state(output)) == (1, "WARNING")
    assert (_value(output, "nodes_forgotten"), _value(output, "sync_pending")) == (0, 1)
    assert output.startswith(
        "STPROXY WARNING - cell stproxyCell: full resynchronize pending for stproxyNode2"
    )


@pytest.mark.parametrize(("start", "status", "pending"), [(T - 3600, 1, 1), (T - 60, 0, 0)])
def test_restart_pending_when_the_certificate_changed_after_the_start(
    tmp_path: Path,
    fine_site: tuple[dict[str, Any], Path],
    start: float,
    status: int,
    pending: int,
) -> None:
    """The node1 certificate in use changed 30 min ago: a start 1 h ago needs a restart."""
    manifest, config = fine_site
    os.utime(manifest["files"]["node1_copy"]["path"], (T - 1800, T - 1800))
    _write_log(tmp_path / "logs" / "STProxyServer" / "SystemOut.log", _header() + _started(start))
    code, output = _check(config)
    assert (code, _value(output, "restart_pending")) == (status, pending)
    if pending:
        assert output.startswith(
            "STPROXY WARNING - STProxyServer: restart pending (certificate file changed after "
            "the last start)"
        )


# -- logs ----------------------------------------------------------------------------------


def test_stale_log_is_warning(fine_site: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    """A log last written 2 hours ago (stale after 60 min) gives WARNING and its age."""
    _, config = fine_site
    os.utime(tmp_path / "logs" / "STProxyServer" / "SystemOut.log", (T - 7200, T - 7200))
    status, output = _check(config)
    assert (status, _value(output, "log_age")) == (1, 7200)
    assert output.startswith(
        "STPROXY WARNING - STProxyServer/SystemOut.log: not written for 2.0 h (stale after 60 min)"
    )


def test_missing_log_is_warning_and_hpel_is_named(tmp_path: Path, cert_tree: CertTree) -> None:
    """No SystemOut.log is WARNING; next to logdata/*.wbl the check says HPEL."""
    manifest = cert_tree(NOW)
    plain = tmp_path / "a" / "STProxyServer" / "SystemOut.log"
    hpel = tmp_path / "b" / "STProxyServer" / "SystemOut.log"
    (hpel.parent / "logdata").mkdir(parents=True)
    (hpel.parent / "logdata" / "log_2024.wbl").write_bytes(b"\0")
    status, output = _check(_config(tmp_path, manifest, logs=[str(plain), str(hpel)]))
    assert (status, _state(output)) == (1, "WARNING")
    assert f"WARNING: {plain}: no such log file" in output.splitlines()
    assert f"{hpel}: no such file, the server writes binary HPEL logs" in output
    assert "log_age" not in _perf(output)


# -- output, errors, secrets, the CLI -------------------------------------------------------


def test_everything_wrong_at_once_has_valid_perfdata_and_worst_first(
    tmp_path: Path, cert_tree: CertTree
) -> None:
    """With every kind of problem the perfdata still parse and long output lists worst first."""
    manifest = cert_tree(NOW)
    log = _write_log(
        tmp_path / "STProxyServer" / "SystemOut.log",
        _header() + _started(T - 86400) + _failure(T - 60),
        mtime=T - 86400,
    )
    certificates = _certs(manifest, *FILE_CASES)
    config = _config(tmp_path, manifest, profiles=True, certificates=certificates, logs=[log])
    status, output = _check(config)
    assert (status, _state(output)) == (2, "CRITICAL")
    perf = _perf(output)
    days = {label for label in perf if label.startswith("days_left_")}
    readable = len(FILE_CASES) - 2  # wrong_password and corrupt have no days left
    assert len(days) == 1 + readable + 4  # the minimum, each readable file, 4 node copies
    assert set(perf) - days == {
        "apns_failures_recent",
        "nodes_forgotten",
        "sync_pending",
        "restart_pending",
        "truststores_without_apns_root",
        "log_age",
    }
    assert perf["truststores_without_apns_root"]["value"] == "2"  # node2's, in two profiles
    states = [line.split(":", 1)[0] for line in output.splitlines()[1:-1]]
    order = ["CRITICAL", "UNKNOWN", "WARNING"]
    assert states == sorted(states, key=order.index)
    assert set(states) == set(order)
    assert output.splitlines()[-1].startswith("checked: ")
    assert "(+" in output.splitlines()[0], "more than 3 problems are summarised"


def test_no_password_reaches_the_output(tmp_path: Path, cert_tree: CertTree) -> None:
    """Passwords given by environment and by file never appear in the output."""
    manifest = cert_tree(NOW)
    profiles = [
        {"path": path, "password_env": "P12_PASSWORD"} for path in manifest["profiles"].values()
    ]
    config = _config(
        tmp_path,
        manifest,
        certificates=_certs(manifest, "valid", "wrong_password"),
        profiles=False,
    )
    data = yaml.safe_load(config.read_text()) | {"profiles": profiles}
    config.write_text(yaml.safe_dump(data))
    status, output = _check(config, environ={"P12_PASSWORD": manifest["password"]})
    assert status == 2
    assert "wrong_password.p12: cannot read (bad_password)" in output
    assert manifest["password"] not in output
    assert manifest["wrong_password"] not in output


def test_nothing_configured_is_unknown(tmp_path: Path) -> None:
    """An empty config checks nothing, which is UNKNOWN (3), not OK."""
    config = tmp_path / "empty.yml"
    config.write_text("warn_days: 30\n")
    status, output = _check(config)
    assert (status, output) == (
        3,
        "STPROXY UNKNOWN - nothing to check: the config names no logs, certificates, profiles "
        "or truststores\n",
    )


def test_unexpected_error_is_unknown_without_traceback(tmp_path: Path, cert_tree: CertTree) -> None:
    """An exception inside the check becomes one UNKNOWN line and exit status 3."""
    manifest = cert_tree(NOW)
    config = load_config(_config(tmp_path, manifest, logs=[str(tmp_path / "*.log")]))

    def broken_glob(pattern: str) -> list[str]:
        raise RuntimeError(f"cannot expand {pattern} | really")

    out = io.StringIO()
    status = check_command(config, now=T, environ={}, out=out, expand=broken_glob)
    assert status == 3
    assert out.getvalue() == (
        f"STPROXY UNKNOWN - internal error: RuntimeError: cannot expand {tmp_path}/*.log / really\n"
    )


@pytest.mark.parametrize(("age", "status"), [(300, 2), (7200, 0)], ids=["5min-ago", "2h-ago"])
def test_check_through_the_cli(
    tmp_path: Path, cert_manifest: dict[str, Any], age: float, status: int
) -> None:
    """`stproxy-monitor check -c CONFIG` prints the status line and returns the state."""
    now = time.time()
    log = _write_log(tmp_path / "STProxyServer" / "SystemOut.log", _failure(now - age), mtime=now)
    config = _config(
        tmp_path, cert_manifest, certificates=_certs(cert_manifest, "valid"), logs=[log]
    )
    out = io.StringIO()
    assert cli.main(["check", "-c", str(config)], stdout=out, environ={}) == status
    assert _state(out.getvalue()) == ("CRITICAL" if status else "OK")
    assert _value(out.getvalue(), "apns_failures_recent") == (1 if status else 0)


def test_cli_reports_a_bad_config_as_unknown(tmp_path: Path) -> None:
    """A config the loader rejects gives exit status 3 and says why."""
    config = tmp_path / "bad.yml"
    config.write_text("warn_days: soon\n")
    out = io.StringIO()
    assert cli.main(["check", "-c", str(config)], stdout=out, environ={}) == 3
    assert "UNKNOWN" in out.getvalue()
    assert "warn_days: must be a number" in out.getvalue()


def test_short_labels_are_unique_and_perfdata_safe() -> None:
    """Profile/node for WebSphere copies, the file name, else the fewest parts that differ."""
    labels = short_labels(
        [
            "/opt/IBM/WebSphere/AppServer/profiles/Dmgr01/config/cells/c/nodes/n1/apns-prod.pkcs12",
            "/etc/stproxy/apns prod.p12",
            "/logs/en_US/STProxyServer/SystemOut.log",
            "/logs/windows/STProxyServer/SystemOut.log",
            "/logs/ja/STProxyServer2/SystemOut.log",
        ]
    )
    assert list(labels.values()) == [
        "Dmgr01/n1",
        "apns prod.p12",
        "en_US/STProxyServer/SystemOut.log",
        "windows/STProxyServer/SystemOut.log",
        "STProxyServer2/SystemOut.log",
    ]
    assert perf_label("apns prod='x'.p12") == "apns_prod_x_.p12"
