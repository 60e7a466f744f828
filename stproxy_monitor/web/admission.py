"""Who may hold a connection: a cap per client address and one in total (pure bookkeeping).

At a cap, the oldest connection that has not yet completed a request (of that address, at the
address's cap) is dropped to make room, so that connections opened and left silent (or
trickling) cannot keep a scraper out; only connections that all completed requests make a cap
refuse a newcomer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)


@dataclass(eq=False, slots=True)
class Ticket:
    """One admitted connection."""

    address: str
    close: Callable[[], object] = field(repr=False)
    released: bool = False


class Admission:
    """Counts open connections by address; all calls from the one event-loop thread."""

    def __init__(self, *, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = min(per_address, total)
        self.open = 0
        self._by_address: dict[str, int] = {}
        self._unproven: OrderedDict[Ticket, None] = OrderedDict()
        self.evicted = 0

    def admit(self, address: str, close: Callable[[], object]) -> Ticket | None:
        """A ticket for a new connection, or None when it must be refused."""
        if self._by_address.get(address, 0) >= self.per_address:
            mine = next((t for t in self._unproven if t.address == address), None)
            if mine is None:
                return None
            self._evict(mine)
        if self.open >= self.total:
            if not self._unproven:
                return None
            self._evict(next(iter(self._unproven)))
        ticket = Ticket(address, close)
        self.open += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1
        self._unproven[ticket] = None
        return ticket

    def _evict(self, ticket: Ticket) -> None:
        close = ticket.close
        self.release(ticket)
        self.evicted += 1
        close()

    def proven(self, ticket: Ticket) -> None:
        """The connection completed a request: it is no longer the first to be dropped."""
        self._unproven.pop(ticket, None)

    def release(self, ticket: Ticket) -> None:
        """The connection is gone (idempotent)."""
        if ticket.released:
            return
        ticket.released = True
        # `close` usually refers to the connection, which refers to its ticket: dropping it
        # frees them by reference counting, not in a full collection that stops every thread.
        ticket.close = _closed
        self._unproven.pop(ticket, None)
        self.open -= 1
        left = self._by_address[ticket.address] - 1
        if left:
            self._by_address[ticket.address] = left
        else:
            del self._by_address[ticket.address]


def _closed() -> None:
    """The `close` of a released ticket: nothing left to close."""


def fd_budget(wanted: int, *, reserve: int = 256) -> int:
    """How many connections the file descriptor limit allows, raising the soft limit towards
    the hard one as far as `wanted` needs (as Go does at start); logged when it is lower."""
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + reserve
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    allowed = max(1, soft - reserve)
    log.warning("http_connection_cap_lowered", wanted=wanted, allowed=allowed, nofile=soft)
    return allowed
