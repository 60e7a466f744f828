"""Tests for states: the four plugin states, worst first, and the worst of many."""

from __future__ import annotations

import pytest

from stproxy_monitor.states import Status, state_rank, worst_status


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], 0),
        ([0, 1], 1),
        ([1, 3], 3),
        ([3, 2], 2),
        ([0, 3, 1], 3),
        ([2, 1, 0], 2),
    ],
)
def test_worst_status_orders_ok_warning_unknown_critical(
    statuses: list[int], expected: int
) -> None:
    """The worst status ranks OK < WARNING < UNKNOWN < CRITICAL."""
    assert worst_status(statuses) == expected


def test_sorting_by_rank_puts_the_worst_first() -> None:
    """Sorted by state_rank: CRITICAL, UNKNOWN, WARNING, OK."""
    states = [Status.OK, Status.CRITICAL, Status.WARNING, Status.UNKNOWN]
    ordered = sorted(states, key=state_rank)
    assert ordered == [Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK]
