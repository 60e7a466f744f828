"""Tests of stproxy_monitor.config: the contract's keys, one message per problem, fuzzing."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stproxy_monitor.config import (
    DEFAULT_LISTEN,
    CertificateConfig,
    Config,
    LogConfig,
    ParseOptions,
    ProfileConfig,
    load_config,
    parse_config,
    split_listen,
)
from stproxy_monitor.errors import ConfigError

CONTRACT_EXAMPLE = """\
listen: "127.0.0.1:10116"
warn_days: 30
critical_days: 7
positions_file: /var/lib/stproxy-monitor/positions.json
logs:                                   # SystemOut.log / CurrentStatus.log of each server
  - path: /opt/IBM/WebSphere/AppServer/profiles/STPAppProfile/logs/STProxyServer/SystemOut.log
    server: STProxyServer               # optional; else from the log header or the directory
    encoding: cp1252                    # optional, default utf-8 with replacement
    timezone: America/New_York          # optional, for zone abbreviations
certificates:                           # PKCS#12 (or PEM/DER) files
  - path: /etc/stproxy-monitor/apns-prod.pkcs12          # file or glob
    password_file: /etc/stproxy-monitor/apns.pass        # or password_env: VAR, or neither
profiles:                               # WebSphere profiles
  - path: /opt/IBM/WebSphere/AppServer/profiles/Dmgr01
    password_env: STPROXY_P12_PASSWORD
"""
SYSTEMOUT = "/opt/IBM/WebSphere/AppServer/profiles/STPAppProfile/logs/STProxyServer/SystemOut.log"


def problems_of(data: object, source: str = "config.yml") -> list[str]:
    """The problems parse_config reports for data (which must be invalid)."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, source=source)
    assert info.value.problems
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def write(tmp_path: Path, text: str | bytes, name: str = "config.yml") -> Path:
    """A config file in a fresh directory."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- valid ---------------------------------------------------------------------------------


def test_contract_example_parses_to_the_right_dataclasses(tmp_path: Path) -> None:
    """Every key of CONTRACT.md's example lands in the right field of the right dataclass."""
    config = load_config(write(tmp_path, CONTRACT_EXAMPLE))
    assert (config.listen, config.warn_days, config.critical_days) == ("127.0.0.1:10116", 30, 7)
    assert config.positions_file == "/var/lib/stproxy-monitor/positions.json"
    assert config.logs == (
        LogConfig(
            path=SYSTEMOUT,
            server="STProxyServer",
            options=ParseOptions(encoding="cp1252", timezone=ZoneInfo("America/New_York")),
        ),
    )
    assert config.certificates == (
        CertificateConfig(
            path="/etc/stproxy-monitor/apns-prod.pkcs12",
            password_file="/etc/stproxy-monitor/apns.pass",
        ),
    )
    assert config.profiles == (
        ProfileConfig(
            path="/opt/IBM/WebSphere/AppServer/profiles/Dmgr01",
            password_env="STPROXY_P12_PASSWORD",
        ),
    )


def test_defaults_of_an_empty_config() -> None:
    """An empty mapping gives the contract's defaults: :10116, 30 and 7 days, nothing followed."""
    config = parse_config({})
    assert config == Config()
    assert (config.listen, config.warn_days, config.critical_days) == (DEFAULT_LISTEN, 30, 7)
    assert DEFAULT_LISTEN == ":10116"
    assert (config.logs, config.certificates, config.profiles) == ((), (), ())


def test_empty_file_is_the_default_config(tmp_path: Path) -> None:
    """A file with only a comment is a valid config with the defaults."""
    assert load_config(write(tmp_path, "# nothing yet\n")) == Config()


