"""TLS over the probe's connection, then one HTTP/2 POST to a dummy device token (h2).

h2 is a sans-I/O protocol library: it turns bytes into events and back and leaves the socket
to us, so every frame is seen (the :status, Apple's JSON body, a GOAWAY and its debug data) and
every TLS error reaches us as Python's ssl raises it, alert name included. With TLS 1.3 the
server judges the client certificate after the client's handshake is done: its alert then comes
with the first read, and is classified the same way.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography import x509

from stproxy_monitor.probe.network import Deadline, StepRecorder, Stop
from stproxy_monitor.probe.outcome import Seen, alert_name, reason_of
from stproxy_monitor.probe.result import ServerCertificate

DUMMY_TOKEN = "0" * 64
DEVICE_PATH = f"/3/device/{DUMMY_TOKEN}"
# A silent background push: had the token been a device's, it would show nothing.
PAYLOAD = b'{"aps":{"content-available":1}}'
_MAX_BODY = 64 * 1024
_EARLY_WAIT = 1.0  # seconds to wait for the server's first frames before writing


@dataclass(frozen=True, slots=True)
class Secured:
    """The TLS socket, its version and the server's certificate."""

    sock: ssl.SSLSocket
    version: str | None
    server: ServerCertificate | None


def tls_handshake(
    sock: socket.socket, context: ssl.SSLContext, host: str, deadline: Deadline, step: StepRecorder
) -> Secured:
    """TLS with SNI and hostname verification against ``host`` (then see require_h2)."""
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        return _secure(tls, host, deadline, step, deadline.now())
    except BaseException:
        tls.close()
        raise


def _secure(
    tls: ssl.SSLSocket, host: str, deadline: Deadline, step: StepRecorder, begin: float
) -> Secured:
    """The handshake and what it shows (tls_handshake closes the socket when this raises)."""
    try:
        tls.settimeout(deadline.left("TLS handshake"))
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        presented = _chain_summary(_chain(tls, verified=False))
        detail = f"{exc.verify_message or exc.reason}{presented}"
        step("tls", "TLS", f"failed: server certificate does not verify: {detail}", ok=False)
        raise Stop(Seen(failure="server_untrusted", detail=detail)) from None
    except (OSError, ssl.SSLError) as exc:
        raise Stop(
            _io_failure(exc, deadline, step, name="tls", action="TLS", doing="TLS handshake")
        ) from None
    server = _server_certificate(tls)
    version = (tls.version() or "TLS").replace("TLSv", "")
    seen = "ok"
    if server is not None:
        until = time.strftime("%Y-%m-%d", time.gmtime(server.not_after))
        seen += f", server certificate {server.subject} valid until {until}"
        seen += _chain_summary(server.chain[1:], lead="issued by")
    step("tls", f"TLS {version}", f"{seen} {deadline.elapsed_ms(begin)}", ok=True)
    return Secured(tls, f"TLS {version}", server)


def require_h2(tls: ssl.SSLSocket, step: StepRecorder) -> None:
    """Stop unless ALPN chose h2 (an endpoint that does not speak HTTP/2 is `other`)."""
    alpn = tls.selected_alpn_protocol()
    if alpn != "h2":
        words = f"the server chose {alpn}" if alpn else "the server agreed on no ALPN protocol"
        step("alpn", "ALPN h2", f"failed: {words}", ok=False)
        raise Stop(Seen(failure="no_h2", detail=f"ALPN: {words}, not h2"))


def push(
    tls: ssl.SSLSocket, host: str, topic: str | None, deadline: Deadline, step: StepRecorder
) -> Seen:
    """POST the dummy push; the answer (status, reason) or a GOAWAY is what was seen."""
    action = f"HTTP/2 POST /3/device/{DUMMY_TOKEN[:3]}\N{HORIZONTAL ELLIPSIS}"
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", host),
        (":path", DEVICE_PATH),
        ("apns-push-type", "background"),
        ("apns-priority", "5"),
        ("apns-expiration", "0"),
        ("content-type", "application/json"),
        ("content-length", str(len(PAYLOAD))),
    ]
    if topic:
        headers.append(("apns-topic", topic))
    conn.send_headers(stream, headers)
    conn.send_data(stream, PAYLOAD, end_stream=True)
    begin = deadline.now()
    exchange = _Exchange(tls, conn, stream, deadline)
    try:
        seen = exchange.early()
        if seen is None:
            exchange.send()
            seen = exchange.answer()
    except Stop as stop:
        step("http2", action, f"failed: {stop.seen.detail}", ok=False)
        raise
    except (OSError, ssl.SSLError) as exc:
        raise Stop(
            _io_failure(exc, deadline, step, name="http2", action=action, doing="HTTP/2 exchange")
        ) from None
    step("http2", action, f"{_answer_words(seen)} {deadline.elapsed_ms(begin)}", ok=True)
    exchange.close()
    return seen


