"""A local APNs stand-in for the probe's tests: TLS with ALPN h2 and a required client
certificate, answering per topic; a server that never answers; one without h2; a CONNECT proxy.

Everything listens on 127.0.0.1 and is stopped by ``close()`` (threads joined), so the tests
reach nothing beyond the loopback interface.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PrivateFormat,
    pkcs12,
)
from cryptography.x509.oid import NameOID

P12_PASSWORD = "probe-p12-pass"
TOPIC = "com.ibm.lotus.sametime"
# What a real provider certificate has, so that the stand-in's files have no problem of their
# own (certs.facts): Apple's WWDR issuer name, both environments, the legacy 3DES export.
WWDR_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "G4 (stand-in)"),
        x509.NameAttribute(
            NameOID.COMMON_NAME, "Apple Worldwide Developer Relations Certification Authority"
        ),
    ]
)
_ENVIRONMENTS = ("1.2.840.113635.100.6.3.1", "1.2.840.113635.100.6.3.2")


# -- client certificates (PKCS#12 with a UID, as Apple issues them) --------------------------


@dataclass
class ClientPKI:
    """A client CA the stand-in trusts, and PKCS#12 files issued by it (or not) under root."""

    root: Path
    key: ec.EllipticCurvePrivateKey = field(init=False)
    cert: x509.Certificate = field(init=False)
    ca_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.key, self.cert = _ca(WWDR_NAME)
        self.ca_file = self.root / "client-ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(Encoding.PEM))

    def issue(
        self,
        name: str,
        *,
        uid: str | None = TOPIC,
        days: tuple[int, int] = (-10, 355),
        foreign: bool = False,
        password: str = P12_PASSWORD,
    ) -> Path:
        """A PKCS#12 at root/name.p12 with key, leaf (UID=uid) and the issuing CA."""
        foreign_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Somebody Else's CA")])
        ca_key, ca_cert = _ca(foreign_name) if foreign else (self.key, self.cert)
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {uid}")]
        if uid:
            attributes.insert(0, x509.NameAttribute(NameOID.USER_ID, uid))
        now = datetime.now(UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days[0]))
            .not_valid_after(now + timedelta(days=days[1]))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        for oid in _ENVIRONMENTS:
            leaf = leaf.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00"),
                critical=False,
            )
        encryption = (
            PrivateFormat.PKCS12.encryption_builder()
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy export Java reads
            .build(password.encode())
        )
        data = pkcs12.serialize_key_and_certificates(
            name.encode(), key, leaf.sign(ca_key, hashes.SHA256()), [ca_cert], encryption
        )
        path = self.root / f"{name}.p12"
        path.write_bytes(data)
        return path


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _ca(subject: x509.Name) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


# -- servers -----------------------------------------------------------------------------------


class _Listener:
    """A TCP listener on 127.0.0.1 whose connections are handled in threads, until close()."""

    def __init__(self, name: str) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, name=f"{name}-accept", daemon=True)
        self._name = name

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(conn)
                worker = threading.Thread(
                    target=self._guarded, args=(conn,), name=f"{self._name}-conn", daemon=True
                )
                self._threads.append(worker)
            worker.start()

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            conn.close()

    def handle(self, conn: socket.socket) -> None:
        """Serve one connection (subclasses)."""

    def close(self) -> None:
        """Stop accepting, cut every connection, join every thread."""
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> _Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Answer:
    """What the stand-in answers: an HTTP status and reason, or a GOAWAY with debug data."""

    status: int = 400
    reason: str | None = "BadDeviceToken"
    goaway: bytes | None = None


@dataclass
class Request:
    """What the stand-in received: SNI, headers and body of one request."""

    sni: str | None
    headers: dict[str, str]
    body: bytes


class ApnsStandIn(_Listener):
    """TLS (ALPN h2 unless told otherwise) requiring a client certificate from ``client_ca``;
    answers each request by its apns-topic (``answers``), else ``default``."""

    def __init__(
        self,
        server_ca: trustme.CA,
        client_ca: Path,
        *,
        default: Answer = Answer(),
        answers: dict[str, Answer] | None = None,
        alpn: tuple[str, ...] = ("h2",),
        names: tuple[str, ...] = ("localhost", "127.0.0.1"),
        max_version: ssl.TLSVersion | None = None,
    ) -> None:
        super().__init__("apns")
        self.default = default
        self.answers = dict(answers or {})
        self.requests: list[Request] = []
        self.handshake_errors: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ca.issue_cert(*names).configure_cert(context)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=str(client_ca))
        context.set_alpn_protocols(list(alpn))
        if max_version is not None:
            context.maximum_version = max_version
        self._sni = threading.local()  # the callback runs in the connection's thread

        def remember_sni(_sock: object, name: str | None, _context: ssl.SSLContext) -> None:
            self._sni.name = name

        context.sni_callback = remember_sni  # type: ignore[assignment]
        self.context = context

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(str(exc))
            return
        with tls:
            sni = getattr(self._sni, "name", None)
            if tls.selected_alpn_protocol() != "h2":
                tls.recv(1024)  # an HTTP/1.1 server would read a request line; the probe leaves
                return
            self._serve_h2(tls, sni)

    def _serve_h2(self, tls: ssl.SSLSocket, sni: str | None) -> None:
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        headers: dict[int, dict[str, str]] = {}
        bodies: dict[int, bytes] = {}
        while True:
            data = tls.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers[event.stream_id] = dict(event.headers)  # type: ignore[arg-type]
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    stream = event.stream_id
                    request = Request(sni, headers.get(stream, {}), bodies.get(stream, b""))
                    self.requests.append(request)
                    if self._respond(conn, event.stream_id, request):
                        tls.sendall(conn.data_to_send())
                        return
            tls.sendall(conn.data_to_send())

    def _respond(self, conn: h2.connection.H2Connection, stream: int, request: Request) -> bool:
        """Answer the request; True when the connection is to end (GOAWAY)."""
        answer = self.answers.get(request.headers.get("apns-topic", ""), self.default)
        if answer.goaway is not None:
            conn.close_connection(error_code=0, additional_data=answer.goaway)
            return True
        body = b"" if answer.reason is None else f'{{"reason":"{answer.reason}"}}'.encode()
        response = [(":status", str(answer.status)), ("apns-id", "0-stand-in")]
        if body:
            response += [("content-type", "application/json"), ("content-length", str(len(body)))]
        conn.send_headers(stream, response, end_stream=not body)
        if body:
            conn.send_data(stream, body, end_stream=True)
        return False