def test_extra_keys_parse() -> None:
    """The keys added beyond the contract parse into their fields and options."""
    config = parse_config(
        {
            "poll_interval": 0.5,
            "settle_seconds": 0,
            "max_line_bytes": 4096,
            "positions_interval": 10,
            "failure_window_minutes": 5,
            "stale_minutes": 30,
            "web_config_file": "/etc/stproxy-monitor/web.yml",
            "logs": [
                {
                    "path": "/logs/*/SystemOut.log",
                    "date_order": "DMY",
                    "certificate_patterns": [
                        r"expires (?P<not_after>\S+)",
                        {"regex": r"until (?P<not_after>\S+)", "date_format": "%d.%m.%Y"},
                    ],
                }
            ],
            "profiles": [{"path": "/p/Node01", "role": "node", "password_file": "/p.pass"}],
        }
    )
    assert (config.poll_interval, config.settle_seconds, config.max_line_bytes) == (0.5, 0, 4096)
    assert (config.positions_interval, config.failure_window_minutes) == (10, 5)
    assert (config.stale_minutes, config.web_config_file) == (30, "/etc/stproxy-monitor/web.yml")
    options = config.logs[0].options
    assert (options.date_order, options.max_line_bytes) == ("DMY", 4096)
    assert [(p.regex.pattern, p.date_format) for p in options.certificate_patterns] == [
        (r"expires (?P<not_after>\S+)", "%Y-%m-%d"),
        (r"until (?P<not_after>\S+)", "%d.%m.%Y"),
    ]
    assert config.profiles == (
        ProfileConfig(path="/p/Node01", role="node", password_file="/p.pass"),
    )


