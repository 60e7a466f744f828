"""HTTP endpoints: /metrics, the landing page, health, readiness and reload."""

from __future__ import annotations

import gzip
import html
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

log = structlog.get_logger("stproxy_monitor.http")

MAX_REQUEST_BODY = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """What the handler serves; every collaborator injected."""

    registry: CollectorRegistry
    ready: Callable[[], bool]
    reload: Callable[[], tuple[bool, str]]
    landing: Callable[[], str]
    authorize: Callable[[BaseHTTPRequestHandler], bool] = lambda _handler: True
    extra_headers: Callable[[], dict[str, str]] = dict


class MonitorHandler(BaseHTTPRequestHandler):
    """One request; socket timeouts keep a slow client from holding a thread forever."""

    server: MonitorHTTPServer
    timeout = 10
    protocol_version = "HTTP/1.1"
    server_version = "stproxy-monitor"
    sys_version = ""

    def do_GET(self) -> None:
        """GET: route by path."""
        self._route(head=False)

    def do_HEAD(self) -> None:
        """HEAD: as GET without a body."""
        self._route(head=True)

    def do_POST(self) -> None:
        """POST: only /-/reload."""
        path = self.path.split("?", 1)[0]
        if path != "/-/reload":
            self._method_not_allowed(path)
            return
        if not self._authorized(path):
            return
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_REQUEST_BODY:
            self._send(413, b"request body too large\n")
            return
        self.rfile.read(int(length))
        ok, message = self.server.endpoints.reload()
        self._send(200 if ok else 500, (message + "\n").encode())

    def do_PUT(self) -> None:
        """Other methods are not allowed."""
        self._method_not_allowed(self.path.split("?", 1)[0])

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT  # noqa: N815 - http.server dispatches on do_<METHOD>  # noqa: N815 - http.server dispatches on do_<METHOD>

    def _route(self, *, head: bool) -> None:
        """Serve a GET/HEAD path."""
        path = self.path.split("?", 1)[0]
        endpoints = self.server.endpoints
        if path == "/-/healthy":
            self._send(200, b"Healthy\n", head=head)
            return
        if path not in ("/metrics", "/", "/-/ready", "/-/reload"):
            self._send(404, b"not found\n", head=head)
            return
        if not self._authorized(path):
            return
        if path == "/metrics":
            self._metrics(head)
        elif path == "/":
            body = endpoints.landing().encode()
            self._send(200, body, "text/html; charset=utf-8", head=head)
        elif path == "/-/ready":
            ok = endpoints.ready()
            self._send(200 if ok else 503, b"Ready\n" if ok else b"Not ready\n", head=head)
        else:
            self._method_not_allowed(path)

    def _metrics(self, head: bool) -> None:
        """The exposition, in the format and compression the scraper asked for."""
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        body = encoder(self.server.endpoints.registry)
        headers = {}
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=6)
            headers["Content-Encoding"] = "gzip"
        self._send(200, body, content_type, head=head, headers=headers)

    def _authorized(self, path: str) -> bool:
        """Ask the web config; it has answered (401) when this says False."""
        return self.server.endpoints.authorize(self)

    def _method_not_allowed(self, path: str) -> None:
        """405 with the methods the path accepts."""
        if path not in ("/metrics", "/", "/-/ready", "/-/healthy", "/-/reload"):
            self._send(404, b"not found\n")
            return
        allow = "POST" if path == "/-/reload" else "GET, HEAD"
        self._send(405, b"method not allowed\n", headers={"Allow": allow})

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        *,
        head: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Write a complete response."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.server.endpoints.extra_headers(), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log through structlog at debug level (no credentials: only the request line)."""
        log.debug("http_request", client=self.client_address[0], message=format % args)


class MonitorHTTPServer(ThreadingHTTPServer):
    """Threaded server: one thread per connection, daemon threads, address reuse."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], endpoints: Endpoints) -> None:
        self.endpoints = endpoints
        family_v6 = ":" in address[0]
        if family_v6:
            import socket  # noqa: PLC0415

            self.address_family = socket.AF_INET6
        super().__init__(address, MonitorHandler)


def serve_in_thread(server: MonitorHTTPServer) -> threading.Thread:
    """Run the server on a daemon thread."""
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread


def landing_page(rows: list[tuple[str, str, str, float]], version: str) -> str:
    """A small HTML page: each certificate's days left, and a link to /metrics."""
    body = (
        "".join(
            f"<tr><td>{html.escape(src)}</td><td>{html.escape(path)}</td><td>{html.escape(subject)}"
            f"</td><td>{days:.1f}</td></tr>"
            for src, path, subject, days in rows
        )
        or "<tr><td colspan=4>no certificate known yet</td></tr>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>stproxy-monitor</title></head>"
        f"<body><h1>stproxy-monitor {html.escape(version)}</h1>"
        "<p>Sametime Proxy APNS certificate and connection monitor.</p>"
        "<p><a href='/metrics'>Metrics</a></p><h2>APNS certificates</h2>"
        "<table border=1><tr><th>source</th><th>path</th><th>subject</th><th>days left</th></tr>"
        f"{body}</table></body></html>"
    )
