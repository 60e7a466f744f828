"""The log-following loop: watchdog wake-ups, a periodic stat as the safety net."""

from __future__ import annotations

import contextlib
import glob
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from stproxy_monitor.config import LogConfig
from stproxy_monitor.logs.announcer import FailureAnnouncer
from stproxy_monitor.logs.events import HpelDetected
from stproxy_monitor.logs.files import hpel_directory, writes_hpel
from stproxy_monitor.logs.parser import Batch, LogParser
from stproxy_monitor.logs.positions import (
    Positions,
    PositionStore,
    ServerRecord,
    certificate_from_json,
    certificate_to_json,
    file_record,
)
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.tailer import LogFollower, Opener, ReadCounts, open_shared
from stproxy_monitor.paths import is_glob

log = structlog.get_logger(__name__)


# Our own reads open and close the logs: those events must not wake the loop again (that
# spun one core at 100 % while idle). Only events that can mean new bytes or another file count.
_WAKING_EVENTS = frozenset(
    {
        EVENT_TYPE_CREATED,
        EVENT_TYPE_MODIFIED,
        EVENT_TYPE_MOVED,
        EVENT_TYPE_DELETED,
        EVENT_TYPE_CLOSED,
    }
)


class _Wake(FileSystemEventHandler):
    """A change in a watched directory wakes the loop up (not our own opens and closes)."""

    def __init__(self, wake: threading.Event) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Set the wake-up flag (the loop decides what changed by looking)."""
        if event.event_type in _WAKING_EVENTS:
            self._wake.set()


def watch_directory(pattern: str) -> str:
    """The directory to watch for a path or glob: its deepest part without glob characters."""
    parts = Path(pattern).parts
    plain: list[str] = []
    for part in parts[:-1]:
        if is_glob(part):
            break
        plain.append(part)
    return str(Path(*plain)) if plain else "."


class LogWatcher:
    """Follows every configured log (files and globs) and feeds the state.

    The failures it counts are told of by a FailureAnnouncer (logs/announcer.py).
    """

    def __init__(
        self,
        logs: tuple[LogConfig, ...],
        state: State,
        *,
        clock: Callable[[], float] = time.time,
        observer_factory: Callable[[], Any] | None = Observer,
        poll_interval: float = 1.0,
        settle_seconds: float = 1.0,
        expand: Callable[[str], list[str]] = glob.glob,
        store: PositionStore | None = None,
        save_interval: float = 5.0,
        opener: Opener = open_shared,
    ) -> None:
        self._logs = logs
        self._opener = opener
        self._store = store
        self._save_interval = save_interval
        self._saved = Positions()
        self._last_save = 0.0
        self._state = state
        self._clock = clock
        self._observer_factory = observer_factory
        self._poll_interval = poll_interval
        self._settle = settle_seconds
        self._expand = expand
        self._followers: dict[str, LogFollower] = {}
        self._announcer = FailureAnnouncer()
        self._observer: Any = None
        self._watched: set[str] = set()
        self.wake = threading.Event()
        self.ready = threading.Event()

    # -- followers -----------------------------------------------------------------------
    def discover(self) -> None:
        """Create a follower for every configured file and every file a glob now matches."""
        for entry in self._logs:
            paths = sorted(self._expand(entry.path)) if is_glob(entry.path) else [entry.path]
            for path in paths:
                if path not in self._followers:
                    self._add(path, entry)

    def update_logs(self, logs: tuple[LogConfig, ...]) -> None:
        """A reload: keep followers (and their positions) of paths still named, add new ones."""
        self._logs = logs
        wanted = {entry.path: entry for entry in logs}
        for path, follower in list(self._followers.items()):
            entry = wanted.get(path) or self._entry_for(path)
            if entry is None:
                del self._followers[path]
                self._announcer.unfollowing(path)
                log.info("unfollowing", path=path)
            else:
                follower.parser.options = entry.options
                self._state.register(path, server=entry.server)
        self.discover()
        self._schedule_new_directories()

    def _entry_for(self, path: str) -> LogConfig | None:
        """The configured glob entry that matches `path`, if any."""
        import fnmatch  # noqa: PLC0415

        for entry in self._logs:
            if is_glob(entry.path) and fnmatch.fnmatch(path, entry.path):
                return entry
        return None

    def _add(self, path: str, entry: LogConfig) -> None:
        """Start following one file."""
        self._state.register(path, server=entry.server)
        parser = LogParser(entry.options)
        now = self._clock
        saved = self._saved.files.get(path)
        if saved is not None:
            self._state.restore_file(
                path,
                header_server=saved.header_server,
                cell=saved.cell,
                node=saved.node,
                certificate=certificate_from_json(saved.certificate),
            )
        self._followers[path] = LogFollower(
            path,
            parser,
            cursor=saved.cursor() if saved is not None else None,
            on_batch=lambda batch: self._apply(path, batch, now()),
            on_facts=lambda facts: self._state.update_file(path, facts),
            on_counts=lambda counts: self._state.count_file(path, counts, now=now()),
            opener=self._opener,
            settle_seconds=self._settle,
        )
        self._announcer.following(path)
        log.info("following", path=path, server=entry.server)

    def _apply(self, path: str, batch: Batch, now: float) -> None:
        """A parsed batch goes to the state; its failures are logged after the poll's save."""
        self._state.apply(path, batch, now=now)
        self._announcer.counted(path, batch)

    def poll_all(self) -> int:
        """One pass over every followed file; returns bytes read.

        Failures counted in the pass are served only once the position past them is saved: a
        crash (SIGKILL, power loss) then never counts them again.
        """
        self.discover()
        total = 0
        now = self._clock()
        caught_up = []
        with self._state.withheld() if self._store is not None else contextlib.nullcontext():
            for path, follower in list(self._followers.items()):
                try:
                    total += follower.poll(now)
                except Exception:  # a bad file must never stop the loop for the others
                    log.exception("poll_failed", path=path)
                    self._state.count_file(path, ReadCounts(read_errors=1))
                else:
                    if not follower.present:  # the file is not there
                        self._check_hpel(path)
                    if not follower.behind and not follower.parser.has_pending:
                        caught_up.append(path)
            if self._announcer.pending:
                self.save_positions()
        self._announcer.flush()
        for path in caught_up:
            self._announcer.caught_up(path)
        return total

    def _check_hpel(self, path: str) -> None:
        """A missing SystemOut.log next to logdata/*.wbl means HPEL mode: say so."""
        if writes_hpel(path):
            batch = Batch(events=[HpelDetected(path=hpel_directory(path))])
            self._state.apply(path, batch, now=self._clock())

    # -- watchdog ------------------------------------------------------------------------
    def start_observer(self) -> None:
        """Watch the directories of the configured logs (those that exist now)."""
        if self._observer_factory is None:
            return
        if self._observer is None or not self._observer.is_alive():
            if self._observer is not None:
                log.warning("observer_died_restarting")
            try:
                self._observer = self._observer_factory()
                self._observer.start()
            except Exception:
                log.exception("observer_start_failed")
                self._observer = None
                return
            self._watched = set()
        self._schedule_new_directories()

    def _schedule_new_directories(self) -> None:
        """Schedule directories that exist now and are not watched yet."""
        if self._observer is None:
            return
        handler = _Wake(self.wake)
        for entry in self._logs:
            directory = watch_directory(entry.path)
            if directory in self._watched or not os.path.isdir(directory):
                continue
            try:
                self._observer.schedule(handler, directory, recursive=False)
                self._watched.add(directory)
            except Exception:
                log.exception("watch_failed", directory=directory)

    def observer_alive(self) -> bool:
        """True while the watchdog observer thread runs."""
        return self._observer is not None and bool(self._observer.is_alive())

    def stop(self) -> None:
        """Stop the observer thread."""
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

    # -- positions -----------------------------------------------------------------------
    def restore(self) -> None:
        """Load saved positions (before the first poll) and the gauges saved with them."""
        if self._store is None:
            return
        self._saved = self._store.load()
        for name, rec in self._saved.servers.items():
            self._state.restore_server(
                name,
                started=rec.started,
                stopped=rec.stopped,
                running=rec.running,
                last_failure=rec.last_failure,
                legacy_endpoint=rec.legacy_endpoint,
            )
        log.info("positions_loaded", path=self._store.path, files=len(self._saved.files))

    def save_positions(self) -> bool:
        """Write where every reader stands (minus what is not yet turned into events)."""
        if self._store is None:
            return True
        snapshot = self._state.current()
        files = {}
        for path, follower in self._followers.items():
            totals = snapshot.files.get(path)
            facts: dict[str, Any] = {}
            if totals is not None:
                facts = {
                    "header_server": totals.header_server,
                    "cell": totals.cell,
                    "node": totals.node,
                    "certificate": certificate_to_json(totals.certificate),
                }
            cursor = follower.resume_cursor(follower.parser.unconsumed_bytes)
            record = file_record(cursor, 0, **facts)
            if record is not None:
                files[path] = record
        servers = {
            name: ServerRecord(
                started=t.started,
                stopped=t.stopped,
                running=t.running,
                last_failure=t.last_failure,
                legacy_endpoint=t.legacy_endpoint,
            )
            for name, t in snapshot.servers.items()
        }
        self._last_save = self._clock()
        return self._store.save(Positions(files=files, servers=servers), now=self._last_save)

    def _maybe_save(self) -> None:
        """Save at most every save_interval seconds."""
        if self._store is not None and self._clock() - self._last_save >= self._save_interval:
            self.save_positions()

    # -- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Poll on every wake-up and at least every poll_interval until `stop` is set."""
        self.restore()
        while not stop.is_set():
            self.start_observer()
            self.wake.clear()
            self.poll_all()
            self.ready.set()
            self._maybe_save()
            interval = self._poll_interval
            if self._pending_settle():
                interval = min(interval, self._settle / 4)
            if any(f.behind for f in self._followers.values()):
                interval = 0.0  # a catch-up: poll again at once (after a save, if one is due)
            self.wake.wait(interval)
        self.stop()
        self.poll_all()
        self.save_positions()
        self._announcer.finish()  # stopped during a first catch-up: what it found

    def _pending_settle(self) -> bool:
        """True when a failure record waits for possible continuation lines."""
        return any(f.parser.has_pending for f in self._followers.values())
