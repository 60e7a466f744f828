"""HTTP endpoints: /metrics, the landing page, health, readiness and reload, over HTTP or TLS."""

from __future__ import annotations

import io
import ipaddress
import re
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from stproxy_monitor.metrics.exposition import Exposition, Section, same_if_equal
from stproxy_monitor.web.security import PLAIN_HTTP, WebSecurity
from stproxy_monitor.web.sockets import DeadlineReader, HeadBudget, HeadTooLargeError, SocketWriter

log = structlog.get_logger("stproxy_monitor.http")

# Path -> the methods it allows (the Allow header of a 405).
ROUTES = {
    "/metrics": "GET, HEAD",
    "/": "GET, HEAD",
    "/status.json": "GET, HEAD",
    "/-/ready": "GET, HEAD",
    "/-/healthy": "GET, HEAD",
    "/-/reload": "POST",
}
REFUSAL_REASONS = (
    "bad_request",
    "client_certificate",
    "connection_limit",
    "plain_http",
    "timeout",
    "tls_handshake",
    "too_large",
    "unauthorized",
)
# The status page needs its inline CSS and nothing else: no script, image, frame or form.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
WWW_AUTHENTICATE = 'Basic realm="stproxy-monitor", charset="UTF-8"'
_TOO_LARGE = frozenset({413, 414, 431})
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
_PLAIN_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Sizes and timeouts that keep one client from holding resources others need."""

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int = 64 * 1024
    handshake_timeout: float = 10.0  # TCP accept to TLS handshake done
    idle_timeout: float = 60.0  # keep-alive wait for the next request
    head_timeout: float = 10.0  # first byte of a request to the end of its headers
    body_timeout: float = 10.0
    write_timeout: float = 30.0
    max_connections: int = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """What the handler serves; every collaborator injected."""

    registry: CollectorRegistry
    ready: Callable[[], bool]
    reload: Callable[[], tuple[bool, str]]
    landing: Callable[[], str]
    security: Callable[[], WebSecurity] = field(default=lambda: PLAIN_HTTP)
    status_json: Callable[[], str] | None = None  # /status.json (404 without it)


class HTTPStats(Collector):
    """Counts of refused connections and requests, by a fixed reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(REFUSAL_REASONS, 0)
        self._last: tuple[tuple[str, int], ...] | None = None

    def refuse(self, reason: str) -> None:
        """Count one refusal."""
        with self._lock:
            self._counts[reason] += 1

    def count(self, reason: str) -> int:
        """The current count for a reason."""
        with self._lock:
            return self._counts[reason]

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the family is built per scrape."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """stproxy_monitor_http_refused_total{reason}."""
        for section in self.sections():
            yield from section.families()

    def sections(self) -> list[Section]:
        """One section, keyed on the counts (rendered again when one moves)."""
        with self._lock:
            counts = tuple(self._counts.items())
        counts = self._last = same_if_equal(self._last, counts)
        return [Section(name="http_refused", key=counts, families=lambda: [_refused(counts)])]


def _refused(counts: tuple[tuple[str, int], ...]) -> Metric:
    """stproxy_monitor_http_refused_total{reason}."""
    family = CounterMetricFamily(
        "stproxy_monitor_http_refused",
        "Connections and requests refused (TLS, authentication, limits, malformed).",
        labels=["reason"],
    )
    for reason, count in counts:
        family.add_metric([reason], float(count))
    return family


class MonitorHandler(BaseHTTPRequestHandler):
    """One connection: requests read under deadlines, authorized, routed, answered."""

    server: MonitorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "stproxy-monitor"
    sys_version = ""
    security: WebSecurity = PLAIN_HTTP

    def setup(self) -> None:
        """Reader with deadlines and a sendall writer instead of StreamRequestHandler's files."""
        limits = self.server.limits
        self.connection = self.request
        # A response is one write (see _send): nothing waits for the ACK of an earlier segment.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = DeadlineReader(
            self.connection, idle=limits.idle_timeout, head=limits.head_timeout
        )
        self.rfile = io.BufferedReader(self.reader)
        self.wfile: SocketWriter = SocketWriter(self.connection, timeout=limits.write_timeout)

    def handle_one_request(self) -> None:
        """Read, check and answer one request; any problem closes the connection."""
        self.security = self.server.endpoints.security()
        self.command, self.request_version, self.requestline, self.path = "", "HTTP/1.1", "", ""
        try:
            self.reader.await_request()
            self.raw_requestline = self.rfile.readline(self.server.limits.max_request_line + 1)
            if not self.raw_requestline:
                self.close_connection = True
            elif len(self.raw_requestline) > self.server.limits.max_request_line:
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            elif self._parse() and self._read_body():
                self._dispatch()
            self.wfile.flush()
        except TimeoutError:
            self.server.stats.refuse("timeout")
            self.close_connection = True

    def _parse(self) -> bool:
        """Request line and headers, the header section within its byte budget."""
        if len(self.raw_requestline.split()) == 2:  # HTTP/0.9: no headers, no status line
            self.request_version = "HTTP/1.0"
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        rfile = self.rfile
        self.rfile = HeadBudget(rfile, self.server.limits.max_header_bytes)  # type: ignore[assignment]
        try:
            parsed = self.parse_request()
        except HeadTooLargeError:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return False
        finally:
            self.rfile = rfile
        return parsed

    def _read_body(self) -> bool:
        """Consume a (small) body so that it cannot be read as the next request."""
        if self.headers.get_all("Transfer-Encoding"):
            self.send_error(HTTPStatus.LENGTH_REQUIRED)
            return False
        lengths = self.headers.get_all("Content-Length") or ["0"]
        if len(lengths) > 1 or not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        length = int(lengths[0])
        if length > self.server.limits.max_body_bytes:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return False
        if length:
            self.reader.extend(self.server.limits.body_timeout)
            if len(self.rfile.read(length)) < length:
                self.close_connection = True
                return False
        return True

    def _dispatch(self) -> None:
        """Authorize, then route by method and path."""
        path = self.path.split("?", 1)[0]
        if not self.security.authorized(path, self.headers.get("Authorization")):
            self.server.stats.refuse("unauthorized")
            self._send(401, b"Unauthorized\n", headers={"WWW-Authenticate": WWW_AUTHENTICATE})
            return
        if path not in ROUTES:
            self._send(404, b"Not found\n")
        elif self.command not in ROUTES[path].split(", "):
            self._send(405, b"Method not allowed\n", headers={"Allow": ROUTES[path]})
        elif self.command == "POST":
            ok, message = self.server.endpoints.reload()
            self._send(200 if ok else 500, (message + "\n").encode())
        else:
            self._get(path)

    def _get(self, path: str) -> None:
        """Serve a GET/HEAD path."""
        endpoints = self.server.endpoints
        if path == "/metrics":
            self._metrics()
        elif path == "/":
            page, policy = endpoints.landing().encode(), {"Content-Security-Policy": PAGE_POLICY}
            self._send(200, page, "text/html; charset=utf-8", headers=policy)
        elif path == "/status.json" and endpoints.status_json is not None:
            self._send(200, endpoints.status_json().encode(), "application/json")
        elif path == "/status.json":
            self._send(404, b"Not found\n")
        elif path == "/-/ready":
            ok = endpoints.ready()
            self._send(200 if ok else 503, b"Ready\n" if ok else b"Not ready\n")
        else:
            self._send(200, b"Healthy\n")

    def _metrics(self) -> None:
        """The exposition, in the format and compression the scraper asked for."""
        gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        body, content_type = self.server.exposition.render(
            self.headers.get("Accept", ""), gzip=gzip
        )
        self._send(200, body, content_type, headers={"Content-Encoding": "gzip"} if gzip else {})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A short plain-text error that closes the connection (never echoes the request)."""
        self.server.stats.refuse("too_large" if code in _TOO_LARGE else "bad_request")
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # no status line in 0.9: answer as 1.0
            self.request_version = "HTTP/1.0"
        self._send(code, f"{HTTPStatus(code).phrase}\n".encode())

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write a complete response with the configured security headers (no body to HEAD)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (*self.security.headers, *(headers or {}).items()):
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        # Head and body in one send: apart, the body waited for the client's delayed ACK of the
        # head (Nagle), 40 ms on Linux.
        with self.wfile.corked():
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    def version_string(self) -> str:
        """The Server header: the name only, no Python version."""
        return self.server_version

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access log at debug level: known paths only, never a query string or a header."""
        path = self.path.split("?", 1)[0]
        log.debug(
            "http_request",
            client=self.client_address[0],
            method=self.command if self.command in ("GET", "HEAD", "POST") else "other",
            path=path if path in ROUTES else "other",
            status=int(code) if str(code).isdigit() else 0,
        )

    def log_error(self, format: str, *args: Any) -> None:
        """http.server's own error lines would quote the request: the status is logged instead."""


