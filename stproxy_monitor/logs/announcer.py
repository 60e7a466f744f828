"""How the watcher tells of the failures it counts: in its event log, after the poll's save.

Failures found in a log's first catch-up (from the start, or from a saved position, to the end
of the file) are told as one ``apns_failures_in_catch_up`` event (and one by one at debug
level, ``apns_failure`` with ``catch_up=True``); later ones one by one (``apns_failure``). A
poll's lines are written once its position is saved, so the event log names a failure in the
life that counted (and served) it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from stproxy_monitor.logs.events import ApnsFailure
from stproxy_monitor.logs.parser import Batch

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class CatchUp:
    """APNS failures found while a log is first read to its end: logged as one summary."""

    count: int = 0
    first: float | None = None
    last: float | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, failure: ApnsFailure) -> None:
        """Count one failure (its record time widens the span)."""
        self.count += 1
        self.reasons[failure.reason] += 1
        self.first = failure.timestamp if self.first is None else min(self.first, failure.timestamp)
        self.last = failure.timestamp if self.last is None else max(self.last, failure.timestamp)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FailureAnnouncer:
    """Collects a poll's failures; tells of them when told to (after the save)."""

    def __init__(self) -> None:
        self._counted: list[tuple[str, ApnsFailure]] = []
        self._catching_up: dict[str, CatchUp] = {}

    def following(self, path: str) -> None:
        """A log is followed from now on: its first read is a catch-up."""
        self._catching_up[path] = CatchUp()

    def unfollowing(self, path: str) -> None:
        """A log is no longer followed."""
        self._catching_up.pop(path, None)

    def counted(self, path: str, batch: Batch) -> None:
        """The failures of a batch applied to the state."""
        self._counted.extend(
            (path, event) for event in batch.events if isinstance(event, ApnsFailure)
        )

    @property
    def pending(self) -> bool:
        """Failures were counted since the last flush."""
        return bool(self._counted)

    def flush(self) -> None:
        """Log the failures counted: live ones one by one, a catch-up's summed up."""
        for path, event in self._counted:
            catch_up = self._catching_up.get(path)
            if catch_up is None:
                log.warning(
                    "apns_failure", path=path, reason=event.reason, record_time=event.timestamp
                )
                continue
            catch_up.add(event)
            # one by one at debug level, for whoever reconstructs a life's counts (the soak)
            log.debug(
                "apns_failure",
                path=path,
                reason=event.reason,
                record_time=event.timestamp,
                catch_up=True,
            )
        self._counted.clear()

    def caught_up(self, path: str) -> None:
        """The first read of `path` reached the end: summarise the failures it found."""
        catch_up = self._catching_up.pop(path, None)
        if catch_up is not None and catch_up.count:
            log.warning(
                "apns_failures_in_catch_up",
                path=path,
                count=catch_up.count,
                first=_iso(catch_up.first),
                last=_iso(catch_up.last),
                reasons=dict(sorted(catch_up.reasons.items())),
            )

    def finish(self) -> None:
        """Stopped: summarise what the catch-ups still running found."""
        self.flush()
        for path in list(self._catching_up):
            self.caught_up(path)
