"""Connections on asyncio streams: plain or TLS (over memory BIOs), each read under a deadline.

TLS is done here on ssl.SSLObject rather than by asyncio's own SSL transport, for two things
that transport cannot do: look at the first byte before the handshake (plain HTTP sent to the
TLS port gets a readable 400), and send OpenSSL's alert when a handshake fails (asyncio drops
it and closes, so a refused client saw a bare EOF).
"""

from __future__ import annotations

import asyncio
import ssl

from stproxy_monitor.web.openssl import X509_V_ERR_CERT_REJECTED
from stproxy_monitor.web.protocol import HeadError, check_request_line, head_end

READ_SIZE = 64 * 1024
PLAIN_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class HandshakeRefusedError(Exception):
    """The connection is not a TLS client we talk to; `reason` is the refusal to count."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason  # None: closed without a word (a port check), not a refusal


class Channel:
    """A byte stream to one client: plain, or TLS once `handshake` succeeded."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.pending = b""  # read ahead of the next request (keep-alive)

    @property
    def tls(self) -> ssl.SSLObject | None:
        """The TLS session, if any."""
        return self._tls

    async def handshake(self, context: ssl.SSLContext) -> None:
        """Sniff the first bytes, then complete a TLS handshake (the caller bounds the time)."""
        first = await self._reader.read(READ_SIZE)
        if not first:
            raise HandshakeRefusedError(None)
        if first[0] != 0x16:  # not a TLS handshake record
            if first[:1].isalpha():
                await self._send_raw(PLAIN_TO_TLS)
                raise HandshakeRefusedError("plain_http")
            raise HandshakeRefusedError("tls_handshake")
        tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._incoming.write(first)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self._reader.read(READ_SIZE)
                if not data:
                    raise HandshakeRefusedError("tls_handshake") from None
                self._incoming.write(data)
            except ssl.SSLError as exc:
                await self._flush()  # OpenSSL's alert: the client learns why
                rejected = getattr(exc, "verify_code", None) == X509_V_ERR_CERT_REJECTED
                raise HandshakeRefusedError(
                    "client_certificate" if rejected else "tls_handshake"
                ) from exc
        await self._flush()
        self._tls = tls

    async def read(self) -> bytes:
        """What arrives next (b"" at the end of the stream)."""
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        if self._tls is None:
            return await self._reader.read(READ_SIZE)
        while True:
            try:
                data = self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                await self._flush()  # e.g. a TLS 1.3 key update
                raw = await self._reader.read(READ_SIZE)
                if not raw:
                    return b""
                self._incoming.write(raw)
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            await self._flush()
            return data

    async def read_head(self, *, max_line: int, max_head: int) -> bytes:
        """One request head (up to its blank line); what follows is kept for the body."""
        buffer = bytearray()
        searched = 0
        while True:
            check_request_line(buffer, max_line)
            end = head_end(buffer, searched)
            searched = max(0, len(buffer) - 3)  # a blank line may straddle two reads
            if end >= 0:
                if end > max_head:
                    raise HeadError(413)
                self.pending = bytes(buffer[end:])
                return bytes(buffer[:end])
            if len(buffer) > max_head:
                raise HeadError(413)
            data = await self.read()
            if not data:
                raise EOFError
            buffer += data

    async def read_exactly(self, size: int) -> bytes:
        """`size` bytes of a body (EOFError if the client stops before)."""
        buffer = bytearray()
        while len(buffer) < size:
            data = await self.read()
            if not data:
                raise EOFError
            buffer += data
        self.pending = bytes(buffer[size:])
        return bytes(buffer[:size])

    async def write(self, data: bytes) -> None:
        """Send a whole response and wait until the kernel took it (the caller bounds it)."""
        if self._tls is None:
            await self._send_raw(data)
            return
        self._tls.write(data)
        await self._flush()

    async def _flush(self) -> None:
        """Send what TLS produced."""
        data = self._outgoing.read()
        if data:
            await self._send_raw(data)

    async def _send_raw(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    def peer_address(self) -> str:
        """The client's address (IPv4-mapped IPv6 as IPv4)."""
        peer = self._writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "unknown"
        return host.removeprefix("::ffff:") if "." in host else host

    def close(self) -> None:
        """Close the connection at once (no TLS close_notify: nobody waits for it)."""
        self._writer.close()