class SilentServer(_Listener):
    """Accepts TCP connections and never says a word (until close)."""

    def __init__(self) -> None:
        super().__init__("silent")

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with contextlib.suppress(OSError):
            while conn.recv(4096):
                pass


class ConnectProxy(_Listener):
    """An HTTP proxy that tunnels CONNECT to 127.0.0.1 / localhost only; ``refuse`` answers
    403, ``credentials`` requires that Proxy-Authorization."""

    def __init__(self, *, refuse: bool = False, credentials: str | None = None) -> None:
        super().__init__("proxy")
        self.refuse = refuse
        self.credentials = credentials
        self.tunnels: list[str] = []
        self.heads: list[str] = []

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        text = head.decode("latin-1")
        self.heads.append(text)
        method, target, _ = text.split("\r\n", 1)[0].split(" ", 2)
        host, _, port = target.rpartition(":")
        if self.refuse or method != "CONNECT" or host not in ("127.0.0.1", "localhost"):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        if self.credentials and f"Proxy-Authorization: {self.credentials}" not in text:
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
        self.tunnels.append(target)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _relay(conn, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes."""
    with b, selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        while True:
            for ready, _ in selector.select(timeout=10):
                data = ready.fileobj.recv(65536)  # type: ignore[union-attr]
                if not data:
                    return
                ready.data.sendall(data)


# -- everything the probe's tests talk to ------------------------------------------------------

# apns-topic -> the stand-in's answer; any other topic gets 400 BadDeviceToken (accepted).
ANSWERS = {
    "case.ok200": Answer(status=200, reason=None),
    "case.bad-certificate": Answer(status=403, reason="BadCertificate"),
    "case.environment": Answer(status=403, reason="BadCertificateEnvironment"),
    "case.goaway": Answer(goaway=b'{"reason":"BadCertificateEnvironment"}'),
    "case.topic": Answer(status=400, reason="TopicDisallowed"),
    "case.shutdown": Answer(status=503, reason="Shutdown"),
}


@dataclass
class ProbeWorld:
    """The stand-ins and certificates of the probe's tests, all under root, all on 127.0.0.1."""

    root: Path
    pki: ClientPKI = field(init=False)
    server_ca_file: Path = field(init=False)
    password_file: Path = field(init=False)
    p12: dict[str, Path] = field(init=False)
    servers: dict[str, _Listener] = field(init=False)

    def __post_init__(self) -> None:
        self.pki = ClientPKI(self.root)
        server_ca, other_ca = trustme.CA(), trustme.CA()
        self.server_ca_file = self.root / "server-ca.pem"
        server_ca.cert_pem.write_to_path(str(self.server_ca_file))
        self.password_file = self.root / "p12.pass"
        self.password_file.write_text(P12_PASSWORD + "\n")
        self.p12 = {
            "good": self.pki.issue("good"),
            "expired": self.pki.issue("expired", days=(-400, -1)),
            "foreign": self.pki.issue("foreign", foreign=True),
        }
        ca = self.pki.ca_file
        self.servers = {
            "apns": ApnsStandIn(server_ca, ca, answers=ANSWERS),
            "apns12": ApnsStandIn(server_ca, ca, max_version=ssl.TLSVersion.TLSv1_2),
            "untrusted": ApnsStandIn(other_ca, ca),
            "wrong_name": ApnsStandIn(server_ca, ca, names=("other.example",)),
            "no_h2": ApnsStandIn(server_ca, ca, alpn=("http/1.1",)),
            "silent": SilentServer(),
            "proxy": ConnectProxy(),
            "refusing_proxy": ConnectProxy(refuse=True),
            "auth_proxy": ConnectProxy(credentials="Basic cHJvYmU6czNjcmV0"),  # probe:s3cret
        }
        for server in self.servers.values():
            server.start()
        self.closed_port = _closed_port()

    def port(self, name: str) -> int:
        """The port of a server ('closed': one nobody listens on)."""
        return self.closed_port if name == "closed" else self.servers[name].port

    def close(self) -> None:
        """Stop every server."""
        for server in self.servers.values():
            server.close()


def _closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (nobody listens on it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def loopback_only(monkeypatch: Any) -> None:
    """Make any connection of this process to an address beyond the loopback fail the test."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a test tried to connect beyond the loopback: {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
