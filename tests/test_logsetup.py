"""Tests for logsetup: one JSON line per record, ours and other libraries' (watchdog's) alike."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from stproxy_monitor.logsetup import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test configures logging; the root logger and structlog are given back after it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("stproxy_monitor")
    our_level = ours.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    ours.setLevel(our_level)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_stdlib_record_comes_out_as_a_json_line() -> None:
    """A library's warning through stdlib logging is a JSON object like our events."""
    out = io.StringIO()
    configure_logging(stream=out, json=True)
    logging.getLogger("watchdog.observers.inotify_buffer").warning("buffer %s", "full")
    [line] = lines(out)
    assert line.pop("timestamp").endswith("Z")
    assert line == {
        "event": "buffer full",
        "level": "warning",
        "logger": "watchdog.observers.inotify_buffer",
    }


def test_a_stdlib_exception_is_rendered_into_the_json_line() -> None:
    """A library's logged exception is one JSON line with its traceback as a field."""
    out = io.StringIO()
    configure_logging(stream=out, json=True)
    try:
        Path("/nonexistent/inotify/watch").read_bytes()
    except OSError:
        logging.getLogger("watchdog").exception("observer stopped")
    [line] = lines(out)
    assert line["event"] == "observer stopped"
    assert line["level"] == "error"
    assert "FileNotFoundError" in line["exception"]
    assert "/nonexistent/inotify/watch" in line["exception"]


def test_our_events_keep_their_fields() -> None:
    """A structlog event is the JSON line it was before stdlib logging carried it."""
    out = io.StringIO()
    configure_logging(stream=out, json=True)
    structlog.get_logger("stproxy_monitor.commands.run").info("reloaded", logs=2)
    [line] = lines(out)
    assert list(line) == ["logs", "event", "level", "timestamp"]
    assert (line["logs"], line["event"], line["level"]) == (2, "reloaded", "info")


def test_levels_library_warnings_and_our_configured_level() -> None:
    """Libraries log from WARNING up; our events follow --log-level, debug included."""
    out = io.StringIO()
    configure_logging(level="debug", stream=out, json=True)
    logging.getLogger("watchdog").info("not shown")
    structlog.get_logger("stproxy_monitor.web.server").debug("http_request", status=200)
    configure_logging(level="warning", stream=out, json=True)
    structlog.get_logger("stproxy_monitor.web.server").info("not shown either")
    assert [line["event"] for line in lines(out)] == ["http_request"]


def test_configuring_again_replaces_the_handler() -> None:
    """A second configuration writes to its own stream only, never twice."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first, json=True)
    configure_logging(stream=second, json=True)
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    structlog.get_logger("stproxy_monitor").info("started")
    assert first.getvalue() == ""
    assert [line["event"] for line in lines(second)] == [
        "Task exception was never retrieved",
        "started",
    ]


def test_a_terminal_gets_readable_lines() -> None:
    """Without JSON (a terminal) a library record is a readable line with its logger name."""
    out = io.StringIO()
    configure_logging(stream=out, json=False)
    logging.getLogger("watchdog").warning("buffer full")
    text = out.getvalue()
    assert "buffer full" in text
    assert "watchdog" in text
    assert not text.startswith("{")
