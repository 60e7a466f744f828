"""Command line: the only place that reads the environment, configures logging and wires pieces.

Cron and Nagios run `--help`, `cert` and `check` every few minutes: each command imports what it
uses when it runs (YAML, structlog, the daemon, cryptography), so that start-up stays short.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from stproxy_monitor import __version__
from stproxy_monitor.errors import ConfigError

if TYPE_CHECKING:
    from stproxy_monitor.config import Config, ParseOptions

# The choices of --date-order (config.DATE_ORDERS; the config is not imported for --help).
DATE_ORDERS = ("MDY", "DMY", "YMD")


class _ArgumentError(Exception):
    """A bad flag: argparse's message, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so that main() returns the status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise with argparse's message."""
        raise _ArgumentError(f"{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar of the contract."""
    parser = _Parser(
        prog="stproxy-monitor",
        description=(
            "Monitor IBM Sametime Proxy APNS certificates and connection failures for Prometheus."
        ),
    )
    parser.add_argument("--version", action="version", version=f"stproxy-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="the daemon: follow logs, inspect certificates, serve HTTP")
    run.add_argument("-c", "--config", help="YAML configuration file")
    run.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="PATH",
        help="a SystemOut.log / CurrentStatus.log (file or glob); repeatable",
    )
    run.add_argument(
        "--cert",
        action="append",
        default=[],
        metavar="PATH",
        help="an apns-prod.pkcs12 (or PEM/DER) file or glob; repeatable",
    )
    run.add_argument("--listen", help="HOST:PORT to serve on (default :10116)")
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        help="exporter-toolkit web-config.yml (TLS, basic auth)",
    )
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    scan = sub.add_parser("scan", help="read log files once from their start, print the metrics")
    scan.add_argument("-c", "--config", help="YAML configuration (log options by path)")
    scan.add_argument("--format", choices=["prometheus", "json"], default="prometheus")
    scan.add_argument("--encoding", help="encoding of the logs (default utf-8)")
    scan.add_argument("--timezone", help="IANA zone for zone abbreviations, e.g. Asia/Shanghai")
    scan.add_argument("--date-order", choices=DATE_ORDERS, help="date field order (default auto)")
    scan.add_argument("--server", help="server label (default: log header, else directory name)")
    scan.add_argument(
        "--output",
        metavar="FILE",
        help="write to FILE atomically instead of stdout (node_exporter's textfile collector "
        "reads *.prom files)",
    )
    scan.add_argument("logfiles", nargs="+", metavar="LOGFILE")
    cert = sub.add_parser("cert", help="report the certificates in PKCS#12/PEM/DER files")
    group = cert.add_mutually_exclusive_group()
    group.add_argument("--password-file", help="file holding the PKCS#12 password")
    group.add_argument("--password-env", help="environment variable holding the password")
    cert.add_argument("--json", action="store_true", help="JSON output for scripts")
    cert.add_argument("--warn-days", type=float, default=30.0)
    cert.add_argument("--critical-days", type=float, default=7.0)
    cert.add_argument("--expected-topic", default="com.ibm.lotus.sametime", help='"": no check')
    cert.add_argument("files", nargs="+", metavar="P12FILE")
    _probe_parser(sub)
    deploy = sub.add_parser(
        "deploy-files", help="write the Prometheus rules, dashboards and service files to DIR"
    )
    deploy.add_argument("directory", metavar="DIR")
    deploy.add_argument("--force", action="store_true", help="replace files that differ")
    check = sub.add_parser("check", help="Nagios/Icinga check of everything the config names")
    check.add_argument("-c", "--config", required=True, help="YAML configuration file")
    return parser