class MonitorHTTPServer(ThreadingHTTPServer):
    """One thread per connection (TLS handshakes happen there too, never in the accept loop)."""

    daemon_threads = True  # not joined on close: SIGTERM never waits for idle keep-alives
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], endpoints: Endpoints, *, limits: Limits | None = None
    ) -> None:
        self.endpoints = endpoints
        self.exposition = Exposition(endpoints.registry)
        self.limits = limits or Limits()
        self.stats = HTTPStats()
        self._slots = threading.BoundedSemaphore(self.limits.max_connections)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, MonitorHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start the connection's thread, or close it at once when too many are open."""
        if not self._slots.acquire(blocking=False):
            self.stats.refuse("connection_limit")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """The connection's thread: TLS handshake, then the requests."""
        connection = request
        try:
            connection = self._secure(request)
            if connection is not None:
                self.finish_request(connection, client_address)
        except Exception:
            self.handle_error(connection, client_address)
        finally:
            self.shutdown_request(connection if connection is not None else request)
            self._slots.release()

    def _secure(self, sock: socket.socket) -> socket.socket | None:
        """The TLS-wrapped connection (None if refused), or the plain one without TLS."""
        security = self.endpoints.security()
        if security.ssl_context is None:
            return sock
        tls = self._handshake(sock, security.ssl_context)
        allowed = security.client_allowed_sans
        if tls is not None and allowed and not san_allowed(tls.getpeercert(), allowed):
            self.stats.refuse("client_certificate")
            tls.close()
            return None
        return tls

    def _handshake(self, sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket | None:
        """The TLS handshake within its timeout; plain HTTP gets a one-line 400."""
        sock.settimeout(self.limits.handshake_timeout)
        try:
            first = sock.recv(1, socket.MSG_PEEK)
            if first != b"\x16":  # not a TLS handshake record (b"": gone without a word)
                if first.isalpha():
                    self.stats.refuse("plain_http")
                    sock.sendall(_PLAIN_TO_TLS)
                elif first:
                    self.stats.refuse("tls_handshake")
                return None
            tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:
            self.stats.refuse("timeout" if isinstance(exc, TimeoutError) else "tls_handshake")
            return None
        try:
            tls.do_handshake()
        except OSError as exc:  # ssl.SSLError included
            self.stats.refuse("timeout" if isinstance(exc, TimeoutError) else "tls_handshake")
            tls.close()
            return None
        return tls

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection failed: a client gone away is routine; anything else is logged."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.debug("http_connection_error", client=client_address[0], error=type(exc).__name__)
        else:
            log.error("http_handler_failed", client=client_address[0], error=type(exc).__name__)


def san_allowed(cert: dict[str, Any] | None, allowed: frozenset[str]) -> bool:
    """Whether a verified client certificate names one of the allowed SANs (IPs compared as IPs)."""
    names = {str(value).strip() for _, value in (cert or {}).get("subjectAltName", ())}
    if names & allowed:
        return True
    return bool(_ips(names) & _ips(allowed))


def _ips(values: set[str] | frozenset[str]) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The values that are IP addresses, parsed."""
    out = set()
    for value in values:
        try:
            out.add(ipaddress.ip_address(value))
        except ValueError:
            continue
    return out


def serve_in_thread(server: MonitorHTTPServer) -> threading.Thread:
    """Run the server on a daemon thread."""
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
