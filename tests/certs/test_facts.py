"""Tests for stproxy_monitor.certs.facts: each fixture file has exactly its problems."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from stproxy_monitor.certs.facts import (
    PROBLEMS,
    checked_problems,
    problem_status,
    problems,
)
from stproxy_monitor.certs.inspection import Inspection, inspect_file
from stproxy_monitor.states import Status

READABLE = [
    "valid", "expiring", "critical", "expired", "not_yet_valid", "short_intermediate",
    "no_password", "pem", "der", "dmgr_node1", "dmgr_node2", "node1_copy", "node2_copy",
    "sandbox_only", "wrong_topic", "not_apple", "no_key", "key_mismatch", "aes", "triple_des",
]  # fmt: skip


def _inspect(manifest: dict[str, Any], case: str) -> Inspection:
    entry = manifest["files"][case]
    password_file = entry["password_file"]
    password = Path(password_file).read_bytes().strip() if password_file else None
    return inspect_file(Path(entry["path"]).read_bytes(), password)


def test_every_readable_fixture_is_covered(cert_manifest: dict[str, Any]) -> None:
    """The list below names every fixture file that opens (so no case escapes the next test)."""
    unreadable = {c for c, e in cert_manifest["files"].items() if e["reason"] is not None}
    assert set(READABLE) == set(cert_manifest["files"]) - unreadable


@pytest.mark.parametrize("case", READABLE)
def test_each_fixture_has_exactly_its_problems(cert_manifest: dict[str, Any], case: str) -> None:
    """problems() of a fixture file is what the generator says it has, nothing more."""
    assert problems(_inspect(cert_manifest, case)) == cert_manifest["files"][case]["problems"]


def test_every_problem_has_a_fixture(cert_manifest: dict[str, Any]) -> None:
    """Every problem of the contract is made by at least one fixture file."""
    made = {p for entry in cert_manifest["files"].values() for p in entry["problems"]}
    assert made == set(PROBLEMS)


def test_a_pkcs12_has_every_problem_checked(cert_manifest: dict[str, Any]) -> None:
    """An encrypted PKCS#12 with a key: all six checked (so the gauge reads 0, not nothing)."""
    assert list(checked_problems(_inspect(cert_manifest, "valid"))) == list(PROBLEMS)


@pytest.mark.parametrize("case", ["pem", "der"])
def test_pem_and_der_have_only_the_certificate_problems_checked(
    cert_manifest: dict[str, Any], case: str
) -> None:
    """Without a PKCS#12 there is no key nor encryption to check."""
    checked = checked_problems(_inspect(cert_manifest, case))
    assert list(checked) == ["not_apple_issued", "sandbox_only", "topic_mismatch"]


def test_no_key_is_not_also_a_key_mismatch(cert_manifest: dict[str, Any]) -> None:
    """Without a key, key_mismatch is not checked (there is nothing to compare)."""
    assert "key_mismatch" not in checked_problems(_inspect(cert_manifest, "no_key"))


def test_expected_topic_is_configurable(cert_manifest: dict[str, Any]) -> None:
    """Another expected topic: the wrong-topic file passes, the Sametime file fails."""
    other = "com.example.otherapp"
    assert problems(_inspect(cert_manifest, "wrong_topic"), expected_topic=other) == []
    assert problems(_inspect(cert_manifest, "valid"), expected_topic=other) == ["topic_mismatch"]
    voip = "com.ibm.lotus.sametime.voip"  # from Apple's topics extension, not the UID
    assert problems(_inspect(cert_manifest, "valid"), expected_topic=voip) == []


def test_an_empty_expected_topic_turns_the_check_off(cert_manifest: dict[str, Any]) -> None:
    """expected_topic "" leaves topic_mismatch unchecked."""
    assert "topic_mismatch" not in checked_problems(
        _inspect(cert_manifest, "wrong_topic"), expected_topic=""
    )


def test_unknown_environment_is_sandbox_only(cert_manifest: dict[str, Any]) -> None:
    """No production extension at all: not valid for production, so sandbox_only."""
    inspection = _inspect(cert_manifest, "valid")
    leaf = dataclasses.replace(inspection.certificates[0], environment="unknown")
    changed = dataclasses.replace(inspection, certificates=(leaf, *inspection.certificates[1:]))
    assert problems(changed) == ["sandbox_only"]


@pytest.mark.parametrize(
    ("found", "status"),
    [
        ([], Status.OK),
        (["legacy_unreadable"], Status.WARNING),
        (["not_apple_issued"], Status.WARNING),
        (["not_apple_issued", "topic_mismatch"], Status.CRITICAL),
        *[([name], Status.CRITICAL) for name in
          ("no_private_key", "key_mismatch", "sandbox_only", "topic_mismatch")],
    ],
)
def test_problem_status_follows_the_contract(found: list[str], status: Status) -> None:
    """Any problem is at least WARNING; the four key/environment/topic ones are CRITICAL."""
    assert problem_status(found) is status
    assert problem_status(dict.fromkeys(found, True) | {"aes": False}) is status
