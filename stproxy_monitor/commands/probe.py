"""The ``probe`` command: is the certificate accepted by Apple today? One line per step, as
IBM's verification tool printed them, or one JSON object; the exit status is the result's."""

from __future__ import annotations

import glob
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.config import Config
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.paths import is_glob
from stproxy_monitor.probe.client import OnStep, ProbeSpec, run_probe
from stproxy_monitor.probe.proxy import parse_proxy
from stproxy_monitor.probe.result import ProbeResult, Step
from stproxy_monitor.probe_config import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    PRODUCTION_ENDPOINT,
    SANDBOX_ENDPOINT,
    ProbeConfig,
    parse_endpoint,
)

Runner = Callable[..., ProbeResult]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeDefaults:
    """What the config gives the command (its ``probe:`` section and first certificate);
    a flag given on the command line wins over each of these."""

    endpoint: str | None = None
    certificate: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    topic: str | None = None
    proxy: str | None = field(default=None, repr=False)  # may hold user:password
    ca_file: str | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeFlags:
    """The command line of ``probe`` (None: not given)."""

    p12file: str | None = None
    endpoint: str | None = None
    sandbox: bool = False
    password_file: str | None = None
    password_env: str | None = None
    topic: str | None = None
    proxy: str | None = field(default=None, repr=False)  # may hold user:password
    ca_file: str | None = None
    timeout: float | None = None


def build_spec(flags: ProbeFlags, defaults: ProbeDefaults | None = None) -> ProbeSpec:
    """The probe to run: flags over the config's values over the contract's defaults.

    ConfigError lists every problem (place, rule, value).
    """
    base = defaults or ProbeDefaults()
    problems: list[str] = []
    if flags.sandbox and flags.endpoint:
        problems.append("--sandbox and --endpoint: give one of them, not both")
    endpoint = flags.endpoint or (SANDBOX_ENDPOINT if flags.sandbox else None)
    endpoint = endpoint or base.endpoint or PRODUCTION_ENDPOINT
    host, port = "", 0
    try:
        host, port = parse_endpoint(endpoint)
    except ValueError as exc:
        where = "--endpoint" if flags.endpoint else "probe.endpoint"
        problems.append(f"{where}: {exc} (got {endpoint!r})")
    certificate = flags.p12file or base.certificate
    if not certificate:
        problems.append(
            "P12FILE: name the PKCS#12 to probe with (or a config with probe.certificate or "
            "a certificates entry)"
        )
    password = _password(flags, base)
    proxy = flags.proxy or base.proxy
    if proxy:
        try:
            parse_proxy(proxy)
        except ValueError as exc:
            where = "--proxy" if flags.proxy else "probe.proxy"
            problems.append(f"{where}: {exc}")  # the URL may hold a password: not shown
    timeout = flags.timeout if flags.timeout is not None else base.timeout
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        where = "--timeout" if flags.timeout is not None else "probe.timeout"
        problems.append(
            f"{where}: must be more than 0 and at most {MAX_TIMEOUT:g} s (got {timeout:g})"
        )
    if problems:
        raise ConfigError(problems)
    return ProbeSpec(
        host=host,
        port=port,
        certificate=str(certificate),
        password=password,
        topic=flags.topic or base.topic,
        proxy=proxy,
        ca_file=flags.ca_file or base.ca_file,
        timeout=timeout,
    )


def probe_defaults(config: Config) -> ProbeDefaults:
    """The command's defaults from a config: its probe: section, else its first certificate.

    Without probe.certificate the first ``certificates`` entry is probed, with its password
    source; a probe.certificate without a password source of its own takes the source of the
    ``certificates`` entry with the same path, if there is one.
    """
    probe = config.probe or ProbeConfig()
    first = config.certificates[0] if config.certificates else None
    path = probe.certificate or (first.path if first else None)
    same = next((c for c in config.certificates if c.path == path), None)
    if probe.password_file or probe.password_env or same is None:
        password_file, password_env = probe.password_file, probe.password_env
    else:
        password_file, password_env = same.password_file, same.password_env
    return ProbeDefaults(
        endpoint=probe.endpoint if config.probe else None,
        certificate=path,
        password_file=password_file,
        password_env=password_env,
        topic=probe.topic,
        proxy=probe.proxy,
        ca_file=probe.ca_file,
        timeout=probe.timeout if config.probe else None,
    )


def daemon_probe(config: Config) -> Callable[[], ProbeSpec]:
    """What the daemon probes with, checked now (ConfigError), a certificate glob expanded at
    each probe (its first match; the pattern itself when nothing matches: the probe says so)."""
    spec = build_spec(ProbeFlags(), probe_defaults(config))
    if not is_glob(spec.certificate):
        return lambda: spec
    return lambda: first_match(spec)


def first_match(spec: ProbeSpec) -> ProbeSpec:
    """The spec with a certificate glob replaced by its first match (unchanged without one)."""
    if not is_glob(spec.certificate):
        return spec
    matches = sorted(glob.glob(spec.certificate))
    return replace(spec, certificate=matches[0]) if matches else spec


def _password(flags: ProbeFlags, base: ProbeDefaults) -> PasswordSource | None:
    """The flags' password source if any is given, else the config's."""
    if flags.password_file or flags.password_env:
        file, env = flags.password_file, flags.password_env
    else:
        file, env = base.password_file, base.password_env
    if file is None and env is None:
        return None
    return PasswordSource(file=Path(file) if file else None, env=None if file else env)


def probe_command(
    spec: ProbeSpec,
    *,
    as_json: bool,
    environ: Mapping[str, str],
    out: TextIO,
    run: Runner = run_probe,
) -> int:
    """Probe once; print the steps as they happen (or the JSON object); return the exit status."""

    def show(step: Step) -> None:
        out.write(f"{step.line()}\n")
        out.flush()

    on_step: OnStep | None = None if as_json else show
    result: ProbeResult = run(first_match(spec), environ=environ, on_step=on_step)
    if as_json:
        json.dump(result.as_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(f"{verdict_line(result)}\n")
    return result.exit_status


def verdict_line(result: ProbeResult) -> str:
    """The last line: ``certificate accepted by APNs (topic ...)`` or the result in words."""
    took = f"{result.duration_seconds * 1000:.0f} ms"
    if result.success:
        topic = result.topic or "chosen by Apple"
        return f"certificate accepted by APNs (topic {topic}) in {took}"
    return f"{result.result}: {result.message} ({took})"
