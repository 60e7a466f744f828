"""Tests of the HTTP socket helpers: whole writes, and a response sent in one piece."""

from __future__ import annotations

import socket

import pytest

from stproxy_monitor.web.sockets import SocketWriter


class FakeSocket:
    """Records each sendall and the timeout it was given."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.timeout: float | None = None

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))


def writer(fake: FakeSocket) -> SocketWriter:
    return SocketWriter(fake, timeout=3.0)  # type: ignore[arg-type]


def test_write_sends_at_once_with_the_write_timeout() -> None:
    """Outside corked(), each write is one sendall under the write timeout."""
    fake = FakeSocket()
    out = writer(fake)
    assert out.write(b"head") == 4
    assert out.write(memoryview(b"body")) == 4
    assert fake.sent == [b"head", b"body"]
    assert fake.timeout == 3.0


def test_corked_writes_go_out_as_one_send() -> None:
    """Head and body written inside corked() leave in a single sendall (no Nagle wait between)."""
    fake = FakeSocket()
    out = writer(fake)
    with out.corked():
        assert out.write(b"HTTP/1.1 200 OK\r\n\r\n") == 19
        out.write(b"x" * 100_000)
        assert fake.sent == []
    assert fake.sent == [b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100_000]
    out.write(b"next")
    assert fake.sent[-1] == b"next"


def test_corked_sends_nothing_when_the_block_fails() -> None:
    """A response that fails half-way is not sent in part; later writes go out normally."""
    fake = FakeSocket()
    out = writer(fake)
    with pytest.raises(RuntimeError), out.corked():
        out.write(b"half a head")
        raise RuntimeError
    assert fake.sent == []
    out.write(b"after")
    assert fake.sent == [b"after"]


def test_a_real_socket_pair_gets_the_corked_bytes() -> None:
    """Through a real socket the peer reads exactly what was written inside corked()."""
    left, right = socket.socketpair()
    with left, right:
        out = SocketWriter(left, timeout=3.0)
        with out.corked():
            out.write(b"abc")
            out.write(b"def")
        assert right.recv(16) == b"abcdef"
