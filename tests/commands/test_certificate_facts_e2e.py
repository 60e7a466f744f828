"""Certificate facts end to end: a real `stproxy-monitor run` over the generated fixtures.

/metrics must give each certificate file exactly its problems (1 for those it has, 0 for the
others checked), Apple's environment and the topic on the info series, and the fixture cell's
trust stores 1 and 0 as built.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import (
    ATTACHED_FILES,
    PROBLEM_CASES,
    CertTree,
    Samples,
    free_port,
    readiness,
    scrape,
    spawn_daemon,
    stop_process,
    wait_until,
)

from stproxy_monitor.certs.facts import PROBLEMS

pytestmark = pytest.mark.e2e

PROBLEM = "stproxy_apns_certificate_problem"
INFO = "stproxy_apns_certificate_info"


@pytest.fixture
def fixture_scrape(
    request: pytest.FixtureRequest, tmp_path: Path, cert_tree: CertTree
) -> Iterator[tuple[dict[str, Any], Samples]]:
    """The daemon on every fixture certificate, the cell's profiles and two trust stores."""
    manifest = cert_tree(datetime.now(UTC))
    root = Path(manifest["files"]["valid"]["path"]).parents[1]
    password = manifest["files"]["valid"]["password_file"]
    custom = manifest["truststores"]["trust_custom_password"]
    port = free_port()
    config = {
        "listen": f"127.0.0.1:{port}",
        "certificates": [{"path": str(root / "certs" / "*.p12"), "password_file": password}],
        "profiles": [{"path": p, "password_file": password} for p in manifest["profiles"].values()],
        "truststores": [
            {"path": custom["path"], "password_file": custom["password_file"]},
            {"path": str(root / "truststores" / "*.p12")},
        ],
    }
    path = tmp_path / "stproxy-monitor.yml"
    path.write_text(yaml.safe_dump(config))
    stderr = tmp_path / "daemon.stderr"
    request.node.stash.setdefault(ATTACHED_FILES, []).append(stderr)
    process = spawn_daemon("-c", str(path), stderr=stderr)
    try:
        wait_until(lambda: readiness(process, port), what="the daemon to be ready", timeout=30)
        assert process.poll() is None, "the daemon exited"
        yield manifest, scrape(port)
    finally:
        stop_process(process)


def _problems(samples: Samples, path: str) -> dict[str, float]:
    return {
        dict(labels)["problem"]: value
        for (name, labels), value in samples.items()
        if name == PROBLEM and dict(labels)["path"] == path
    }


def test_each_fixture_file_has_exactly_its_problems_in_metrics(
    fixture_scrape: tuple[dict[str, Any], Samples],
) -> None:
    """Every readable PKCS#12: the problems checked (all six with a key), 1 exactly for the
    fixture's own."""
    manifest, samples = fixture_scrape
    checked = 0
    for case, entry in manifest["files"].items():
        if not entry["path"].endswith((".p12", ".pkcs12")):
            continue
        got = _problems(samples, entry["path"])
        if entry["reason"] is not None and entry["reason"] != "bad_password":
            assert got == {}, case  # unreadable: nothing checked
            continue
        if entry["reason"] == "bad_password":
            continue  # wrong_password.p12 opens with the configured apns.pass
        # Without a key there is no key to compare: key_mismatch is not checked then.
        unchecked = {"key_mismatch"} if "no_private_key" in entry["problems"] else set()
        expected = {p: float(p in entry["problems"]) for p in PROBLEMS if p not in unchecked}
        assert got == expected, case
        checked += 1
    assert checked >= len(PROBLEM_CASES) + 6 + 4  # problems, validity cases, node copies


def test_info_carries_environment_and_topic(
    fixture_scrape: tuple[dict[str, Any], Samples],
) -> None:
    """The leaf's info series has Apple's environment and the subject's UID as topic."""
    manifest, samples = fixture_scrape
    leaves = {}
    for name, labels in samples:
        found = dict(labels)
        if name == INFO and found["source"] == "file" and found["subject"].startswith("UID="):
            leaves[found["path"]] = (found["environment"], found["topic"])
    files = manifest["files"]
    assert leaves[files["valid"]["path"]] == ("both", "com.ibm.lotus.sametime")
    assert leaves[files["sandbox_only"]["path"]] == ("sandbox", "com.ibm.lotus.sametime")
    assert leaves[files["wrong_topic"]["path"]] == ("both", "com.example.otherapp")


def test_trust_stores_give_one_and_zero_as_built(
    fixture_scrape: tuple[dict[str, Any], Samples],
) -> None:
    """Each generated trust store: read_ok 1 and trusts_apns as the generator built it."""
    manifest, samples = fixture_scrape
    for case, store in manifest["truststores"].items():
        labels = (("node", store["node"]), ("path", store["path"]))
        assert samples[("stproxy_apns_truststore_trusts_apns", labels)] == store["trusts_apns"]
        read_ok = ("stproxy_apns_truststore_read_ok", (("path", store["path"]),))
        assert samples[read_ok] == 1, case
    trusts = {
        dict(labels)["path"]: value
        for (name, labels), value in samples.items()
        if name == "stproxy_apns_truststore_trusts_apns"
    }
    assert sorted(trusts.values()) == [0, 0, 0, 1, 1, 1]
