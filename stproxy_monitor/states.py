"""The four states every verdict is given in (Nagios/Icinga's), worst first, and the worst of many.

Worst-of order: OK < WARNING < UNKNOWN < CRITICAL. A certificate we cannot read is worse than
one that merely expires soon (we cannot vouch for it), but better than one known to be expired
or not yet valid. The integer of a state is the plugin exit status of ``cert`` and ``check``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class Status(IntEnum):
    """Nagios/Icinga plugin states; the integer is the exit status."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# Worst first: the order of check's problems, of the status page, /status.json and the log.
STATE_ORDER = (Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK)


def state_rank(state: int) -> int:
    """0 for the worst state (CRITICAL) ... 3 for OK."""
    return STATE_ORDER.index(Status(state))


def worst_status(statuses: Iterable[int]) -> Status:
    """The worst of ``statuses`` in the order OK < WARNING < UNKNOWN < CRITICAL; OK when empty."""
    return min((Status(s) for s in statuses), key=state_rank, default=Status.OK)
