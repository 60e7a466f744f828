"""One pass over log files from their start: the exposition the daemon would serve."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from stproxy_monitor.config import ParseOptions
from stproxy_monitor.logs.files import live_path
from stproxy_monitor.logs.parser import LogParser
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.tailer import FileFacts, ReadCounts
from stproxy_monitor.metrics.collector import MonitorCollector

READ_BYTES = 4 << 20


def group_streams(paths: Iterable[str]) -> dict[str, list[str]]:
    """Group rotated files with their live log: key = live path, files oldest first."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        groups.setdefault(live_path(path), []).append(path)
    for live, files in groups.items():
        files.sort(key=lambda p: (p == live, os.path.basename(p)))
    return groups


def scan_files(
    paths: Iterable[str],
    *,
    options_for: Callable[[str], tuple[ParseOptions, str | None]] = lambda _p: (
        ParseOptions(),
        None,
    ),
    clock: Callable[[], float],
    state: State | None = None,
) -> State:
    """Read each stream (rotated files then the live one) through one parser into a State.

    ``state`` is the State to fill (a fresh one by default); it is returned.
    """
    state = State() if state is None else state
    for live, files in group_streams(paths).items():
        options, server = options_for(live)
        state.register(live, server=server)
        parser = LogParser(options)
        for name in files:
            parser.start_of_file()
            _read_whole(name, parser, state, live, clock())
        state.apply(live, parser.finish(clock()), now=clock())
    return state


def _read_whole(name: str, parser: LogParser, state: State, key: str, now: float) -> None:
    """Feed one file to the parser in large chunks, read into one reused buffer (a new 4 MiB
    object per read costs page faults: about a third of the read time)."""
    buffer = bytearray(READ_BYTES)
    with Path(name).open("rb", buffering=0) as handle:
        size = 0
        while count := handle.readinto(buffer):
            size += count
            # A short read is not always the last (a pipe, a growing file): copy it, keep the
            # buffer whole.
            chunk = buffer if count == len(buffer) else buffer[:count]
            state.apply(key, parser.feed(chunk, now), now=now)
    state.count_file(key, ReadCounts(bytes=size), now=now)
    state.update_file(key, FileFacts(present=True, size=size, position=size))


def render(state: State, *, fmt: str, clock: Callable[[], float]) -> str:
    """The exposition text (Prometheus format) or a JSON list of samples."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(state, clock=clock))
    if fmt == "prometheus":
        return generate_latest(registry).decode()
    samples = [
        {"name": s.name, "labels": s.labels, "value": s.value}
        for family in registry.collect()
        for s in family.samples
    ]
    return json.dumps(samples, indent=1, sort_keys=True) + "\n"
