"""ProblemLog: one event per problem at the first evaluation, then only what changed."""

from __future__ import annotations

import structlog

from stproxy_monitor.commands.announce import ProblemLog
from stproxy_monitor.states import Status
from stproxy_monitor.web.facts import Problem


def problem(event: str, state: Status, key: str = "k") -> Problem:
    """A problem with one fact."""
    return Problem(event=event, state=state, key=key, text=f"{event} {key}", facts={"path": key})


def test_first_evaluation_logs_every_problem_and_the_status() -> None:
    """Each problem is an event with its facts, CRITICAL at error level; then the status."""
    with structlog.testing.capture_logs() as events:
        ProblemLog().update(
            [
                problem("certificate_expired", Status.CRITICAL, "/a.p12"),
                problem("sync_pending", Status.WARNING),
            ]
        )
    assert events == [
        {
            "event": "certificate_expired",
            "log_level": "error",
            "state": "CRITICAL",
            "message": "certificate_expired /a.p12",
            "path": "/a.p12",
        },
        {
            "event": "sync_pending",
            "log_level": "warning",
            "state": "WARNING",
            "message": "sync_pending k",
            "path": "k",
        },
        {
            "event": "status",
            "log_level": "info",
            "state": "CRITICAL",
            "problems": 2,
            "critical": 1,
            "unknown": 0,
            "warning": 1,
        },
    ]


def test_only_changes_are_logged_afterwards() -> None:
    """Same problems: silence; a state change: the event again; gone: problem_cleared."""
    problems = ProblemLog()
    problems.update(
        [
            problem("certificate_expiring", Status.WARNING),
            problem("log_missing", Status.WARNING, "x"),
        ]
    )
    with structlog.testing.capture_logs() as events:
        problems.update(
            [
                problem("certificate_expiring", Status.WARNING),
                problem("log_missing", Status.WARNING, "x"),
            ]
        )
    assert events == []
    with structlog.testing.capture_logs() as events:
        problems.update([problem("certificate_expiring", Status.CRITICAL)])
    assert [(e["event"], e.get("state"), e.get("problem")) for e in events] == [
        ("certificate_expiring", "CRITICAL", None),
        ("problem_cleared", None, "log_missing"),
        ("status", "CRITICAL", None),
    ]
    with structlog.testing.capture_logs() as events:
        problems.update([])
    assert [e["event"] for e in events] == ["problem_cleared", "status"]
    assert events[-1]["state"] == "OK"
