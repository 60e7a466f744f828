"""`stproxy-monitor deploy-files DIR`: the shipped deploy/ files, written out where asked."""

from __future__ import annotations

import io
from pathlib import Path

from support import REPO

from stproxy_monitor.cli import main
from stproxy_monitor.commands.deploy import deploy_files, deploy_root


def run(*argv: str) -> tuple[int, str, str]:
    """main() with captured output."""
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_every_deploy_file_is_written_byte_for_byte(tmp_path: Path) -> None:
    """The whole deploy/ tree lands in DIR, one summary line; a second run changes nothing.

    From an unpacked sdist (.ci/sdist) the files come from the installed package: they must be
    the ones of the sdist's deploy/.
    """
    status, out, err = run("deploy-files", str(tmp_path / "out"))
    shipped = deploy_files(REPO / "deploy")
    assert (status, err) == (0, "")
    target, source = tmp_path / "out", deploy_root()  # the checkout's, or the installed copy
    assert out == f"deploy-files: {len(shipped)} files written to {target} (from {source})\n"
    assert deploy_files(tmp_path / "out") == shipped
    for relative in shipped:
        assert (tmp_path / "out" / relative).read_bytes() == (
            REPO / "deploy" / relative
        ).read_bytes()
    assert Path("systemd/stproxy-monitor.service") in shipped
    status, out, _ = run("deploy-files", str(tmp_path / "out"))
    assert (
        status == 0
        and f"0 files written to {tmp_path / 'out'}, {len(shipped)} already there" in out
    )


def test_a_changed_file_is_kept_unless_forced(tmp_path: Path) -> None:
    """An edited copy is not overwritten (exit 2, named); --force replaces it."""
    run("deploy-files", str(tmp_path))
    unit = tmp_path / "systemd" / "stproxy-monitor.service"
    unit.write_text("edited\n")
    status, _, err = run("deploy-files", str(tmp_path))
    assert status == 2
    assert f"{unit} exists and differs (--force replaces it)" in err
    assert unit.read_text() == "edited\n"
    assert run("deploy-files", "--force", str(tmp_path))[0] == 0
    assert (
        unit.read_bytes() == (REPO / "deploy" / "systemd" / "stproxy-monitor.service").read_bytes()
    )


def test_the_installed_copy_wins_over_a_checkout(tmp_path: Path) -> None:
    """In a wheel the files are in the package (stproxy_monitor/deploy/), found first."""
    package = tmp_path / "site-packages" / "stproxy_monitor"
    (package / "deploy" / "prometheus").mkdir(parents=True)
    assert deploy_root(package) == package / "deploy"
    assert deploy_root(REPO / "stproxy_monitor") == REPO / "deploy"
    assert deploy_root(tmp_path / "elsewhere" / "stproxy_monitor") is None
