"""The YAML configuration: loaded, validated all at once, frozen."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stproxy_monitor.probe_config import ProbeConfig, parse_probe
from stproxy_monitor.validation import Checker, read_yaml

DEFAULT_LISTEN = ":10116"
# The topic (bundle id) an APNs certificate must be for: Sametime's app (config expected_topic).
DEFAULT_EXPECTED_TOPIC = "com.ibm.lotus.sametime"
# How an all-numeric date is read when the log alone cannot tell (logs[].date_order).
DATE_ORDERS = ("MDY", "DMY", "YMD")
_TOP_KEYS = frozenset(
    {
        "listen",
        "warn_days",
        "critical_days",
        "positions_file",
        "logs",
        "certificates",
        "profiles",
        "truststores",
        "expected_topic",
        "poll_interval",
        "settle_seconds",
        "max_line_bytes",
        "positions_interval",
        "web_config_file",
        "failure_window_minutes",
        "stale_minutes",
        "file_events",
        "probe",
    }
)
_LOG_KEYS = frozenset(
    {"path", "server", "encoding", "timezone", "date_order", "certificate_patterns"}
)
_CERT_KEYS = frozenset({"path", "password_file", "password_env"})
_PROFILE_KEYS = frozenset({"path", "password_file", "password_env", "role"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificatePattern:
    """A user-defined pattern for certificate-status lines (CurrentStatus.log)."""

    regex: re.Pattern[str]
    date_format: str = "%Y-%m-%d"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseOptions:
    """How one log is read: encoding, time zone, date order, extra patterns, line cap."""

    encoding: str = "utf-8"
    timezone: tzinfo | None = None
    date_order: str | None = None
    certificate_patterns: tuple[CertificatePattern, ...] = ()
    max_line_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class LogConfig:
    """One followed log (a file or a glob)."""

    path: str
    server: str | None = None
    options: ParseOptions = field(default_factory=ParseOptions)


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateConfig:
    """One certificate file or glob; the password is named, never held here."""

    path: str
    password_file: str | None = None
    password_env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileConfig:
    """A WebSphere profile searched for config/cells/*/nodes/*/apns-prod.pkcs12."""

    path: str
    password_file: str | None = None
    password_env: str | None = None
    role: str = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Everything the daemon runs with."""

    listen: str = DEFAULT_LISTEN
    warn_days: float = 30.0
    critical_days: float = 7.0
    positions_file: str | None = None
    positions_interval: float = 5.0
    poll_interval: float = 1.0
    settle_seconds: float = 1.0
    max_line_bytes: int = 64 * 1024
    failure_window_minutes: float = 15.0
    stale_minutes: float = 60.0
    file_events: bool = True
    web_config_file: str | None = None
    logs: tuple[LogConfig, ...] = ()
    certificates: tuple[CertificateConfig, ...] = ()
    profiles: tuple[ProfileConfig, ...] = ()
    # PKCS#12 trust stores (file or glob, password named as for certificates; default "WebAS")
    truststores: tuple[CertificateConfig, ...] = ()
    expected_topic: str = DEFAULT_EXPECTED_TOPIC  # "" turns the topic check off
    probe: ProbeConfig | None = None  # no probe: section, no probe


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file; ConfigError lists every problem."""
    data = read_yaml(path)
    config = parse_config(data if data is not None else {}, source=str(path))
    return relative_to(config, Path(os.path.abspath(path)).parent)


def relative_to(config: Config, base: Path) -> Config:
    """Resolve relative paths against the config file's directory (the Prometheus convention)."""

    def fix(value: str | None) -> str | None:
        if value is None or os.path.isabs(value):
            return value
        return os.path.normpath(os.path.join(base, value))

    return replace(
        config,
        positions_file=fix(config.positions_file),
        web_config_file=fix(config.web_config_file),
        logs=tuple(replace(e, path=fix(e.path) or e.path) for e in config.logs),
        certificates=tuple(
            replace(e, path=fix(e.path) or e.path, password_file=fix(e.password_file))
            for e in config.certificates
        ),
        profiles=tuple(
            replace(e, path=fix(e.path) or e.path, password_file=fix(e.password_file))
            for e in config.profiles
        ),
        truststores=tuple(
            replace(e, path=fix(e.path) or e.path, password_file=fix(e.password_file))
            for e in config.truststores
        ),
        probe=config.probe and config.probe.with_paths(fix),
    )