def test_plain_strings_are_paths() -> None:
    """A list item that is a plain string is the path of that entry."""
    config = parse_config({"logs": ["/a.log"], "certificates": ["/a.p12"], "profiles": ["/p"]})
    assert config.logs == (LogConfig(path="/a.log"),)
    assert config.certificates == (CertificateConfig(path="/a.p12"),)
    assert config.profiles == (ProfileConfig(path="/p"),)


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    """Relative paths in a file are taken from the file's directory, absolute ones kept."""
    text = (
        "positions_file: state/positions.json\n"
        "logs: [logs/SystemOut.log, /abs/SystemOut.log]\n"
        "certificates: [{path: certs/apns-prod.pkcs12, password_file: apns.pass}]\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.positions_file == os.path.join(tmp_path, "state", "positions.json")
    assert [e.path for e in config.logs] == [
        os.path.join(tmp_path, "logs", "SystemOut.log"),
        "/abs/SystemOut.log",
    ]
    assert config.certificates[0].password_file == os.path.join(tmp_path, "apns.pass")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:10116", ("127.0.0.1", 10116)),
        (":10116", ("", 10116)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_split_listen(text: str, expected: tuple[str, int]) -> None:
    """HOST:PORT, :PORT and [IPv6]:PORT split into host and port."""
    assert split_listen(text) == expected


# --- invalid, one message per problem ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"listen": "10116"},
            "config.yml: listen: must be HOST:PORT, :PORT or [IPv6]:PORT (got str '10116')",
        ),
        (
            {"listen": ":70000"},
            "config.yml: listen: port must be from 0 to 65535 (got str ':70000')",
        ),
        ({"listen": 10116}, "config.yml: listen: must be a non-empty string (got int 10116)"),
        ({"warn_days": "30"}, "config.yml: warn_days: must be a number (got str '30')"),
        ({"warn_days": True}, "config.yml: warn_days: must be a number (got bool True)"),
        ({"critical_days": 0}, "config.yml: critical_days: must be greater than 0 (got int 0)"),
        (
            {"warn_days": 7, "critical_days": 30},
            "config.yml: critical_days: must not exceed warn_days (got 30 > 7)",
        ),
        (
            {"max_line_bytes": 100},
            "config.yml: max_line_bytes: must be at least 256 (got int 100)",
        ),
        (
            {"positions_file": ""},
            "config.yml: positions_file: must be a non-empty string (got str '')",
        ),
        ({"lgos": []}, "config.yml: lgos: unknown key"),
        ({"logs": "/a.log"}, "config.yml: logs: must be a list (got str '/a.log')"),
        ({"logs": [42]}, "config.yml: logs[0]: must be a mapping with a path (got int 42)"),
        (
            {"logs": [{"server": "s"}]},
            "config.yml: logs[0].path: must be a non-empty string (got NoneType None)",
        ),
        (
            {"logs": [{"path": 42}]},
            "config.yml: logs[0].path: must be a non-empty string (got int 42)",
        ),
        ({"logs": [{"path": "/a", "sever": "s"}]}, "config.yml: logs[0].sever: unknown key"),
        (
            {"logs": ["/a", {"path": "/b", "timezone": "Mars/Olympus"}]},
            "config.yml: logs[1].timezone: must be an IANA zone such as America/New_York "
            "(got str 'Mars/Olympus')",
        ),
        (
            {"logs": [{"path": "/a", "encoding": "klingon"}]},
            "config.yml: logs[0].encoding: must be an encoding Python knows, e.g. cp1252 "
            "(got str 'klingon')",
        ),
        (
            {"logs": [{"path": "/a", "encoding": "utf-16"}]},
            "config.yml: logs[0].encoding: must read ASCII bytes as ASCII (logs are matched byte "
            "by byte), e.g. cp1252 or utf-8, not UTF-16 or EBCDIC (got str 'utf-16')",
        ),
        (
            {"logs": [{"path": "/a", "encoding": "iso2022_jp"}]},
            "config.yml: logs[0].encoding: must read ASCII bytes as ASCII (logs are matched byte "
            "by byte), e.g. cp1252 or utf-8, not UTF-16 or EBCDIC (got str 'iso2022_jp')",
        ),
        (
            {"logs": [{"path": "/a", "encoding": "cp037"}]},
            "config.yml: logs[0].encoding: must read ASCII bytes as ASCII (logs are matched byte "
            "by byte), e.g. cp1252 or utf-8, not UTF-16 or EBCDIC (got str 'cp037')",
        ),
        (
            {"logs": [{"path": "/a", "date_order": "DYM"}]},
            "config.yml: logs[0].date_order: must be one of MDY, DMY, YMD (got str 'DYM')",
        ),
        (
            {"logs": [{"path": "/a", "certificate_patterns": "x"}]},
            "config.yml: logs[0].certificate_patterns: must be a list (got str 'x')",
        ),
        (
            {"logs": [{"path": "/a", "certificate_patterns": ["(unclosed"]}]},
            "config.yml: logs[0].certificate_patterns[0].regex: is not a valid regular "
            "expression: missing ), unterminated subpattern at position 0 (got str '(unclosed')",
        ),
        (
            {"logs": [{"path": "/a", "certificate_patterns": [r"expires (\S+)"]}]},
            "config.yml: logs[0].certificate_patterns[0].regex: must have a named group "
            "(?P<not_after>...) (got str 'expires (\\\\S+)')",
        ),
        (
            {"logs": [{"path": "/a", "certificate_patterns": [{"date_format": "%Y"}]}]},
            "config.yml: logs[0].certificate_patterns[0]: must be a regex string or a mapping "
            "with regex (got dict {'date_format': '%Y'})",
        ),
        (
            {"certificates": [{"path": "/a", "password_file": "/f", "password_env": "V"}]},
            "config.yml: certificates[0]: give password_file or password_env, not both "
            "(got str 'both')",
        ),
        (
            {"certificates": [{"path": "/a", "password_env": ""}]},
            "config.yml: certificates[0].password_env: must be a non-empty string (got str '')",
        ),
        (
            {"profiles": [{"path": "/p", "role": "primary"}]},
            "config.yml: profiles[0].role: must be auto, dmgr or node (got str 'primary')",
        ),
    ],
)
def test_each_invalid_value_gives_one_precise_message(data: dict[str, Any], message: str) -> None:
    """One message naming the file, the key path, the rule and the value received."""
    assert problems_of(data) == [message]


def test_document_that_is_not_a_mapping() -> None:
    """A YAML list at the top is refused with what was received."""
    assert problems_of(["/a.log"]) == [
        "config.yml: must be a mapping of keys (got list ['/a.log'])"
    ]


