"""Accepted connections that have not sent a byte yet: a socket, a ticket and a slot in a wheel.

Most of a flood of idle connections never sends anything. Giving each of them an asyncio
transport, a stream, a task and a timer (and, at its deadline, a cancellation that unwinds that
task) made every one cost ~10 callbacks and a few hundred objects, at accept and again at expiry,
all on the loop that also answers the scrapes. Here a connection is accepted by hand and only
watched for readability (one epoll registration); its deadline is a slot in one `DeadlineWheel`
for all of them, so that expiring hundreds is one callback closing sockets. The stream machinery
is built when the first byte arrives (`on_active`), with the deadline it had left.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

from stproxy_monitor.web.admission import Admission, Ticket

log = structlog.get_logger(__name__)

T = TypeVar("T")

ACCEPT_BATCH = 64  # connections accepted per readiness callback, so other callbacks interleave
ACCEPT_RETRY = 1.0  # seconds to stop accepting after EMFILE/ENFILE/ENOBUFS (as asyncio does)
WHEEL_TICK = 0.05  # seconds: the granularity of silent connections' deadlines


class DeadlineWheel(Generic[T]):
    """Many deadlines in one timer: items in buckets of `tick` seconds, expired bucket by bucket
    (never early; at most one tick late). All calls from the loop's thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, expire: Callable[[T], None], *, tick: float
    ) -> None:
        self._loop = loop
        self._expire = expire
        self._tick = tick
        self._buckets: dict[int, dict[T, None]] = {}
        self._slot: dict[T, int] = {}
        self._next = 0  # the first bucket not yet expired
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._slot)

    def add(self, item: T, deadline: float) -> None:
        """Expire `item` at `deadline` (loop time) unless discarded before."""
        slot = max(math.ceil(deadline / self._tick), self._next)
        self._buckets.setdefault(slot, {})[item] = None
        self._slot[item] = slot
        if self._timer is None:
            self._arm()

    def discard(self, item: T) -> None:
        """Forget `item` (idempotent)."""
        slot = self._slot.pop(item, None)
        if slot is not None:
            bucket = self._buckets[slot]
            del bucket[item]
            if not bucket:
                del self._buckets[slot]

    def items(self) -> list[T]:
        """What is waiting, in no order."""
        return list(self._slot)

    def _arm(self) -> None:
        self._timer = self._loop.call_at(
            (math.floor(self._loop.time() / self._tick) + 1) * self._tick, self._run
        )

    def _run(self) -> None:
        self._timer = None
        now = math.floor(self._loop.time() / self._tick)
        while self._next <= now and self._slot:
            bucket = self._buckets.pop(self._next, None)
            self._next += 1
            for item in bucket or ():
                del self._slot[item]
                self._expire(item)
        self._next = max(self._next, now + 1)
        if self._slot:
            self._arm()


@dataclass(eq=False, slots=True)
class Silent:
    """An accepted connection that has not sent a byte yet."""

    sock: socket.socket
    address: str
    deadline: float  # loop time: when its TLS handshake (or, plain, its request head) ends
    spread: float  # the share of the phase deadlines it gets (see Acceptor)
    ticket: Ticket = field(init=False, repr=False)


class Acceptor:
    """Accepts on the listening socket and holds connections until their first byte."""

    def __init__(
        self,
        sock: socket.socket,
        admission: Admission,
        *,
        first_deadline: Callable[[], float],
        on_active: Callable[[Silent], None],
        on_refused: Callable[[str], None],
    ) -> None:
        self._sock = sock
        self._admission = admission
        self._first_deadline = first_deadline  # seconds a new connection has to be useful
        self._on_active = on_active
        self._on_refused = on_refused  # a refusal reason to count
        self._loop = asyncio.get_running_loop()
        self._wheel: DeadlineWheel[Silent] = DeadlineWheel(
            self._loop, self._expired, tick=WHEEL_TICK
        )
        self._listening = False

    def start(self) -> None:
        """Start accepting."""
        self._sock.setblocking(False)
        self._loop.add_reader(self._sock.fileno(), self._accept)
        self._listening = True

    def stop(self) -> None:
        """Stop accepting and close every connection still silent."""
        if self._listening:
            self._loop.remove_reader(self._sock.fileno())
            self._listening = False
        for silent in self._wheel.items():
            self._drop(silent)

    def waiting(self) -> int:
        """Connections accepted that have not sent a byte yet."""
        return len(self._wheel)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, peer = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors or buffers: pause, as asyncio does
                log.warning("http_accept_failed", error=exc.strerror or str(exc))
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(ACCEPT_RETRY, self._resume)
                return
            self._admit(conn, peer)

    def _resume(self) -> None:
        if self._listening:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def _admit(
        self, conn: socket.socket, peer: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        host = str(peer[0])
        address = host.removeprefix("::ffff:") if "." in host else host
        # Deadlines of new connections are spread over their second half: connections opened
        # together (a flood, or clients reconnecting as soon as they are cut) are not all cut,
        # and reopened, in the same instant again, which would delay a scrape among them.
        spread = 1.0 - 0.5 * random.random()  # noqa: S311 - not a secret
        silent = Silent(conn, address, self._loop.time() + self._first_deadline() * spread, spread)
        evicted = self._admission.evicted
        ticket = self._admission.admit(address, lambda: self._evicted(silent))
        if self._admission.evicted != evicted:
            self._on_refused("connection_limit")  # an older, silent connection dropped
        if ticket is None or not self._listening:
            self._on_refused("connection_limit")
            conn.close()
            return
        silent.ticket = ticket
        conn.setblocking(False)
        self._loop.add_reader(conn.fileno(), self._readable, silent)
        self._wheel.add(silent, silent.deadline)

    def _readable(self, silent: Silent) -> None:
        try:
            gone = not silent.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return  # a spurious wake-up
        except OSError:
            gone = True  # reset
        if gone:  # closed without a word (a port check, a flood stopping): not a refusal
            self._drop(silent)
            return
        self._loop.remove_reader(silent.sock.fileno())
        self._wheel.discard(silent)
        self._on_active(silent)

    def _expired(self, silent: Silent) -> None:
        self._on_refused("timeout")
        self._close(silent)
        self._admission.release(silent.ticket)

    def _evicted(self, silent: Silent) -> None:
        """Admission dropped it for a newer connection (it released the ticket itself)."""
        if silent.sock.fileno() < 0:
            return
        self._wheel.discard(silent)
        self._close(silent)

    def _drop(self, silent: Silent) -> None:
        self._wheel.discard(silent)
        self._close(silent)
        self._admission.release(silent.ticket)

    def _close(self, silent: Silent) -> None:
        self._loop.remove_reader(silent.sock.fileno())
        silent.sock.close()
