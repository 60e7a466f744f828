"""Shared pytest fixtures: the generated certificate fixtures (fixtures/generate_certs.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

GENERATOR_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "generate_certs.py"


def load_cert_generator() -> ModuleType:
    """Import fixtures/generate_certs.py by path (fixtures/ is not a package)."""
    spec = importlib.util.spec_from_file_location("generate_certs", GENERATOR_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cert_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Certificate fixtures generated once per session relative to the current time."""
    outdir = tmp_path_factory.mktemp("certfixtures")
    return load_cert_generator().generate(outdir, datetime.now(UTC))  # type: ignore[no-any-return]


CertTree = Callable[[datetime], dict[str, Any]]


@pytest.fixture
def cert_tree(tmp_path: Path) -> CertTree:
    """A factory of certificate fixtures in this test's tmp_path (for tests that change files)."""

    def generate(now: datetime) -> dict[str, Any]:
        return load_cert_generator().generate(tmp_path / "certfixtures", now)  # type: ignore[no-any-return]

    return generate


# Files whose text is attached to the report of a failing test (a subprocess's stderr, say).
ATTACHED_FILES = pytest.StashKey[list[Path]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the files a test registered in ATTACHED_FILES to its report when it fails."""
    report = yield
    if report.failed:
        for path in item.stash.get(ATTACHED_FILES, []):
            text = path.read_text(errors="replace") if path.exists() else "(no file)"
            report.sections.append((f"attached {path.name}", text))
    return report