def parse_config(data: object, *, source: str = "config") -> Config:
    """Validate a decoded YAML document into a Config (pure); ConfigError lists every problem."""
    check = Checker(source)
    doc = check.document(data)
    check.keys("", doc, _TOP_KEYS)
    base = Config()
    valid: set[str] = set()  # the numbers given and valid

    def number(key: str, default: float, **rule: Any) -> float:
        value = check.number(key, doc[key], **rule) if key in doc else None
        if value is None:
            return default
        valid.add(key)
        return value

    def text(key: str) -> str | None:
        return check.string(key, doc[key]) if key in doc else None

    listen = _listen(check, doc["listen"]) if "listen" in doc else None
    file_events = (
        check.boolean("file_events", doc["file_events"], base.file_events)
        if "file_events" in doc
        else base.file_events
    )
    warn_days = number("warn_days", base.warn_days, positive=True)
    critical_days = number("critical_days", base.critical_days, positive=True)
    poll_interval = number("poll_interval", base.poll_interval, positive=True)
    settle_seconds = number("settle_seconds", base.settle_seconds)
    positions_interval = number("positions_interval", base.positions_interval, positive=True)
    failure_window = number("failure_window_minutes", base.failure_window_minutes, positive=True)
    stale_minutes = number("stale_minutes", base.stale_minutes, positive=True)
    max_line = int(number("max_line_bytes", base.max_line_bytes, positive=True, minimum=256))
    positions_file, web_config_file = text("positions_file"), text("web_config_file")
    logs = check.items(
        "logs", doc.get("logs"), _LOG_KEYS, lambda where, item: _log(check, where, item, max_line)
    )
    certificates = check.items(
        "certificates", doc.get("certificates"), _CERT_KEYS, lambda w, i: _cert(check, w, i)
    )
    profiles = check.items(
        "profiles", doc.get("profiles"), _PROFILE_KEYS, lambda w, i: _profile(check, w, i)
    )
    truststores = check.items(
        "truststores", doc.get("truststores"), _CERT_KEYS, lambda w, i: _cert(check, w, i)
    )
    expected_topic = doc.get("expected_topic", base.expected_topic)
    if not isinstance(expected_topic, str):
        check.fail("expected_topic", 'must be a string (a bundle id, or "" for no check)',
                   expected_topic)
        expected_topic = base.expected_topic
    probe = parse_probe(doc["probe"], check) if "probe" in doc else None
    if {"warn_days", "critical_days"} <= valid and critical_days > warn_days:
        check.problem(
            "critical_days",
            f"must not exceed warn_days (got {critical_days:g} > {warn_days:g})",
        )
    check.done()
    return Config(
        listen=listen or base.listen,
        warn_days=warn_days,
        critical_days=critical_days,
        positions_file=positions_file,
        positions_interval=positions_interval,
        poll_interval=poll_interval,
        settle_seconds=settle_seconds,
        max_line_bytes=max_line,
        failure_window_minutes=failure_window,
        stale_minutes=stale_minutes,
        file_events=file_events,
        web_config_file=web_config_file,
        logs=tuple(logs),
        certificates=tuple(certificates),
        profiles=tuple(profiles),
        truststores=tuple(truststores),
        expected_topic=expected_topic.strip(),
        probe=probe,
    )


def _listen(check: Checker, value: object) -> str | None:
    """HOST:PORT with a port from 0 to 65535 (host may be empty or [v6])."""
    text = check.string("listen", value)
    if text is None:
        return None
    try:
        split_listen(text)
    except ValueError as exc:
        check.fail("listen", str(exc), value)
        return None
    return text


def split_listen(text: str) -> tuple[str, int]:
    """'host:port', ':port' or '[v6]:port' into (host, port); ValueError says what is wrong."""
    m = re.fullmatch(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})", text.strip())
    if m is None:
        raise ValueError("must be HOST:PORT, :PORT or [IPv6]:PORT")
    port = int(m["port"])
    if port > 65535:
        raise ValueError("port must be from 0 to 65535")
    return (m["v6"] or m["host"] or ""), port


