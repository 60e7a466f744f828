"""`stproxy-monitor deploy-files DIR`: write out the rules, dashboards and units shipped with it."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path
from typing import TextIO

PACKAGE = Path(__file__).resolve().parents[1]


def deploy_root(package: Path = PACKAGE) -> Path | None:
    """Where the deploy files are: in the installed package, else in the checkout beside it."""
    for candidate in (package / "deploy", package.parent / "deploy"):
        if (candidate / "prometheus").is_dir():
            return candidate
    return None


def deploy_files(root: Path) -> list[Path]:
    """Every file under `root`, relative to it, sorted."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def deploy_command(target: str, *, force: bool, out: TextIO, root: Path | None = None) -> list[str]:
    """Copy every deploy file into `target`; the problems (an existing different file, I/O).

    Files already there with the same content are left alone; different ones are replaced only
    with ``force``. Prints one line: how many files were written, and where.
    """
    source = root if root is not None else deploy_root()
    if source is None:
        return ["deploy-files: this installation has no deploy files (reinstall the package)"]
    written, kept, problems = 0, 0, []
    for relative in deploy_files(source):
        destination = Path(target) / relative
        try:
            if destination.exists() and filecmp.cmp(source / relative, destination, shallow=False):
                kept += 1
                continue
            if destination.exists() and not force:
                problems.append(
                    f"deploy-files: {destination} exists and differs (--force replaces it)"
                )
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, destination)
            written += 1
        except OSError as exc:
            problems.append(f"deploy-files: {destination}: {exc.strerror or exc}")
    same = f", {kept} already there" if kept else ""
    print(f"deploy-files: {written} files written to {target}{same} (from {source})", file=out)
    return problems