def _probe_parser(sub: argparse._SubParsersAction[_Parser]) -> None:
    """``probe``: one HTTP/2 push to a dummy token, to see whether APNs accepts the certificate."""
    probe = sub.add_parser("probe", help="ask APNs whether it accepts the certificate today")
    probe.add_argument("-c", "--config", help="YAML configuration (its probe: section)")
    group = probe.add_mutually_exclusive_group()
    group.add_argument("--password-file", help="file holding the PKCS#12 password")
    group.add_argument("--password-env", help="environment variable holding the password")
    probe.add_argument("--endpoint", metavar="HOST:PORT", help="default api.push.apple.com:443")
    probe.add_argument("--sandbox", action="store_true", help="api.sandbox.push.apple.com:443")
    probe.add_argument("--topic", help="apns-topic (default: the certificate's UID)")
    probe.add_argument("--proxy", metavar="URL", help="HTTP proxy for CONNECT (or HTTPS_PROXY)")
    probe.add_argument("--ca-file", help="trust for the server's certificate (default: system)")
    probe.add_argument("--timeout", type=float, metavar="SECONDS", help="whole probe (default 10)")
    probe.add_argument("--json", action="store_true", help="one JSON object for scripts")
    probe.add_argument("p12file", nargs="?", metavar="P12FILE", help="the PKCS#12 to probe with")


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Run a command; return its exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env = dict(os.environ if environ is None else environ)
    try:
        args = build_parser().parse_args(argv)
    except _ArgumentError as exc:
        print(exc, file=err)
        return 2
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if args.command == "run":
        return _run(args, out, err)
    if args.command == "scan":
        return _scan(args, out, err)
    if args.command == "deploy-files":
        from stproxy_monitor.commands.deploy import deploy_command  # noqa: PLC0415

        problems = deploy_command(args.directory, force=args.force, out=out)
        return _problems(err, problems)
    command = {"cert": _cert, "probe": _probe, "check": _check}[args.command]
    return command(args, out, err, env)


def _problems(err: TextIO, problems: list[str]) -> int:
    """Print one line per problem; exit status 2 (0 when there is none)."""
    for problem in problems:
        print(f"stproxy-monitor: {problem}", file=err)
    return 2 if problems else 0


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file (if any) with the flags added on top."""
    from dataclasses import replace  # noqa: PLC0415 - imports of one command, see above

    from stproxy_monitor.config import (  # noqa: PLC0415
        CertificateConfig,
        LogConfig,
        load_config,
        parse_config,
        split_listen,
    )

    problems: list[str] = []
    try:
        config = load_config(args.config) if args.config else parse_config({})
    except ConfigError as exc:
        problems.extend(exc.problems)
        config = parse_config({})
    changes: dict[str, object] = {}
    if args.listen is not None:
        try:
            split_listen(args.listen)
            changes["listen"] = args.listen
        except ValueError as exc:
            problems.append(f"--listen: {exc} (got {args.listen!r})")
    if args.web_config_file:
        changes["web_config_file"] = args.web_config_file
    # Flag paths are made absolute like config paths: labels must not depend on the cwd.
    logs = config.logs + tuple(LogConfig(path=os.path.abspath(p)) for p in args.log)
    certs = config.certificates + tuple(
        CertificateConfig(path=os.path.abspath(p)) for p in args.cert
    )
    if not logs and not certs and not config.profiles and not problems:
        problems.append(
            "nothing to monitor: give --log, --cert or a config file with logs, "
            "certificates or profiles"
        )
    if problems:
        raise ConfigError(problems)
    return replace(config, logs=logs, certificates=certs, **changes)  # type: ignore[arg-type]


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The daemon."""
    import gc  # noqa: PLC0415 - imports of one command, see above
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    from stproxy_monitor.logsetup import configure_logging  # noqa: PLC0415

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        return _problems(err, exc.problems)
    configure_logging(level=args.log_level, stream=err)
    from stproxy_monitor.commands.run import Service  # noqa: PLC0415 - keeps `scan` light

    log = structlog.get_logger(__name__)

    def reload_config() -> Config:
        return config_from_args(args)

    try:
        service = Service(config, reload_config=reload_config)
    except ConfigError as exc:
        return _problems(err, exc.problems)
    except OSError as exc:
        return _problems(err, [f"--listen {config.listen}: cannot listen: {exc.strerror or exc}"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: service.request_reload())
    # What start-up made (modules, config, compiled patterns) lives as long as the process: out
    # of the collector's way, a full collection no longer walks it (one took ~40 ms of a scrape).
    gc.freeze()
    service.start()
    url = service.url
    if out.isatty():  # someone started it by hand: say where to look (the log may go elsewhere)
        print(f"stproxy-monitor {__version__}: status page {url} (Ctrl-C stops it)", file=out)
        out.flush()
    log.info(
        "started",
        url=url,
        listen=config.listen,
        version=__version__,
        logs=len(config.logs),
        certificates=len(config.certificates),
        profiles=len(config.profiles),
    )
    while not stop.wait(0.5):
        service.tick()
    service.shutdown()
    log.info("stopped")
    return 0


def _scan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One pass over the given logs."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    from stproxy_monitor.commands.scan import not_logs, render, scan_files, write_output  # noqa: PLC0415
    from stproxy_monitor.config import (  # noqa: PLC0415
        ParseOptions,
        ascii_compatible,
        load_config,
        usable_encoding,
    )

    problems = [f"{p}: no such file" for p in args.logfiles if not os.path.isfile(p)]
    tz = None
    if args.timezone:
        try:
            tz = ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"--timezone: not an IANA zone (got {args.timezone!r})")
    if args.encoding and not usable_encoding(args.encoding):
        problems.append(f"--encoding: not a text encoding Python knows (got {args.encoding!r})")
    elif args.encoding and not ascii_compatible(args.encoding):
        problems.append(
            f"--encoding: must read ASCII bytes as ASCII, not UTF-16 or EBCDIC "
            f"(got {args.encoding!r})"
        )
    config = None
    if args.config:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            problems.extend(exc.problems)
    base = ParseOptions(encoding=args.encoding or "utf-8", timezone=tz, date_order=args.date_order)

    def options_for(path: str) -> tuple[ParseOptions, str | None]:
        return _options_for(path, config, base, args.server)

    problems += not_logs(args.logfiles, options_for)
    if problems:
        return _problems(err, problems)

    if args.output is not None and not os.path.isdir(os.path.dirname(args.output) or "."):
        return _problems(err, [f"--output {args.output}: no such directory"])
    state = scan_files(args.logfiles, options_for=options_for, clock=time.time)
    text = render(state, fmt=args.format, clock=time.time)
    prometheus = args.format == "prometheus"
    return _problems(err, write_output(text, args.output, out=out, err=err, textfile=prometheus))


