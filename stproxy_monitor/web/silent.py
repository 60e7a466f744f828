"""Accepted connections that have not sent a byte yet: a socket, a ticket and a slot in a wheel.

Most of a flood of idle connections never sends anything. Giving each of them an asyncio
transport, a stream, a task and a timer (and, at its deadline, a cancellation that unwinds that
task) made every one cost ~10 callbacks and a few hundred objects, at accept and again at expiry,
all on the loop that also answers the scrapes. Here a connection is accepted by hand and only
watched for readability (one epoll registration); its deadline is a slot in one `DeadlineWheel`
for all of them, so that expiring hundreds is one callback closing sockets. The stream machinery
is built when the first byte arrives (`on_active`), with the deadline it had left.

That needs a loop that can watch a socket (`add_reader`: the selector loops, as on Unix).
Elsewhere (Windows' proactor loop) the Acceptor lets the loop accept: a silent connection is
then a transport with a small protocol that only waits for the first bytes, still in the wheel.
"""

from __future__ import annotations

import asyncio
import contextlib
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
LISTEN_BACKLOG = 4096  # the kernel caps it (Linux: net.core.somaxconn)
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

    address: str
    deadline: float  # loop time: when its TLS handshake (or, plain, its request head) ends
    spread: float  # the share of the phase deadlines it gets (see Acceptor)
    sock: socket.socket | None = None  # accepted by hand: watched with add_reader
    transport: asyncio.Transport | None = field(default=None, repr=False)  # accepted by the loop
    first: bytes = b""  # with a transport: the bytes that made it active
    ticket: Ticket = field(init=False, repr=False)
    started: bool = False  # a task took it over (and closes it)

    def close(self) -> None:
        """Close it at once (idempotent)."""
        if self.sock is not None:
            self.sock.close()
        if self.transport is not None:
            self.transport.abort()


class _FirstBytes(asyncio.Protocol):
    """A silent connection accepted by the loop (no add_reader there): waits for a byte."""

    def __init__(self, acceptor: Acceptor) -> None:
        self._acceptor = acceptor
        self._silent: Silent | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream server's
        self._silent = self._acceptor.admit_transport(transport)

    def data_received(self, data: bytes) -> None:
        silent, self._silent = self._silent, None
        if silent is not None:
            silent.first = data
            self._acceptor.active(silent)

    def eof_received(self) -> bool:
        self.connection_lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        silent, self._silent = self._silent, None
        if silent is not None:
            self._acceptor.drop(silent)


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
        by_hand: bool | None = None,
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
        # Accept by hand where the loop can watch sockets; None: find out.
        self._by_hand = (
            isinstance(self._loop, asyncio.SelectorEventLoop) if by_hand is None else by_hand
        )
        self._server: asyncio.Server | None = None
        self._listening = False

    async def start(self) -> None:
        """Start accepting."""
        self._listening = True
        if not self._by_hand:
            self._server = await self._loop.create_server(
                lambda: _FirstBytes(self), sock=self._sock, backlog=LISTEN_BACKLOG
            )
            return
        self._sock.setblocking(False)
        self._loop.add_reader(self._sock.fileno(), self._accept)

    def stop(self) -> None:
        """Stop accepting and close every connection still silent."""
        if self._listening and self._server is not None:
            self._server.close()
        elif self._listening:
            self._loop.remove_reader(self._sock.fileno())
        self._listening = False
        for silent in self._wheel.items():
            self.drop(silent)

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
            silent = self._admit(peer, sock=conn)
            if silent is not None:
                conn.setblocking(False)
                self._loop.add_reader(conn.fileno(), self._readable, silent)

    def _resume(self) -> None:
        if self._listening:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def admit_transport(self, transport: asyncio.Transport) -> Silent | None:
        """A connection the loop accepted (see _FirstBytes): admitted, or closed."""
        return self._admit(
            transport.get_extra_info("peername") or ("unknown",), transport=transport
        )

    def _admit(
        self,
        peer: tuple[object, ...],
        *,
        sock: socket.socket | None = None,
        transport: asyncio.Transport | None = None,
    ) -> Silent | None:
        host = str(peer[0])
        address = host.removeprefix("::ffff:") if "." in host else host
        # Deadlines of new connections are spread over their second half: connections opened
        # together (a flood, or clients reconnecting as soon as they are cut) are not all cut,
        # and reopened, in the same instant again, which would delay a scrape among them.
        spread = 1.0 - 0.5 * random.random()  # noqa: S311 - not a secret
        deadline = self._loop.time() + self._first_deadline() * spread
        silent = Silent(address, deadline, spread, sock=sock, transport=transport)
        evicted = self._admission.evicted
        ticket = self._admission.admit(address, lambda: self._evicted(silent))
        if self._admission.evicted != evicted:
            self._on_refused("connection_limit")  # an older, silent connection dropped
        if ticket is None or not self._listening:
            self._on_refused("connection_limit")
            silent.close()
            return None
        silent.ticket = ticket
        self._wheel.add(silent, deadline)
        return silent

    def _readable(self, silent: Silent) -> None:
        assert silent.sock is not None  # noqa: S101 - only sockets accepted by hand are watched
        try:
            gone = not silent.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return  # a spurious wake-up
        except OSError:
            gone = True  # reset
        if gone:  # closed without a word (a port check, a flood stopping): not a refusal
            self.drop(silent)
            return
        self._loop.remove_reader(silent.sock.fileno())
        self.active(silent)

    def active(self, silent: Silent) -> None:
        """Its first bytes arrived: out of the wheel, over to `on_active`."""
        self._wheel.discard(silent)
        self._on_active(silent)

    def _expired(self, silent: Silent) -> None:
        self._on_refused("timeout")
        self._close(silent)
        self._admission.release(silent.ticket)

    def _evicted(self, silent: Silent) -> None:
        """Admission dropped it for a newer connection (it released the ticket itself)."""
        self._wheel.discard(silent)
        self._close(silent)

    def drop(self, silent: Silent) -> None:
        """Close a silent connection and give its slot back."""
        self._wheel.discard(silent)
        self._close(silent)
        self._admission.release(silent.ticket)

    def _close(self, silent: Silent) -> None:
        if silent.sock is not None and silent.sock.fileno() >= 0:
            self._loop.remove_reader(silent.sock.fileno())
        silent.close()


async def open_streams(silent: Silent) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over a connection that became active (its first bytes already in the reader)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    if silent.transport is not None:  # accepted by the loop: take its transport over
        transport = silent.transport
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(silent.first)
    else:
        assert silent.sock is not None  # noqa: S101 - one or the other
        transport, _ = await loop.connect_accepted_socket(lambda: protocol, silent.sock)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # A response is one write: nothing waits for the ACK of an earlier segment.
        with contextlib.suppress(OSError):  # already reset: the first read will say so
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
