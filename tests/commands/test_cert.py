"""Tests for stproxy_monitor.commands.cert: the cert command's output and exit status."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import CERT_FILE_CASES

from stproxy_monitor.commands.cert import cert_command

CASES = CERT_FILE_CASES


def _run(
    manifest: dict[str, Any],
    paths: list[str],
    *,
    password_file: str | None = None,
    password_env: str | None = None,
    as_json: bool = False,
    environ: dict[str, str] | None = None,
    **kw: Any,
) -> tuple[int, str]:
    out = io.StringIO()
    status = cert_command(
        paths,
        password_file=password_file,
        password_env=password_env,
        as_json=as_json,
        warn_days=kw.pop("warn_days", manifest["warn_days"]),
        critical_days=kw.pop("critical_days", manifest["critical_days"]),
        now=kw.pop("now", manifest["now"]),
        environ=environ or {},
        out=out,
        **kw,
    )
    return status, out.getvalue()


def _path(manifest: dict[str, Any], case: str) -> str:
    return manifest["files"][case]["path"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", CASES)
def test_exit_status_per_fixture(cert_manifest: dict[str, Any], case: str) -> None:
    """Each fixture file gives the exit status its manifest expects."""
    expected = cert_manifest["files"][case]
    status, _ = _run(cert_manifest, [expected["path"]], password_file=expected["password_file"])
    assert status == expected["status"]


@pytest.mark.parametrize(
    ("cases", "expected"),
    [
        (["valid", "expiring"], 1),
        (["expiring", "corrupt"], 3),
        (["corrupt", "expired"], 2),
        (["valid", "corrupt"], 3),
        (["not_yet_valid", "corrupt", "valid"], 2),
    ],
)
def test_exit_status_is_worst_ok_warning_unknown_critical(
    cert_manifest: dict[str, Any], cases: list[str], expected: int
) -> None:
    """Over several files the exit status is the worst in the order OK<WARNING<UNKNOWN<CRITICAL."""
    env = {"APNS_PASS": cert_manifest["password"]}
    paths = [_path(cert_manifest, case) for case in cases]
    status, _ = _run(cert_manifest, paths, password_env="APNS_PASS", environ=env)
    assert status == expected


def test_bad_password_outranks_warning(cert_manifest: dict[str, Any]) -> None:
    """A file the given password cannot open (UNKNOWN) outranks a certificate in its warn window."""
    env = {"W": cert_manifest["wrong_password"]}
    paths = [_path(cert_manifest, "wrong_password"), _path(cert_manifest, "pem")]
    status, output = _run(cert_manifest, paths, password_env="W", environ=env, warn_days=250)
    assert status == 3
    assert f"{paths[0]}: cannot read: bad_password (" in output


def test_missing_file_prints_a_clear_line_and_is_unknown(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """A file that cannot be read prints `path: cannot read: <reason> (...)` and exits 3."""
    path = str(tmp_path / "apns-prod.pkcs12")
    status, output = _run(cert_manifest, [path])
    assert status == 3
    assert output.splitlines()[0] == f"{path}: cannot read: missing (no such file)"


def test_injected_permission_error_is_reported(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """An unreadable file prints reason permission and exits 3."""

    def denied(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    path = str(tmp_path / "apns.p12")
    status, output = _run(cert_manifest, [path], read_bytes=denied)
    assert status == 3
    assert f"{path}: cannot read: permission (permission denied)" in output


def test_text_block_mirrors_the_ibm_tool(cert_manifest: dict[str, Any]) -> None:
    """The text block carries the IBM tool's lines with this certificate's values."""
    case = cert_manifest["files"]["expiring"]
    _, output = _run(cert_manifest, [case["path"]], password_file=case["password_file"])
    leaf_block = output.split("\n\n")[0]
    lines = dict(line.split(": ", 1) for line in leaf_block.splitlines())
    leaf = case["certificates"][0]
    assert lines["SubjectDN"] == leaf["subject"]
    assert lines["IssuerDN"] == leaf["issuer"]
    end = datetime.fromtimestamp(leaf["not_after"], UTC).strftime("%Y-%m-%d")
    start = datetime.fromtimestamp(leaf["not_before"], UTC).strftime("%Y-%m-%d")
    assert lines["To (yyyy-mm-dd)"] == end
    assert lines["From (yyyy-mm-dd)"] == start
    assert lines["Days left"] == "20.0"
    assert lines["Status"] == "WARNING"
    assert lines["Serial"] == leaf["serial"]
    assert lines["SHA-256"].replace(":", "").lower() == leaf["sha256"]
    assert len(lines["MD5"].split(":")) == 16
    assert lines["MD5"] == lines["MD5"].upper()


def test_expired_and_not_yet_valid_are_marked(cert_manifest: dict[str, Any]) -> None:
    """Expired and not-yet-valid certificates say so next to their days left."""
    env = {"P": cert_manifest["password"]}
    paths = [_path(cert_manifest, "expired"), _path(cert_manifest, "not_yet_valid")]
    status, output = _run(cert_manifest, paths, password_env="P", environ=env)
    assert status == 2
    assert "Days left: -5.0 (expired)" in output
    assert "Days left: 375.0 (not yet valid)" in output


def test_json_lists_every_certificate_and_error(cert_manifest: dict[str, Any]) -> None:
    """--json prints one object per certificate and one per unreadable file."""
    env = {"P": cert_manifest["password"]}
    paths = [_path(cert_manifest, "short_intermediate"), _path(cert_manifest, "corrupt")]
    status, output = _run(cert_manifest, paths, password_env="P", environ=env, as_json=True)
    objects = json.loads(output)
    expected = cert_manifest["files"]["short_intermediate"]["certificates"]
    assert [o["serial"] for o in objects[:3]] == [c["serial"] for c in expected]
    for obj, want in zip(objects, expected, strict=False):
        assert obj["days_left"] == pytest.approx(want["days_left"], abs=1e-6)
        assert obj["sha256"] == want["sha256"]
    assert [o["status"] for o in objects[:3]] == ["ok", "warning", "ok"]
    assert objects[3]["error"] == "corrupt"
    assert objects[3]["status_code"] == 3
    assert status == 3


def test_websphere_paths_carry_the_node(cert_manifest: dict[str, Any]) -> None:
    """A certificate under .../nodes/<node>/apns-prod.pkcs12 is reported with its node."""
    case = cert_manifest["files"]["dmgr_node2"]
    _, output = _run(
        cert_manifest, [case["path"]], password_file=case["password_file"], as_json=True
    )
    assert {o["node"] for o in json.loads(output)} == {"stproxyNode2"}


def test_thresholds_and_clock_are_injected(cert_manifest: dict[str, Any]) -> None:
    """The same certificate turns WARNING then CRITICAL as the injected clock advances."""
    path = [_path(cert_manifest, "pem")]
    now = cert_manifest["now"]
    assert _run(cert_manifest, path)[0] == 0
    assert _run(cert_manifest, path, now=now + 175 * 86400)[0] == 1
    assert _run(cert_manifest, path, now=now + 195 * 86400)[0] == 2
    assert _run(cert_manifest, path, warn_days=250)[0] == 1


@pytest.mark.parametrize("as_json", [False, True])
def test_password_never_appears_in_output(cert_manifest: dict[str, Any], as_json: bool) -> None:
    """Neither the right nor a wrong password is ever printed, in text or JSON."""
    paths = [_path(cert_manifest, case) for case in CASES]
    for source in ("P", "W"):
        env = {"P": cert_manifest["password"], "W": cert_manifest["wrong_password"]}
        _, output = _run(cert_manifest, paths, password_env=source, environ=env, as_json=as_json)
        assert cert_manifest["password"] not in output
        assert cert_manifest["wrong_password"] not in output


def test_password_file_and_env_together_are_refused(cert_manifest: dict[str, Any]) -> None:
    """Giving both a password file and a variable is a usage error with status 3."""
    status, output = _run(
        cert_manifest, [_path(cert_manifest, "pem")], password_file="f", password_env="E"
    )
    assert status == 3
    assert "exclude each other" in output


READABLE = [case for case in CASES if case not in ("wrong_password", "corrupt")]


@pytest.mark.parametrize("case", READABLE)
def test_json_gives_each_file_exactly_its_problems(
    cert_manifest: dict[str, Any], case: str
) -> None:
    """The leaf's "problems" are the fixture's, the chain's are empty; the exit status follows."""
    expected = cert_manifest["files"][case]
    status, output = _run(
        cert_manifest, [expected["path"]], password_file=expected["password_file"], as_json=True
    )
    reports = json.loads(output)
    assert [r["problems"] for r in reports] == [
        expected["problems"] if r["is_leaf"] else [] for r in reports
    ]
    assert status == expected["status"]
    leaf = reports[0]
    assert leaf["is_leaf"]
    topic = "com.example.otherapp" if case == "wrong_topic" else "com.ibm.lotus.sametime"
    assert leaf["topic"] == topic
    assert leaf["environment"] == ("sandbox" if case == "sandbox_only" else "both")