def _options_for(
    path: str, config: Config | None, base: ParseOptions, server: str | None
) -> tuple[ParseOptions, str | None]:
    """Log options from the config entry whose path or glob names this file, else the flags."""
    import fnmatch  # noqa: PLC0415

    for entry in config.logs if config else ():
        if fnmatch.fnmatch(path, entry.path) or os.path.abspath(path) == os.path.abspath(
            entry.path
        ):
            return entry.options, server or entry.server
    return base, server


def _cert(args: argparse.Namespace, out: TextIO, err: TextIO, env: dict[str, str]) -> int:
    """Report certificates in files (the IBM verification tool's job)."""
    from stproxy_monitor.commands.cert import cert_command  # noqa: PLC0415

    if args.password_env and args.password_env not in env:
        return _problems(err, [f"--password-env: {args.password_env} is not set"])
    return cert_command(
        args.files,
        password_file=args.password_file,
        password_env=args.password_env,
        as_json=args.json,
        warn_days=args.warn_days,
        critical_days=args.critical_days,
        now=time.time(),
        environ=env,
        out=out,
        expected_topic=args.expected_topic.strip(),
    )


def _check(args: argparse.Namespace, out: TextIO, err: TextIO, env: dict[str, str]) -> int:
    """Nagios/Icinga check."""
    from stproxy_monitor.config import load_config  # noqa: PLC0415 - see above

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"STPROXY UNKNOWN - configuration: {exc.problems[0]}", file=out)
        for problem in exc.problems[1:]:
            print(problem, file=out)
        return 3
    from stproxy_monitor.commands.check.plugin import check_command  # noqa: PLC0415

    status: int = check_command(config, now=time.time(), environ=env, out=out)
    return status


def _probe(args: argparse.Namespace, out: TextIO, err: TextIO, env: dict[str, str]) -> int:
    """Probe APNs with the certificate (the check IBM's tool ended with, for today's API)."""
    from stproxy_monitor.commands.probe import (  # noqa: PLC0415 - keeps the other commands light
        ProbeFlags,
        build_spec,
        probe_command,
        probe_defaults,
    )
    from stproxy_monitor.config import load_config  # noqa: PLC0415

    problems: list[str] = []
    defaults = None
    if args.config:
        try:
            defaults = probe_defaults(load_config(args.config))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if args.password_env and args.password_env not in env:
        problems.append(f"--password-env: {args.password_env} is not set")
    flags = ProbeFlags(
        p12file=args.p12file,
        endpoint=args.endpoint,
        sandbox=args.sandbox,
        password_file=args.password_file,
        password_env=args.password_env,
        topic=args.topic,
        proxy=args.proxy,
        ca_file=args.ca_file,
        timeout=args.timeout,
    )
    try:
        spec = build_spec(flags, defaults)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        return _problems(err, problems)
    return probe_command(spec, as_json=args.json, environ=env, out=out)