def usable_encoding(encoding: str) -> bool:
    """A text codec that decodes any bytes with "replace", as the parser does (base64, rot13 or
    idna are codecs too, but would raise there)."""
    try:
        b"\xff\xfe\r\n".decode(encoding, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return False
    return True


# Every printable ASCII byte, plus escapes that stateful or escaping codecs would interpret
# (ISO-2022 designations, backslash escapes, UTF-7 shifts).
_ASCII = bytes(range(9, 14)) + bytes(range(32, 127)) + b"\\x41\\u0041+AEE-\x1b(B\x1b$)C"


def ascii_compatible(encoding: str) -> bool:
    """Whether the codec reads ASCII bytes as ASCII, byte for byte: the parser finds record
    headers and message ids in the raw bytes, so UTF-16, EBCDIC or ISO-2022 logs would not be
    read as they are decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unicode_escape warns about invalid escapes
            return _ASCII.decode(encoding) == _ASCII.decode("ascii")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return False


def _log(check: Checker, where: str, item: dict[str, Any], max_line: int) -> LogConfig | None:
    """Validate one logs[] entry."""
    path = check.string(f"{where}.path", item.get("path"))
    server = check.string(f"{where}.server", item["server"]) if "server" in item else None
    encoding = "utf-8"
    if "encoding" in item:
        encoding = check.string(f"{where}.encoding", item["encoding"]) or "utf-8"
        if not usable_encoding(encoding):
            check.fail(
                f"{where}.encoding",
                "must be an encoding Python knows, e.g. cp1252",
                item["encoding"],
            )
        elif not ascii_compatible(encoding):
            check.fail(
                f"{where}.encoding",
                "must read ASCII bytes as ASCII (logs are matched byte by byte), e.g. cp1252 "
                "or utf-8, not UTF-16 or EBCDIC",
                item["encoding"],
            )
    tz = None
    if "timezone" in item:
        try:
            tz = ZoneInfo(str(item["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            check.fail(
                f"{where}.timezone",
                "must be an IANA zone such as America/New_York",
                item["timezone"],
            )
    order = item.get("date_order")
    if order is not None and order not in DATE_ORDERS:
        check.fail(f"{where}.date_order", f"must be one of {', '.join(DATE_ORDERS)}", order)
        order = None
    patterns = _patterns(check, f"{where}.certificate_patterns", item.get("certificate_patterns"))
    if path is None:
        return None
    options = ParseOptions(
        encoding=encoding,
        timezone=tz,
        date_order=order,
        certificate_patterns=patterns,
        max_line_bytes=max_line,
    )
    return LogConfig(path=path, server=server, options=options)


def _patterns(check: Checker, where: str, value: object) -> tuple[CertificatePattern, ...]:
    """User regexes for certificate-status lines: a `not_after` group is required."""
    if value is None:
        return ()
    if not isinstance(value, list):
        check.fail(where, "must be a list", value)
        return ()
    out = []
    for index, item in enumerate(value):
        place = f"{where}[{index}]"
        spec = {"regex": item} if isinstance(item, str) else item
        if not isinstance(spec, dict) or not isinstance(spec.get("regex"), str):
            check.fail(place, "must be a regex string or a mapping with regex", item)
            continue
        try:
            regex = re.compile(spec["regex"])
        except (re.error, OverflowError, RecursionError) as exc:  # a{2**32}, deep nesting
            check.fail(f"{place}.regex", f"is not a valid regular expression: {exc}", spec["regex"])
            continue
        if "not_after" not in regex.groupindex:
            check.fail(
                f"{place}.regex", "must have a named group (?P<not_after>...)", spec["regex"]
            )
            continue
        out.append(
            CertificatePattern(regex=regex, date_format=str(spec.get("date_format", "%Y-%m-%d")))
        )
    return tuple(out)


def _password_keys(check: Checker, where: str, item: dict[str, Any]) -> dict[str, str | None]:
    """password_file / password_env: at most one of them."""
    keys = {
        k: check.string(f"{where}.{k}", item[k]) if k in item else None
        for k in ("password_file", "password_env")
    }
    if keys["password_file"] and keys["password_env"]:
        check.fail(where, "give password_file or password_env, not both", "both")
    return keys


def _cert(check: Checker, where: str, item: dict[str, Any]) -> CertificateConfig | None:
    """Validate one certificates[] entry."""
    path = check.string(f"{where}.path", item.get("path"))
    keys = _password_keys(check, where, item)
    return None if path is None else CertificateConfig(path=path, **keys)


def _profile(check: Checker, where: str, item: dict[str, Any]) -> ProfileConfig | None:
    """Validate one profiles[] entry."""
    path = check.string(f"{where}.path", item.get("path"))
    keys = _password_keys(check, where, item)
    role = item.get("role", "auto")
    if role not in ("auto", "dmgr", "node"):
        check.fail(f"{where}.role", "must be auto, dmgr or node", role)
        role = "auto"
    return None if path is None else ProfileConfig(path=path, role=role, **keys)
