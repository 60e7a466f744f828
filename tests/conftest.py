"""Shared pytest fixtures: generated certificates, failure attachments, no thread left behind."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support import ATTACHED_FILES, CertTree, load_cert_generator

# How long a thread a test started may take to end after the test (a server's shutdown, a join).
THREAD_GRACE_SECONDS = 5.0


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """Fail a test that leaves a thread running after it (an observer or server not stopped)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE_SECONDS
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in left if t.is_alive()]
    assert not alive, f"threads left running by the test: {alive}"


@pytest.fixture(scope="session")
def cert_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Certificate fixtures generated once per session relative to the current time."""
    outdir = tmp_path_factory.mktemp("certfixtures")
    return load_cert_generator().generate(outdir, datetime.now(UTC))  # type: ignore[no-any-return]

@pytest.fixture
def cert_tree(tmp_path: Path) -> CertTree:
    """A factory of certificate fixtures in this test's tmp_path (for tests that change files)."""

    def generate(now: datetime) -> dict[str, Any]:
        return load_cert_generator().generate(tmp_path / "certfixtures", now)  # type: ignore[no-any-return]

    return generate


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the files a test registered in ATTACHED_FILES to its report when it fails."""
    report = yield
    if report.failed:
        for path in item.stash.get(ATTACHED_FILES, []):
            text = path.read_text(errors="replace") if path.exists() else "(no file)"
            report.sections.append((f"attached {path.name}", text))
    return report
