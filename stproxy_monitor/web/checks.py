"""Validators that record every problem (place, rule, value) instead of stopping at the first."""

from __future__ import annotations

from typing import Any

_NO_VALUE = object()


def kind(value: object) -> str:
    """A short description of a YAML value for messages."""
    return f"{type(value).__name__} {value!r}"[:80]


class Checker:
    """Validators that record problems instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def fail(
        self, where: str, rule: str, value: object = _NO_VALUE, *, secret: bool = False
    ) -> None:
        """Record one problem: place, rule and (unless secret) the value received."""
        if value is _NO_VALUE:
            got = ""
        else:
            got = " (value not shown)" if secret else f" (got {kind(value)})"
        self.problems.append(f"{self.source}: {where}: {rule}{got}")

    def keys(self, prefix: str, data: dict[Any, Any], known: frozenset[str]) -> None:
        """Unknown keys, and exporter-toolkit keys that stproxy-monitor cannot honour."""
        for key in sorted(set(data) - known, key=str):
            where = f"{prefix}{key}"
            self.problems.append(f"{self.source}: {where}: unknown key")

    def mapping(self, where: str, value: object) -> bool:
        """A mapping (YAML dict)."""
        if isinstance(value, dict):
            return True
        self.fail(where, "must be a mapping", value)
        return False

    def string(self, where: str, value: object, *, secret: bool = False) -> str | None:
        """A non-empty string; None (a YAML null) counts as absent."""
        if value is None or (isinstance(value, str) and value.strip()):
            return value
        self.fail(where, "must be a non-empty string", value, secret=secret)
        return None

    def boolean(self, where: str, value: object) -> bool:
        """true or false."""
        if isinstance(value, bool):
            return value
        self.fail(where, "must be true or false", value)
        return True

    def strings(self, where: str, value: object) -> tuple[str, ...]:
        """A list of non-empty strings."""
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

    def choice(self, where: str, value: object, choices: tuple[str, ...], default: str) -> str:
        """One of fixed names."""
        if value is None:
            return default
        if value in choices:
            return str(value)
        self.fail(where, f"must be one of {', '.join(choices)}", value)
        return default
