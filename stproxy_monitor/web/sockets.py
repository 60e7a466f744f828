"""Socket reading under deadlines and bounded request heads, for the HTTP handler."""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class HeadTooLargeError(Exception):
    """The request's header section exceeds its byte budget."""


class DeadlineReader(io.RawIOBase):
    """Raw reads from a socket: a keep-alive wait, then one deadline for the whole request head.

    A per-read timeout alone lets a client trickle one byte every few seconds and hold its
    thread forever; here a request must be complete `head` seconds after its first byte.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        idle: float,
        head: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._sock = sock
        self._idle = idle
        self._head = head
        self._clock = clock
        self._deadline: float | None = None

    def readable(self) -> bool:
        """A readable stream."""
        return True

    def await_request(self) -> None:
        """Wait up to the idle timeout for the next request; its first byte starts the clock."""
        self._deadline = None

    def extend(self, seconds: float) -> None:
        """Give the rest of the request (its body) `seconds` from now."""
        self._deadline = self._clock() + seconds

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read what is available, waiting no later than the deadline (TimeoutError after)."""
        if self._deadline is None:
            self._sock.settimeout(self._idle)
            count = self._sock.recv_into(buffer)
            if count:
                self._deadline = self._clock() + self._head
            return count
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class SocketWriter(io.BufferedIOBase):
    """Whole writes with sendall, each bounded by a timeout (a client that stops reading)."""

    def __init__(self, sock: socket.socket, *, timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self._timeout = timeout
        self._held: list[bytes] | None = None

    def writable(self) -> bool:
        """A writable stream."""
        return True

    def write(self, data: Any) -> int:
        """Send everything or raise (inside corked(): keep it for the one send at the end)."""
        if self._held is not None:
            self._held.append(bytes(data))
            return len(self._held[-1])
        self._sock.settimeout(self._timeout)
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """What is written inside goes out in one send when the block ends (nothing on error)."""
        self._held = []
        try:
            yield
            data = b"".join(self._held)
        finally:
            self._held = None
        self.write(data)

    def fileno(self) -> int:
        """The socket's descriptor."""
        return self._sock.fileno()


class HeadBudget:
    """A readline() view of a reader that refuses to read more than `budget` bytes in all."""

    def __init__(self, reader: io.BufferedIOBase, budget: int) -> None:
        self._reader = reader
        self._left = budget

    def readline(self, limit: int = -1) -> bytes:
        """One line, counted against the budget; HeadTooLargeError once it is spent."""
        cap = self._left + 1 if limit < 0 else min(limit, self._left + 1)
        line = self._reader.readline(cap)
        self._left -= len(line)
        if self._left < 0:
            raise HeadTooLargeError
        return line

    def __getattr__(self, name: str) -> Any:
        """Everything else from the underlying reader."""
        return getattr(self._reader, name)
