"""Tests for validation: the YAML reader and the checker both configuration files use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stproxy_monitor.errors import ConfigError
from stproxy_monitor.validation import Checker, read_yaml


def test_every_problem_is_collected_and_raised_at_once() -> None:
    """Wrong values at three places give three messages naming place, rule and value."""
    check = Checker("config.yml")
    assert check.string("logs[0].path", 42) is None
    assert check.number("warn_days", "thirty") is None
    assert check.boolean("file_events", "yes", True) is True
    with pytest.raises(ConfigError) as info:
        check.done()
    assert info.value.problems == [
        "config.yml: logs[0].path: must be a non-empty string (got int 42)",
        "config.yml: warn_days: must be a number (got str 'thirty')",
        "config.yml: file_events: must be true or false (got str 'yes')",
    ]


def test_good_values_come_back_typed_and_nothing_is_raised() -> None:
    """Valid values are returned as they are (numbers as float) and done() passes."""
    check = Checker("config.yml")
    assert check.string("a", "x") == "x"
    assert check.number("b", 3, positive=True) == 3.0
    assert check.strings("c", ["p", "q"]) == ("p", "q")
    assert check.choice("d", "TLS13", ("TLS12", "TLS13"), "TLS12") == "TLS13"
    assert check.choice("d", None, ("TLS12", "TLS13"), "TLS12") == "TLS12"
    assert check.optional_string("e", None) is None
    assert check.mapping("f", {"k": 1}) == {"k": 1}
    check.done()
    assert check.problems == []


@pytest.mark.parametrize(
    ("value", "rule", "expected"),
    [
        (0, {"positive": True}, "n: must be greater than 0 (got int 0)"),
        (100, {"minimum": 256}, "n: must be at least 256 (got int 100)"),
        (float("inf"), {}, "n: must be a finite number (got float inf)"),
        (10**400, {}, "n: must be a finite number"),
        (True, {}, "n: must be a number (got bool True)"),
    ],
)
def test_number_rules(value: object, rule: dict[str, Any], expected: str) -> None:
    """Each number rule names itself and the value received."""
    check = Checker("f")
    assert check.number("n", value, **rule) is None
    assert check.problems[0].startswith(f"f: {expected}")


def test_a_secret_value_is_not_shown() -> None:
    """A secret value is named 'value not shown', never echoed."""
    check = Checker("web.yml")
    check.string("tls_server_config.key_file", "", secret=True)
    check.fail("basic_auth_users (entry 1)", "must be a bcrypt hash", "hunter2", secret=True)
    assert check.problems == [
        "web.yml: tls_server_config.key_file: must be a non-empty string (value not shown)",
        "web.yml: basic_auth_users (entry 1): must be a bcrypt hash (value not shown)",
    ]
    assert "hunter2" not in "".join(check.problems)


def test_unknown_keys_are_named_with_their_place() -> None:
    """Unknown keys at the top are named alone, inside a mapping after its place."""
    check = Checker("web.yml")
    check.keys("", {"rate": 1, "x": 2, "known": 3}, frozenset({"known"}))
    check.keys("tls_server_config", {"cert": 1}, frozenset())
    assert check.problems == [
        "web.yml: rate: unknown key",
        "web.yml: x: unknown key",
        "web.yml: tls_server_config.cert: unknown key",
    ]


def test_items_builds_each_mapping_and_names_bad_entries_by_index() -> None:
    """A bare string is a path, a non-mapping and an unknown key are named by their index."""
    check = Checker("config.yml")
    built = check.items(
        "logs",
        ["/a", 7, {"path": "/b", "colour": "red"}],
        frozenset({"path"}),
        lambda where, item: f"{where}={item['path']}",
    )
    assert built == ["logs[0]=/a", "logs[2]=/b"]
    assert check.problems == [
        "config.yml: logs[1]: must be a mapping with a path (got int 7)",
        "config.yml: logs[2].colour: unknown key",
    ]


def test_a_document_that_is_no_mapping_is_refused_at_once() -> None:
    """A YAML list or scalar as the whole file is the one problem, raised immediately."""
    with pytest.raises(ConfigError) as info:
        Checker("config.yml").document(["logs"])
    assert info.value.problems == ["config.yml: must be a mapping of keys (got list ['logs'])"]


def test_read_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    """Broken YAML is reported with the file name and the line of the problem."""
    path = tmp_path / "config.yml"
    path.write_text("logs:\n  - path: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: not valid YAML: ")
    assert "(line 3, column 1)" in problem
