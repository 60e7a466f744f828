"""The running daemon: state, log watcher, collector, HTTP server and reload, wired together."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

import structlog
from watchdog.observers import Observer

from stproxy_monitor import __version__
from stproxy_monitor.certs.monitor import CertificateMonitor
from stproxy_monitor.commands.announce import ProblemLog
from stproxy_monitor.commands.check.plugin import limits_of
from stproxy_monitor.commands.probe import daemon_probe
from stproxy_monitor.commands.status import StatusInputs, gather_status
from stproxy_monitor.config import Config, split_listen
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.logs.positions import PositionStore
from stproxy_monitor.logs.state import State
from stproxy_monitor.logs.watcher import LogWatcher
from stproxy_monitor.metrics.collector import MonitorCollector
from stproxy_monitor.metrics.exposition import SectionRegistry
from stproxy_monitor.metrics.probe import ProbeCollector
from stproxy_monitor.probe.schedule import ProbeScheduler, ProbeStatus
from stproxy_monitor.states import Status
from stproxy_monitor.web.facts import ProbeFact, StatusFacts, status_json
from stproxy_monitor.web.security import PLAIN_HTTP, WebConfigWatcher
from stproxy_monitor.web.server import Endpoints, MonitorHTTPServer, serve_in_thread
from stproxy_monitor.web.status import status_page

log = structlog.get_logger(__name__)


class Service:
    """Owns the threads of `run`; reload swaps the configuration, keeping what was read."""

    def __init__(
        self,
        config: Config,
        *,
        reload_config: Callable[[], Config],
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] = os.environ,
        announce_interval: float = 5.0,
        problem_log: ProblemLog | None = None,
    ) -> None:
        # Problems are logged once the logs were read once, then on change (checked this often).
        self._announce_interval = announce_interval
        self._announced_at: float | None = None
        self.problem_log = problem_log or ProblemLog()
        self.config = config
        self._reload_config = reload_config
        self._clock = clock
        self._reload_requested = threading.Event()
        self._reload_lock = threading.Lock()
        self._reload_ok = True
        self._reload_time = clock()
        self.state = State()
        self._environ = environ
        # probe: its own thread; a bad section raises ConfigError here (exit 2 at start).
        self.prober = self._make_prober(config)
        self.watcher = self._make_watcher(config)
        self.certificates = CertificateMonitor(
            config.certificates,
            config.profiles,
            truststores=config.truststores,
            expected_topic=config.expected_topic,
            environ=environ,
        )
        self.collector = MonitorCollector(
            self.state,
            clock=clock,
            certificates=self.certificates,
            reload_status=self.reload_status,
            watcher_alive=self._watcher_alive,
            positions=self._positions_status,
        )
        # Rendered by sections, each reused while what it is made from stays (exposition).
        self.registry = SectionRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self.registry.register(ProbeCollector(self._probe_status))
        # --web.config.file: a bad file raises ConfigError here (exit 2 at start); later changes
        # to it or to its certificates are picked up per connection and on every tick.
        self.web = WebConfigWatcher(config.web_config_file) if config.web_config_file else None
        host, port = split_listen(config.listen)
        self.http = MonitorHTTPServer(
            (host, port),
            Endpoints(
                registry=self.registry,
                ready=self.watcher.ready.is_set,
                reload=self.reload,
                landing=lambda: status_page(self.status_facts()),
                status_json=lambda: status_json(self.status_facts()),
                security=self.web.current if self.web else lambda: PLAIN_HTTP,
            ),
        )
        self.registry.register(self.http.stats)
        if self.web is not None:
            self.registry.register(self.web)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _make_prober(self, config: Config) -> ProbeScheduler | None:
        """The probe's scheduler when the config has a probe: section (not started)."""
        if config.probe is None:
            return None
        source = daemon_probe(config)
        return ProbeScheduler(
            source,
            endpoint=source().endpoint,
            interval=config.probe.interval,
            environ=self._environ,
        )

    def _probe_status(self) -> ProbeStatus | None:
        """The probe's last status (None without a probe: section)."""
        prober = self.prober
        return None if prober is None else prober.status

    def _reprobe(self, config: Config) -> None:
        """A reload: the same endpoint keeps its schedule and counts, another starts anew."""
        old = self.prober
        if config.probe is None:
            self.prober = None
        else:
            source = daemon_probe(config)
            if old is not None and old.status.endpoint == source().endpoint:
                old.update(source, interval=config.probe.interval)
                return
            self.prober = self._make_prober(config)
            if self.prober is not None and self._thread is not None:
                self.prober.start()
        if old is not None:
            old.stop(timeout=0)

    def _positions_status(self) -> PositionStore | None:
        """The positions store, for its self-metrics."""
        return self.positions

    def _watcher_alive(self) -> bool:
        """Whether the current watcher's observer runs (the watcher object may be replaced)."""
        return self.watcher.observer_alive()

    def _make_watcher(self, config: Config) -> LogWatcher:
        """A watcher for the configured logs, feeding the shared state."""
        store = PositionStore(config.positions_file) if config.positions_file else None
        self.positions = store
        return LogWatcher(
            config.logs,
            self.state,
            clock=self._clock,
            poll_interval=config.poll_interval,
            settle_seconds=config.settle_seconds,
            store=store,
            observer_factory=Observer if config.file_events else None,
            save_interval=config.positions_interval,
        )

    @property
    def port(self) -> int:
        """The port actually bound (useful with :0)."""
        return int(self.http.server_address[1])

    @property
    def url(self) -> str:
        """The status page's address (localhost when listening on every address)."""
        host = split_listen(self.config.listen)[0]
        host = "localhost" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - a comparison
        host = f"[{host}]" if ":" in host else host
        tls = self.web is not None and self.web.current().ssl_context is not None
        return f"{'https' if tls else 'http'}://{host}:{self.port}/"

    def start(self) -> None:
        """Start the tailer and HTTP threads."""
        self._thread = threading.Thread(
            target=self.watcher.run, args=(self._stop,), name="tailer", daemon=True
        )
        self._thread.start()
        serve_in_thread(self.http)
        if self.prober is not None:
            self.prober.start()

    def tick(self) -> None:
        """Main-thread housekeeping: a pending SIGHUP reload, a changed web config, problems."""
        if self.web is not None:
            self.web.refresh()
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            self.reload()
        self.announce()

    def announce(self) -> None:
        """Log the problems that are new or changed (see ProblemLog), at most every interval."""
        now = self._clock()
        if not self.watcher.ready.is_set():
            return
        if self._announced_at is not None and now - self._announced_at < self._announce_interval:
            return
        self._announced_at = now
        try:
            problems = self.status_facts().problems
        except Exception:  # the daemon keeps serving; the page would show the same error
            log.exception("status_failed")
            return
        self.problem_log.update(problems)

    def status_facts(self) -> StatusFacts:
        """What the status page and /status.json show, now."""
        now = self._clock()
        snapshot = self.state.snapshot()
        config = self.config
        return gather_status(
            StatusInputs(
                now=now,
                version=__version__,
                ready=self.watcher.ready.is_set(),
                logs=snapshot,
                certificates=self.certificates.read(snapshot),
                limits=limits_of(config),
                log_patterns=tuple(entry.path for entry in config.logs),
                certificate_patterns=tuple(entry.path for entry in config.certificates),
                probe=probe_fact(self._probe_status()),
                probe_configured=config.probe is not None,
            )
        )

    def request_reload(self) -> None:
        """Ask for a reload from a signal handler (done on the main thread's next tick)."""
        self._reload_requested.set()

    def reload(self) -> tuple[bool, str]:
        """Re-read the configuration; on error keep the old one and say why."""
        with self._reload_lock:
            try:
                config = self._reload_config()
                if config.probe is not None:
                    daemon_probe(config)  # a bad probe section refuses the reload before changes
            except ConfigError as exc:
                self._reload_ok = False
                for problem in exc.problems:
                    log.error("reload_failed", problem=problem)
                return False, "reload failed:\n" + "\n".join(exc.problems)
            self.watcher.update_logs(config.logs)
            self.certificates.update(
                config.certificates,
                config.profiles,
                truststores=config.truststores,
                expected_topic=config.expected_topic,
            )
            self._reprobe(config)
            if self.web is not None:
                self.web.refresh()
            _warn_restart_needed(self.config, config)
            self.config = config
            self._reload_ok = True
            self._reload_time = self._clock()
            self.watcher.wake.set()
            log.info("reloaded", logs=len(config.logs))
            return True, "reloaded"

    def reload_status(self) -> tuple[bool, float]:
        """Whether the last (re)load succeeded, and when the last success was."""
        return self._reload_ok, self._reload_time

    def shutdown(self) -> None:
        """Stop serving and following; returns when the threads are done."""
        self._stop.set()
        self.watcher.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                # A poll reads at most 16 MiB, so this means a stuck file system: say that the
                # final positions were not saved rather than exit as if they were.
                log.error("shutdown_timeout", detail="tailer still reading; positions not saved")
        if self.prober is not None:
            self.prober.stop()  # a probe in flight ends at its timeout; not waited for long
        self.http.shutdown()
        self.http.server_close()


_RESTART_KEYS = (
    "listen",
    "web_config_file",
    "positions_file",
    "poll_interval",
    "settle_seconds",
    "positions_interval",
)


def _warn_restart_needed(old: Config, new: Config) -> None:
    """Settings a reload cannot change in place: say so instead of ignoring them silently."""
    for key in _RESTART_KEYS:
        if getattr(old, key) != getattr(new, key):
            log.warning("reload_needs_restart", key=key)


def probe_fact(status: ProbeStatus | None) -> ProbeFact | None:
    """The last probe as the status page shows it (None before the first)."""
    last = None if status is None else status.last
    if last is None:
        return None
    return ProbeFact(
        endpoint=last.endpoint,
        result=last.result,
        state=Status(last.exit_status),
        ran_at=last.started,
        duration_seconds=last.duration_seconds,
        status=last.status,
        apns_reason=last.apns_reason,
        detail=last.message,
    )