def test_several_problems_reported_at_once() -> None:
    """Every problem of a config is reported in one ConfigError, in document order."""
    problems = problems_of(
        {
            "listen": "nowhere",
            "warn_days": -1,
            "bogus": 1,
            "logs": [
                {"path": "/a", "timezone": "Nowhere/Land", "encoding": "klingon"},
                {"path": ""},
            ],
            "certificates": [{"path": "/c", "password_file": 3}],
            "profiles": [{"role": "x"}],
        }
    )
    assert problems == [
        "config.yml: bogus: unknown key",
        "config.yml: listen: must be HOST:PORT, :PORT or [IPv6]:PORT (got str 'nowhere')",
        "config.yml: warn_days: must be greater than 0 (got int -1)",
        "config.yml: logs[0].encoding: must be an encoding Python knows, e.g. cp1252 "
        "(got str 'klingon')",
        "config.yml: logs[0].timezone: must be an IANA zone such as America/New_York "
        "(got str 'Nowhere/Land')",
        "config.yml: logs[1].path: must be a non-empty string (got str '')",
        "config.yml: certificates[0].password_file: must be a non-empty string (got int 3)",
        "config.yml: profiles[0].path: must be a non-empty string (got NoneType None)",
        "config.yml: profiles[0].role: must be auto, dmgr or node (got str 'x')",
    ]


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), 10**400], ids=["nan", "inf", "-inf", "big"]
)
@pytest.mark.parametrize("key", ["warn_days", "settle_seconds", "max_line_bytes"])
def test_non_finite_numbers_are_refused(key: str, value: float) -> None:
    """NaN, infinities and integers beyond a float are refused, not accepted or crashed on."""
    problems = problems_of({key: value})
    assert len(problems) == 1
    assert problems[0].startswith(f"config.yml: {key}: must be a")


@pytest.mark.parametrize("encoding", ["base64", "rot13", "zlib_codec", "idna", "undefined"])
def test_codecs_that_cannot_decode_log_bytes_are_refused(encoding: str) -> None:
    """An encoding that exists but cannot decode arbitrary bytes to text is refused."""
    problems = problems_of({"logs": [{"path": "/a", "encoding": encoding}]})
    assert problems == [
        "config.yml: logs[0].encoding: must be an encoding Python knows, e.g. cp1252 "
        f"(got str {encoding!r})"
    ]


@pytest.mark.parametrize(
    "regex", ["(?P<not_after>a{4294967296})", "(" * 2000 + ")" * 2000], ids=["repeat", "nesting"]
)
def test_pathological_regex_is_a_problem_not_a_crash(regex: str) -> None:
    """A regex too large or too deep for re.compile is reported as a config problem."""
    problems = problems_of({"logs": [{"path": "/a", "certificate_patterns": [regex]}]})
    assert len(problems) == 1
    assert problems[0].startswith(
        "config.yml: logs[0].certificate_patterns[0].regex: is not a valid regular expression"
    )


# --- files -----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error is one problem naming the file, the line and the column."""
    path = write(tmp_path, "listen: ':10116'\nlogs:\n  - path: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: not valid YAML: ")
    assert re.search(r"\(line \d+, column \d+\)$", problem)


def test_yaml_bad_indentation_reports_its_place(tmp_path: Path) -> None:
    """A mapping value where none is allowed is reported at line 2, column 7."""
    path = write(tmp_path, "listen: a\n  warn: b: c\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: not valid YAML: mapping values are not allowed here (line 2, column 7)"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "positions_file: 2001-13-01\n",  # a date-like scalar that is no date
        "warn_days: !!int 'thirty'\n",
        "warn_days: !!float 'thirty'\n",
        "positions_file: !!timestamp 'soon'\n",
        "logs: " + "[" * 2000 + "]" * 2000 + "\n",
        "x: !!python/object/apply:os.system ['true']\n",
    ],
    ids=["bad-date", "bad-int", "bad-float", "bad-timestamp", "deep", "python-tag"],
)
def test_yaml_that_the_loader_cannot_build_is_a_config_error(tmp_path: Path, text: str) -> None:
    """YAML that parses but cannot be constructed gives one ConfigError, never another exception."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: not valid YAML: ")


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing file is one problem naming it and the OS reason."""
    path = tmp_path / "missing.yml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory given as the config is reported, not raised as IsADirectoryError."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problems == [f"{tmp_path}: cannot read: Is a directory"]


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    """A config in latin-1 is reported as not UTF-8 text."""
    path = write(tmp_path, "logs: [/caf\xe9.log]\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: not UTF-8 text: invalid continuation byte"]


