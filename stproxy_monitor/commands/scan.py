"""One pass over log files from their start: the exposition the daemon would serve."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from stproxy_monitor.config import ParseOptions
from stproxy_monitor.logs import lineindex
from stproxy_monitor.logs.files import live_path
from stproxy_monitor.logs.parser import LogParser
from stproxy_monitor.logs.sniff import SNIFF_BYTES, not_a_log
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.tailer import FileFacts, ReadCounts
from stproxy_monitor.metrics.collector import MonitorCollector

# Bytes of one read: 4 MiB for the C kernel; 2 MiB for numpy, whose temporaries grow with the
# chunk (three chunks live at a time: one parsed, one waiting, one being read; peak RSS < 64 MiB).
READ_BYTES = (4 if lineindex.KERNEL == "c" else 2) << 20


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
    """Feed one file to the parser in large chunks, the next one read while this one is
    indexed (read_ahead: two cores where there are two)."""
    size = 0
    with Path(name).open("rb", buffering=0) as handle:
        for chunk in read_ahead(handle):
            size += len(chunk)
            state.apply(key, parser.feed(chunk, now), now=now)
    state.count_file(key, ReadCounts(bytes=size), now=now)
    state.update_file(key, FileFacts(present=True, size=size, position=size))


def read_ahead(handle: BinaryIO, size: int = READ_BYTES, depth: int = 1) -> Iterator[bytes]:
    """The chunks of `handle` until its end, read by a thread up to `depth` chunks ahead
    (one: a chunk parsed, one waiting and one being read, 12 MiB).

    Reading (a copy out of the page cache) and lineindex's kernel both run without the GIL,
    and the chunks are bytes, which the kernel indexes without holding it: the read of the
    next chunk overlaps the index of this one. A read error is raised here, in order; the
    thread is gone when the iteration ends, however it ends.
    """
    chunks: queue.Queue[bytes | OSError | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: bytes | OSError | None) -> None:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
            except queue.Full:
                continue
            else:
                return

    def read() -> None:
        try:
            while not stop.is_set() and (chunk := handle.read(size)):
                put(chunk)
        except OSError as exc:
            put(exc)
            return
        put(None)

    reader = threading.Thread(target=read, name="scan-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, OSError):
                raise item
            yield item
    finally:
        stop.set()
        # A read in progress ends soon on a file; on a pipe nobody writes to it may never:
        # then the (daemon) thread is left to the process's exit rather than hang the scan.
        reader.join(timeout=5)


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


def write_atomically(path: str, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half.

    A temporary file in the same directory (same file system) is written, synced, made readable
    by others (node_exporter runs as its own user) and renamed over `path`. Raises OSError.
    """
    directory, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # metrics, meant to be read by node_exporter
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def not_logs(
    paths: Sequence[str], options_for: Callable[[str], tuple[ParseOptions, str | None]]
) -> list[str]:
    """A problem for each regular file that cannot be a WebSphere log (see logs.sniff).

    Files with configured certificate patterns are read in their own format: not judged.
    """
    problems = []
    for path in paths:
        if not os.path.isfile(path) or options_for(path)[0].certificate_patterns:
            continue
        try:
            with open(path, "rb") as handle:
                reason = not_a_log(handle.read(SNIFF_BYTES))
        except OSError as exc:
            reason = f"cannot read it: {exc.strerror or exc}"
        if reason:
            problems.append(
                f"{path}: not a WebSphere log: {reason} "
                "(give a SystemOut.log, its rotated files or a CurrentStatus.log)"
            )
    return problems


def write_output(
    text: str, output: str | None, *, out: TextIO, err: TextIO, textfile: bool = True
) -> list[str]:
    """`text` to stdout, or atomically to `output`; the problems (empty when written).

    An exposition (``textfile``) under a name node_exporter's textfile collector would skip (not
    *.prom) is written, with a note.
    """
    if output is None:
        out.write(text)
        return []
    try:
        write_atomically(output, text)
    except OSError as exc:
        return [f"--output {output}: cannot write: {exc.strerror or exc}"]
    if textfile and not output.endswith(".prom"):
        print(f"stproxy-monitor: note: node_exporter reads *.prom files only ({output})", file=err)
    return []