def test_text_names_each_problem_with_what_to_do(cert_manifest: dict[str, Any]) -> None:
    """Text output: one Problem line per problem, with the advice; none says "Problems: none"."""
    paths = [_path(cert_manifest, case) for case in ("aes", "valid")]
    password = cert_manifest["files"]["aes"]["password_file"]
    status, output = _run(cert_manifest, paths, password_file=password)
    assert status == 1
    aes, valid = output.split(f"File: {paths[1]} (certificate 1")
    assert "Problem: legacy_unreadable: " in aes and "openssl pkcs12 -export -legacy" in aes
    assert "Encryption: PBES2/AES-256-CBC (MAC SHA-256)" in aes
    assert "Problems: none" in valid
    assert "Encryption: pbeWithSHAAnd3-KeyTripleDES-CBC (MAC SHA-1)" in valid
    assert "Private key: present, matches the certificate" in valid


def test_key_facts_in_json(cert_manifest: dict[str, Any]) -> None:
    """private_key and key_matches_certificate say what was found (None where not known)."""
    facts = {}
    for case in ("valid", "no_key", "key_mismatch", "pem"):
        entry = cert_manifest["files"][case]
        _, output = _run(cert_manifest, [entry["path"]], password_file=entry["password_file"],
                         as_json=True)
        leaf = json.loads(output)[0]
        facts[case] = (leaf["format"], leaf["private_key"], leaf["key_matches_certificate"])
    assert facts == {
        "valid": ("pkcs12", True, True),
        "no_key": ("pkcs12", False, None),
        "key_mismatch": ("pkcs12", True, False),
        "pem": ("pem", None, None),
    }


@pytest.mark.parametrize(
    ("expected_topic", "status", "problems"),
    [
        ("com.example.otherapp", 0, []),
        ("", 0, []),
        ("com.ibm.lotus.sametime", 2, ["topic_mismatch"]),
    ],
)
def test_expected_topic_is_a_parameter(
    cert_manifest: dict[str, Any], expected_topic: str, status: int, problems: list[str]
) -> None:
    """--expected-topic decides topic_mismatch; "" turns the check off."""
    entry = cert_manifest["files"]["wrong_topic"]
    got, output = _run(cert_manifest, [entry["path"]], password_file=entry["password_file"],
                       as_json=True, expected_topic=expected_topic)
    assert (got, json.loads(output)[0]["problems"]) == (status, problems)
