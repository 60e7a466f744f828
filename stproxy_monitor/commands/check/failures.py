"""The APNS failures the check reads: their record times, or a bound where none can be read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from stproxy_monitor.commands.check.rules import UndatedFailure
from stproxy_monitor.logs.events import ApnsFailure, ServerLifecycle
from stproxy_monitor.logs.parser import Batch
from stproxy_monitor.logs.state import State


class FailureLog(State):
    """A State that also keeps every CLFRX0079W it is given: (record time, reason) where the
    time was read; else the failure, bounded by the time of the next record of its log whose
    time was read (a failure or a lifecycle record: a log is written in time order)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[tuple[float, str]] = []
        self.undated: list[UndatedFailure] = []
        self._unbounded: dict[str, list[int]] = {}  # per log: undated failures with no bound

    def apply(self, path: str, batch: Batch, *, now: float) -> None:
        """Apply as State does, then note the batch's APNS failures in order."""
        super().apply(path, batch, now=now)
        for event in batch.events:
            if not isinstance(event, ApnsFailure | ServerLifecycle):
                continue
            if not event.timestamp_parsed:
                if isinstance(event, ApnsFailure):
                    self._unbounded.setdefault(path, []).append(len(self.undated))
                    self.undated.append(UndatedFailure(path=path, reason=event.reason, latest=None))
                continue
            if isinstance(event, ApnsFailure):
                self.failures.append((event.timestamp, event.reason))
            for number in self._unbounded.pop(path, []):
                self.undated[number] = replace(self.undated[number], latest=event.timestamp)


def bounded(
    undated: Sequence[UndatedFailure], mtimes: Mapping[str, float | None]
) -> tuple[UndatedFailure, ...]:
    """The failures with the modification time of their log as a bound too (the earlier)."""
    out = []
    for failure in undated:
        bounds = [b for b in (failure.latest, mtimes.get(failure.path)) if b is not None]
        out.append(replace(failure, latest=min(bounds, default=None)))
    return tuple(out)
