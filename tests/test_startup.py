"""Start-up: each command imports only what it uses (cron and Nagios run them every few minutes).

Speed is measured in bench/ (python -X importtime); these tests pin which modules a command
loads, in a fresh interpreter, so that an import moved back to the top of a module fails here.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from stproxy_monitor import cli, config

# What `--help` and `cert` must not load: the YAML parser, structlog (and asyncio through it),
# the daemon's HTTP server and file watching, the metrics library, the numpy kernel.
HEAVY = ("yaml", "structlog", "asyncio", "watchdog", "prometheus_client", "numpy", "http.server")

PROBE = """
import json, sys
from stproxy_monitor.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def loaded_by(*argv: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """Exit status and the modules loaded by `stproxy-monitor ARGV` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return int(report["status"] or 0), set(report["modules"])


def test_help_loads_no_heavy_module() -> None:
    """`stproxy-monitor --help` prints its usage without importing YAML, structlog, asyncio,
    the daemon or the metrics library (nor the config module)."""
    status, modules = loaded_by("--help")
    assert status == 0
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}
    assert "stproxy_monitor.config" not in modules
    assert "stproxy_monitor.commands.run" not in modules


def test_cert_loads_only_what_it_uses(tmp_path: Path) -> None:
    """`cert` on a file loads the certificate code (cryptography) but not YAML, structlog,
    the daemon or the metrics library."""
    pem = tmp_path / "missing.pem"
    status, modules = loaded_by("cert", str(pem))
    assert status != 0  # the file is missing: reported, not crashed
    assert "stproxy_monitor.commands.cert" in modules
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_scan_loads_no_daemon(tmp_path: Path) -> None:
    """`scan` loads the parser and the metrics library, not the daemon's server, watchdog,
    structlog or the PKCS#12 decoder (pyasn1)."""
    log = tmp_path / "SystemOut.log"
    log.write_bytes(b"[5/10/20 3:09:01:349 UTC] 0000004e APNSService   I   CLFRX0012I: x\n")
    status, modules = loaded_by("scan", str(log))
    assert status == 0
    assert "stproxy_monitor.logs.parser" in modules
    unused = ("watchdog", "structlog", "yaml", "pyasn1", "pyasn1_modules")
    assert not {m for m in modules if m.split(".")[0] in unused}


def test_date_orders_spelled_once() -> None:
    """The --date-order choices the CLI offers without importing the config are the config's
    (one list, checked here)."""
    assert cli.DATE_ORDERS == config.DATE_ORDERS


def test_commands_that_read_a_config_import_its_loader(tmp_path: Path) -> None:
    """Every command with -c loads the config when it runs (the loader is imported where it is
    used): a missing config file is reported by name, not a NameError."""
    missing = str(tmp_path / "missing.yml")
    for argv in (
        ["scan", "-c", missing, missing],
        ["check", "-c", missing],
        ["probe", "-c", missing, missing],
        ["run", "-c", missing],
    ):
        out, err = io.StringIO(), io.StringIO()
        status = cli.main(argv, stdout=out, stderr=err)
        assert status in (2, 3), (argv, status)
        assert "missing.yml" in out.getvalue() + err.getvalue(), argv


def test_cert_defaults_are_the_configs() -> None:
    """cert's --warn-days, --critical-days and --expected-topic defaults, spelled in the CLI so
    that cert does not import the config, are the config's defaults."""
    args = cli.build_parser().parse_args(["cert", "x.p12"])
    defaults = config.Config()
    assert (args.warn_days, args.critical_days) == (defaults.warn_days, defaults.critical_days)
    assert args.expected_topic == config.DEFAULT_EXPECTED_TOPIC == defaults.expected_topic