def test_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    """Problems found in a file's content carry the file's path as their source."""
    path = write(tmp_path, "warn_days: soon\nlogs:\n  - path: /a\n    timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: warn_days: must be a number (got str 'soon')",
        f"{path}: logs[0].timezone: must be an IANA zone such as America/New_York "
        "(got str 'Mars/Olympus')",
    ]


# --- fuzz ------------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "listen",
        "warn_days",
        "critical_days",
        "positions_file",
        "logs",
        "certificates",
        "profiles",
        "max_line_bytes",
        "settle_seconds",
        "path",
        "server",
        "encoding",
        "timezone",
        "date_order",
        "certificate_patterns",
        "regex",
        "date_format",
        "password_file",
        "password_env",
        "role",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63])
    | st.floats()
    | st.sampled_from([float("nan"), float("inf"), 1e308, 5e-324])
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "America/New_York",
            "cp1252",
            "base64",
            "DMY",
            ":10116",
            "[::1]:1",
            "(?P<not_after>x)",
            "(?P<not_after>a{4294967296})",
            "(",
            "idna",
            "",
            "/etc/x",
            "dmgr",
        ]
    )
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(KEYS, JSON_LIKE, max_size=8) | JSON_LIKE)
def test_parse_config_returns_a_config_or_raises_config_error(data: object) -> None:
    """Whatever JSON-like data comes in, parse_config gives a Config or a ConfigError."""
    try:
        config = parse_config(data, source="fuzz.yml")
    except ConfigError as exc:
        assert exc.problems
        assert all(p.startswith("fuzz.yml: ") for p in exc.problems)
    else:
        assert isinstance(config, Config)


def test_truststores_and_expected_topic(tmp_path: Path) -> None:
    """truststores entries resolve like certificates; expected_topic defaults to Sametime's."""
    text = (
        "truststores:\n"
        "  - {path: cells/*/trust.p12, password_file: trust.pass}\n"
        "  - {path: /abs/trust.p12, password_env: WAS_TRUST_PASSWORD}\n"
        "expected_topic: com.example.app\n"
    )
    config = load_config(write(tmp_path, text))
    first, second = config.truststores
    assert first.path == os.path.join(tmp_path, "cells", "*", "trust.p12")
    assert first.password_file == os.path.join(tmp_path, "trust.pass")
    assert (second.path, second.password_env) == ("/abs/trust.p12", "WAS_TRUST_PASSWORD")
    assert config.expected_topic == "com.example.app"
    assert parse_config({}).expected_topic == "com.ibm.lotus.sametime"
    assert parse_config({"expected_topic": ""}).expected_topic == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expected_topic": 7}, 'config: expected_topic: must be a string (a bundle id, or "" '
                                "for no check) (got int 7)"),
        ({"truststores": [{"password_file": "x"}]}, "config: truststores[0].path: "),
        ({"truststores": [{"path": "a", "password_file": "x", "password_env": "Y"}]},
         "config: truststores[0]: give password_file or password_env, not both"),
        ({"truststores": [{"path": "a", "password": "x"}]},
         "config: truststores[0].password: unknown"),
    ],
)
def test_invalid_truststores_and_topic_are_reported(data: dict[str, Any], message: str) -> None:
    """Each mistake is reported naming the key, as for certificates."""
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value
