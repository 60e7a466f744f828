"""The daemon's probe: in its own thread, the first a few seconds after start, then at most one
per interval (never more often than every 300 s: Apple treats frequent connections as abuse).

A scrape reads :attr:`ProbeScheduler.status`, a frozen snapshot replaced when a probe ends:
it never waits for a probe in flight, and a hung call ends at the probe's timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import structlog

from stproxy_monitor.probe.client import ProbeSpec, run_probe
from stproxy_monitor.probe.outcome import RESULTS
from stproxy_monitor.probe.result import ProbeResult
from stproxy_monitor.probe_config import DEFAULT_INTERVAL, MIN_INTERVAL

FIRST_DELAY = 3.0

log = structlog.get_logger(__name__)
Wait = Callable[[threading.Event, float], bool]
SpecSource = Callable[[], ProbeSpec]


def _zero_totals() -> Mapping[str, int]:
    return MappingProxyType(dict.fromkeys(RESULTS, 0))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeStatus:
    """What the daemon knows of its probes: the last result (None before the first), probes
    run by result, and how many probes in a row gave the last result (``streak``)."""

    endpoint: str
    interval: float
    last: ProbeResult | None = None
    totals: Mapping[str, int] = field(default_factory=_zero_totals)
    streak: int = 0

    def after(self, result: ProbeResult) -> ProbeStatus:
        """The status once ``result`` is in."""
        totals = dict(self.totals)
        totals[result.result] = totals.get(result.result, 0) + 1
        same = self.last is not None and self.last.result == result.result
        streak = self.streak + 1 if same else 1
        return replace(self, last=result, totals=MappingProxyType(totals), streak=streak)


def _wait(event: threading.Event, seconds: float) -> bool:
    return event.wait(seconds)


class ProbeScheduler:
    """Runs the probe on schedule in a thread of its own; ``status`` is always ready to read."""

    def __init__(
        self,
        spec: SpecSource,
        *,
        endpoint: str,
        interval: float = DEFAULT_INTERVAL,
        environ: Mapping[str, str],
        run: Callable[..., ProbeResult] = run_probe,
        first_delay: float = FIRST_DELAY,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Wait = _wait,
    ) -> None:
        self._spec = spec
        self._environ = environ
        self._run = run
        self._first_delay = first_delay
        self._monotonic = monotonic
        self._wait = wait
        self._interval = max(interval, MIN_INTERVAL)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.status = ProbeStatus(endpoint=endpoint, interval=self._interval)

    def start(self) -> None:
        """Start the probe thread."""
        self._thread = threading.Thread(target=self.run, name="probe", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop after the probe in flight (waiting for it at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def update(self, spec: SpecSource, *, interval: float) -> None:
        """A reload: the next probes use ``spec``; the schedule keeps its pace."""
        self._spec = spec
        self._interval = max(interval, MIN_INTERVAL)
        self.status = replace(self.status, interval=self._interval)

    def run(self) -> None:
        """The loop: wait, probe, until stopped. A probe starts at most once per interval."""
        due = self._monotonic() + self._first_delay
        while not self._wait(self._stop, max(0.0, due - self._monotonic())):
            begin = self._monotonic()
            self.probe_once()
            due = begin + self._interval

    def probe_once(self) -> ProbeResult | None:
        """One probe now; its result becomes the status. Never raises (logs instead)."""
        try:
            result = self._run(self._spec(), environ=self._environ)
        except Exception as exc:  # the probe thread must outlive any bug in one probe
            log.error("probe_crashed", error=type(exc).__name__, detail=str(exc)[:200])
            return None
        self.status = self.status.after(result)
        event = log.info if result.success else log.warning
        event(
            "probe",
            endpoint=result.endpoint,
            result=result.result,
            status=result.status,
            apns_reason=result.apns_reason,
            tls_alert=result.tls_alert,
            duration_seconds=round(result.duration_seconds, 3),
            message=result.message,
        )
        return result