class _Exchange:
    """Frames to and from one HTTP/2 connection until the stream or the connection ends."""

    def __init__(
        self, tls: ssl.SSLSocket, conn: h2.connection.H2Connection, stream: int, deadline: Deadline
    ) -> None:
        self.tls, self.conn, self.stream, self.deadline = tls, conn, stream, deadline
        self.status: int | None = None
        self.body = b""

    def early(self) -> Seen | None:
        """Read what the server says first, before writing (briefly; None: keep going).

        A server sends its SETTINGS at once, and, with TLS 1.3, its verdict on the client
        certificate: an alert read here is not lost to a reset caused by our own writing.
        """
        wait = min(_EARLY_WAIT, self.deadline.left("HTTP/2 exchange") / 2)
        self.tls.settimeout(wait)
        try:
            data = self.tls.recv(65536)
        except TimeoutError:
            return None
        return self._received(data)

    def send(self) -> None:
        """Write what h2 has queued."""
        data = self.conn.data_to_send()
        if data:
            self.tls.settimeout(self.deadline.left("HTTP/2 exchange"))
            self.tls.sendall(data)

    def answer(self) -> Seen:
        """Read until the response ends, the stream is reset or a GOAWAY comes."""
        while True:
            self.tls.settimeout(self.deadline.left("HTTP/2 exchange"))
            seen = self._received(self.tls.recv(65536))
            if seen is not None:
                return seen
            self.send()

    def _received(self, data: bytes) -> Seen | None:
        """Feed bytes to h2; what decides the probe, if they held it."""
        if not data:
            return self._closed()
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            raise Stop(Seen(failure="protocol", detail=f"{type(exc).__name__}: {exc}")) from None
        for event in events:
            seen = self._event(event)
            if seen is not None:
                return seen
        return None

    def _event(self, event: h2.events.Event) -> Seen | None:
        """What one event says (None: keep reading)."""
        if isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream:
            self.status = _status(event.headers)
        elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream:
            if len(self.body) < _MAX_BODY:
                self.body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, self.stream)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self.stream:
            return Seen(status=self.status, apns_reason=reason_of(self.body))
        elif isinstance(event, h2.events.StreamReset) and event.stream_id == self.stream:
            code = _code(event.error_code)
            raise Stop(Seen(failure="protocol", detail=f"the server reset the stream ({code})"))
        elif isinstance(event, h2.events.ConnectionTerminated):
            debug = bytes(event.additional_data or b"")
            code = _code(event.error_code)
            return Seen(
                apns_reason=reason_of(debug),
                goaway=True,
                status=None,
                detail=f"error code {code}",
            )
        return None

    def _closed(self) -> Seen:
        """The server closed the connection before the answer ended."""
        if self.status is not None:
            return Seen(status=self.status, apns_reason=reason_of(self.body))
        raise Stop(
            Seen(failure="closed", detail="the server closed the connection before answering")
        )

    def close(self) -> None:
        """Say goodbye politely (GOAWAY); errors do not matter any more."""
        try:
            self.conn.close_connection()
            self.send()
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError, Stop):
            pass


def _status(headers: Any) -> int | None:
    for name, value in headers or ():
        if name in (":status", b":status"):
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            return int(text) if text.isdigit() else None
    return None


def _code(error_code: Any) -> str:
    """An HTTP/2 error code by name (NO_ERROR, PROTOCOL_ERROR ...)."""
    return str(getattr(error_code, "name", error_code))


def _answer_words(seen: Seen) -> str:
    """The answer as the step line shows it: ``400 BadDeviceToken``, ``GOAWAY Shutdown``."""
    if seen.goaway:
        return f"GOAWAY {seen.apns_reason or 'without a reason'} ({seen.detail})"
    return f"{seen.status} {seen.apns_reason or ''}".rstrip()


def _io_failure(
    exc: BaseException,
    deadline: Deadline,
    step: StepRecorder,
    *,
    name: str,
    action: str,
    doing: str,
) -> Seen:
    """A socket or TLS error as a step and what decides the result."""
    if isinstance(exc, TimeoutError):
        step(name, action, "failed: timed out", ok=False)
        return deadline.expired(doing)
    alert = alert_name(getattr(exc, "reason", None)) if isinstance(exc, ssl.SSLError) else None
    if alert is not None:
        step(name, action, f"failed: TLS alert {alert} from the server", ok=False)
        return Seen(failure="tls_alert", tls_alert=alert, detail=f"{doing}: alert {alert}")
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError | ConnectionError):
        step(name, action, "failed: the server closed the connection", ok=False)
        return Seen(failure="closed", detail=f"{doing}: the server closed the connection")
    if isinstance(exc, ssl.SSLError):
        detail = str(exc.reason or exc)
        step(name, action, f"failed: {detail}", ok=False)
        return Seen(failure="tls_error", detail=f"{doing}: {detail}")
    detail = getattr(exc, "strerror", None) or type(exc).__name__
    step(name, action, f"failed: {detail}", ok=False)
    return Seen(failure="closed", detail=f"{doing}: {detail}")


def _chain(tls: ssl.SSLSocket, *, verified: bool) -> list[x509.Certificate]:
    """The server's chain, leaf first (Python 3.13's API, else the ssl object's of 3.10+)."""
    name = "get_verified_chain" if verified else "get_unverified_chain"
    getter = getattr(tls, name, None) or getattr(getattr(tls, "_sslobj", None), name, None)
    try:
        found = getter() if getter is not None else None
    except (ValueError, ssl.SSLError, AttributeError):
        found = None
    if not found:
        leaf = tls.getpeercert(binary_form=True) if verified else None
        found = [leaf] if leaf else []
    certs = []
    for item in found:
        der = item if isinstance(item, bytes) else item.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            break
    return certs


def _server_certificate(tls: ssl.SSLSocket) -> ServerCertificate | None:
    chain = _chain(tls, verified=True)
    if not chain:
        return None
    leaf = chain[0]
    return ServerCertificate(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc.timestamp(),
        chain=tuple(c.subject.rfc4514_string() for c in chain),
    )


def _chain_summary(chain: Any, *, lead: str = "the server presented") -> str:
    """``, <lead> A < B`` (subjects, leaf first) for step lines; empty for no chain."""
    names = [c if isinstance(c, str) else c.subject.rfc4514_string() for c in chain]
    return f", {lead} {' < '.join(names)}" if names else ""
