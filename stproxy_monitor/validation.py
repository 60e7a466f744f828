"""What config.yml and web-config.yml share: reading the YAML, and a checker of its values.

A :class:`Checker` is made for one file, whose name starts every message. Its getters take the
place (``logs[0].path``) and the value found there; they return the value typed, or None (or the
default given) when it is wrong, and record a problem that names the place, the rule and the
value received::

    config.yml: logs[0].path: must be a non-empty string (got int 42)

Nothing stops at the first problem: :meth:`Checker.done` raises one ConfigError with all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from stproxy_monitor.errors import ConfigError

T = TypeVar("T")
D = TypeVar("D")
NO_VALUE: Any = object()  # fail(): a rule that shows no value


def read_yaml(path: str | Path) -> object:
    """The YAML document of a file; ConfigError (file, problem) for anything unreadable."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{name}: not UTF-8 text: {exc.reason}"]) from exc
    import yaml  # noqa: PLC0415 - only a command that reads a config file pays for it

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{name}: not valid YAML: {_yaml_problem(exc)}"]) from exc
    except RecursionError as exc:
        raise ConfigError([f"{name}: not valid YAML: nested too deeply"]) from exc
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors raise these for scalars that parse but cannot be built
        # (2001-13-01, !!int 'thirty', !!timestamp 'soon').
        raise ConfigError([f"{name}: not valid YAML: {exc}"]) from exc
    return data


def _yaml_problem(exc: Exception) -> str:
    """A one-line YAML error with its line and column."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else str(problem)


def describe(value: object) -> str:
    """A short description of a YAML value for messages: its type and repr."""
    return f"{type(value).__name__} {value!r}"[:80]


class Checker:
    """Typed getters over one decoded YAML file that record problems instead of raising."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def done(self) -> None:
        """Raise ConfigError with every problem recorded, if there is any."""
        if self.problems:
            raise ConfigError(self.problems)

    def problem(self, where: str, text: str) -> None:
        """Record one problem in words of its own: ``source: where: text``."""
        self.problems.append(f"{self.source}: {where}: {text}")

    def fail(
        self, where: str, rule: str, value: object = NO_VALUE, *, secret: bool = False
    ) -> None:
        """Record one problem: place, rule and (unless secret or NO_VALUE) the value received."""
        if value is NO_VALUE:
            got = ""
        else:
            got = " (value not shown)" if secret else f" (got {describe(value)})"
        self.problems.append(f"{self.source}: {where}: {rule}{got}")

    def document(self, data: object) -> dict[Any, Any]:
        """The whole file as a mapping; anything else is the one problem, raised at once."""
        if not isinstance(data, dict):
            raise ConfigError([f"{self.source}: must be a mapping of keys (got {describe(data)})"])
        return data

    def keys(self, where: str, data: Mapping[Any, Any], known: frozenset[str]) -> None:
        """Each unknown key of the mapping at `where` ("" at the top)."""
        for key in sorted(set(data) - known, key=str):
            self.problem(f"{where}.{key}" if where else str(key), "unknown key")

    def mapping(self, where: str, value: object) -> dict[Any, Any] | None:
        """A mapping (YAML dict)."""
        if isinstance(value, dict):
            return value
        self.fail(where, "must be a mapping", value)
        return None

    def string(self, where: str, value: object, *, secret: bool = False) -> str | None:
        """A non-empty string."""
        if isinstance(value, str) and value.strip():
            return value
        self.fail(where, "must be a non-empty string", value, secret=secret)
        return None

    def optional_string(self, where: str, value: object, *, secret: bool = False) -> str | None:
        """A non-empty string; None (a YAML null) counts as absent."""
        return None if value is None else self.string(where, value, secret=secret)

    def boolean(self, where: str, value: object, default: bool) -> bool:
        """true or false (`default` when it is neither)."""
        if isinstance(value, bool):
            return value
        self.fail(where, "must be true or false", value)
        return default

    def number(
        self, where: str, value: object, *, positive: bool = False, minimum: float | None = None
    ) -> float | None:
        """A finite number, optionally > 0 or >= minimum."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, "must be a number", value)
            return None
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int beyond any float
            finite = False
        if not finite:
            self.fail(where, "must be a finite number", value)
            return None
        if positive and value <= 0:
            self.fail(where, "must be greater than 0", value)
            return None
        if minimum is not None and value < minimum:
            self.fail(where, f"must be at least {minimum:g}", value)
            return None
        return float(value)

    def strings(self, where: str, value: object) -> tuple[str, ...]:
        """A list of non-empty strings (None: none)."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(where, "must be a list of strings", value)
            return ()
        out = []
        for index, item in enumerate(value):
            if isinstance(item, str) and item.strip():
                out.append(item)
            else:
                self.fail(f"{where}[{index}]", "must be a non-empty string", item)
        return tuple(out)

    def choice(self, where: str, value: object, choices: tuple[str, ...], default: D) -> str | D:
        """One of fixed names; `default` when absent (None) or wrong."""
        if value is None:
            return default
        if value in choices:
            return str(value)
        self.fail(where, f"must be one of {', '.join(choices)}", value)
        return default

    def items(
        self,
        where: str,
        value: object,
        keys: frozenset[str],
        build: Callable[[str, dict[Any, Any]], T | None],
    ) -> list[T]:
        """A list of mappings with known keys (a bare string is its path), each built by
        `build(place, item)`; what it returns None for is left out."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "must be a list", value)
            return []
        built = []
        for index, item in enumerate(value):
            place = f"{where}[{index}]"
            spec = {"path": item} if isinstance(item, str) else item
            if not isinstance(spec, dict):
                self.fail(place, "must be a mapping with a path", item)
                continue
            self.keys(place, spec, keys)
            result = build(place, spec)
            if result is not None:
                built.append(result)
        return built
