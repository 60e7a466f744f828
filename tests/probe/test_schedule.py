"""The daemon's probe schedule: first probe soon after start, then one per interval (>= 300 s),
the last result kept as a frozen status between probes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stproxy_monitor.probe.client import ProbeSpec
from stproxy_monitor.probe.result import ProbeResult
from stproxy_monitor.probe.schedule import FIRST_DELAY, ProbeScheduler, ProbeStatus
from stproxy_monitor.probe_config import MIN_INTERVAL

SPEC = ProbeSpec(host="api.push.apple.com", port=443, certificate="/x.p12")


class FakeTime:
    """A monotonic clock moved by the fake wait; stops the loop after `probes` probes."""

    def __init__(self, results: list[str], probe_takes: float = 2.0) -> None:
        self.now = 1000.0
        self.results = list(results)
        self.probe_takes = probe_takes
        self.starts: list[float] = []
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return not self.results  # stop once every result was handed out

    def run(self, spec: ProbeSpec, **_: Any) -> ProbeResult:
        self.starts.append(self.now)
        self.now += self.probe_takes
        result = self.results.pop(0)
        if result == "crash":
            raise RuntimeError("a bug")
        return ProbeResult(
            result=result, message=result, endpoint=spec.endpoint, started=self.now,
            duration_seconds=self.probe_takes,
        )  # fmt: skip


def scheduler(fake: FakeTime, interval: float = 3600.0) -> ProbeScheduler:
    return ProbeScheduler(
        lambda: SPEC,
        endpoint=SPEC.endpoint,
        interval=interval,
        environ={},
        run=fake.run,
        monotonic=fake.monotonic,
        wait=fake.wait,
    )


def test_first_probe_soon_then_one_per_interval() -> None:
    """The first probe FIRST_DELAY after start, the next ones an interval after the last start."""
    fake = FakeTime(["accepted", "accepted", "unreachable"])
    runner = scheduler(fake)
    runner.run()
    assert [s - 1000.0 for s in fake.starts] == [
        FIRST_DELAY,
        FIRST_DELAY + 3600,
        FIRST_DELAY + 7200,
    ]
    status = runner.status
    assert status.last is not None and status.last.result == "unreachable"
    assert status.totals["accepted"] == 2 and status.totals["unreachable"] == 1
    assert status.totals["other"] == 0
    assert status.streak == 1


def test_never_more_often_than_every_300_seconds() -> None:
    """An interval under 300 s is raised to 300 s (the config refuses it anyway)."""
    fake = FakeTime(["accepted", "accepted"])
    runner = scheduler(fake, interval=5)
    runner.run()
    assert fake.starts[1] - fake.starts[0] == MIN_INTERVAL
    assert runner.status.interval == MIN_INTERVAL


def test_streak_counts_the_same_result_in_a_row() -> None:
    """Two unreachable probes in a row: streak 2; a change starts again at 1."""
    status = ProbeStatus(endpoint="e:1", interval=3600)
    made = [
        ProbeResult(result=r, message=r, endpoint="e:1", started=0, duration_seconds=0)
        for r in ("unreachable", "unreachable", "accepted")
    ]
    streaks = []
    for result in made:
        status = status.after(result)
        streaks.append(status.streak)
    assert streaks == [1, 2, 1]


def test_a_crashing_probe_does_not_end_the_loop() -> None:
    """A bug in one probe is logged; the status keeps the last good result; the loop goes on."""
    fake = FakeTime(["accepted", "crash", "accepted"])
    runner = scheduler(fake)
    runner.run()
    assert runner.status.totals["accepted"] == 2
    assert len(fake.starts) == 3


def test_status_is_frozen_and_replaced() -> None:
    """A reader's status object never changes under it: a probe makes a new one."""
    fake = FakeTime(["accepted"])
    runner = scheduler(fake)
    before = runner.status
    runner.run()
    assert before.last is None and runner.status is not before
    with pytest.raises(AttributeError):
        runner.status.streak = 5  # type: ignore[misc]


def test_stop_ends_the_thread() -> None:
    """start() runs the loop in a thread named probe; stop() ends it before the first probe."""
    runner = ProbeScheduler(lambda: SPEC, endpoint=SPEC.endpoint, environ={}, first_delay=60)
    runner.start()
    assert any(t.name == "probe" for t in threading.enumerate())
    runner.stop(timeout=5)
    assert not any(t.name == "probe" for t in threading.enumerate())
    assert runner.status.last is None
