"""The daemon says what is wrong: one log event per problem at start and whenever one changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from stproxy_monitor.states import STATE_ORDER, Status
from stproxy_monitor.web.facts import Problem

log = structlog.get_logger(__name__)


class ProblemLog:
    """Logs each problem once when first seen and again when its state changes.

    A problem that goes away is logged as ``problem_cleared``; the overall state, as ``status``,
    at the first evaluation and whenever it changes. Facts go as event fields (no secret is ever
    among them: see commands/problems.py).
    """

    def __init__(self, logger: Any = None) -> None:
        self._log = logger if logger is not None else log
        self._last: dict[tuple[str, str], Problem] | None = None
        self._state: Status | None = None

    def update(self, problems: Sequence[Problem]) -> None:
        """Compare with the last evaluation; log what is new, changed or gone."""
        current = {(p.event, p.key): p for p in problems}
        last = self._last or {}
        for key, problem in current.items():
            before = last.get(key)
            if before is None or before.state != problem.state:
                self._announce(problem)
        for key, problem in last.items():
            if key not in current:
                was = problem.state.name
                self._log.info("problem_cleared", problem=problem.event, key=problem.key, was=was)
        state = min((p.state for p in problems), key=STATE_ORDER.index, default=Status.OK)
        if state != self._state:
            counts = {s.name.lower(): sum(p.state == s for p in problems) for s in STATE_ORDER[:3]}
            self._log.info("status", state=state.name, problems=len(problems), **counts)
        self._last, self._state = current, state

    def _announce(self, problem: Problem) -> None:
        emit = self._log.error if problem.state == Status.CRITICAL else self._log.warning
        emit(problem.event, state=problem.state.name, message=problem.text, **problem.facts)
