"""The HTTP server: one asyncio event loop on its own thread, every connection a task.

A connection costs a file descriptor, a small task and a timer, not a thread: thousands of
idle, slow or half-open ones cannot starve a scrape. Each phase has its deadline (TLS handshake,
request head, body, write, keep-alive), connections are capped per client address and in total,
bcrypt runs in a small bounded pool with a deadline, and route handlers (exposition, reload,
landing page) run on a few worker threads so that the loop never waits for them.

asyncio streams (stdlib) were chosen over a server library: the daemon's HTTP needs are five
fixed routes over HTTP/1.1, and the parts that matter here (sniffing plain HTTP on the TLS port,
TLS alerts on a failed handshake, per-phase deadlines, caps) would have to be written around any
library anyway; no new dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from stproxy_monitor.metrics.exposition import Exposition
from stproxy_monitor.web.admission import Admission, Ticket, fd_budget
from stproxy_monitor.web.protocol import (
    HeadError,
    Request,
    Response,
    body_length,
    error_response,
    parse_head,
    serialize,
)
from stproxy_monitor.web.routes import Endpoints, Route, endpoint_table
from stproxy_monitor.web.security import BasicAuth, WebSecurity
from stproxy_monitor.web.silent import LISTEN_BACKLOG, Acceptor, Silent, open_streams
from stproxy_monitor.web.sockets import Channel, HandshakeRefusedError
from stproxy_monitor.web.stats import REFUSAL_REASONS, HTTPStats

__all__ = [
    "REFUSAL_REASONS",
    "Endpoints",
    "HTTPStats",
    "Limits",
    "MonitorHTTPServer",
    "Route",
    "serve_in_thread",
]

log = structlog.get_logger(__name__)

WWW_AUTHENTICATE = 'Basic realm="stproxy-monitor", charset="UTF-8"'
_TOO_LARGE = frozenset({413, 414, 431})


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Sizes, deadlines and caps that keep one client from holding what others need."""

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int = 64 * 1024
    handshake_timeout: float = 5.0  # TCP accept to TLS handshake done
    head_timeout: float = 5.0  # a request's head: from the connection's start or first byte
    idle_timeout: float = 60.0  # keep-alive wait for the next request
    body_timeout: float = 10.0
    write_timeout: float = 30.0
    max_connections: int = 4096  # lowered to what the file descriptor limit allows
    max_per_client: int = 64  # connections from one client address
    auth_workers: int = 2  # bcrypt threads
    auth_queue: int = 8  # bcrypt checks waiting or running; more get 503 at once
    auth_timeout: float = 5.0  # a bcrypt check's wait and run
    handler_workers: int = 4
    drain_timeout: float = 1.0  # after shutdown, for idle keep-alive connections to go


class MonitorHTTPServer:
    """Bound at construction (server_address is known); serve_forever runs the loop."""

    def __init__(
        self,
        address: tuple[str, int],
        endpoints: Endpoints,
        *,
        limits: Limits | None = None,
        accept_by_hand: bool | None = None,  # None: where the loop can (see web/silent.py)
    ) -> None:
        self._by_hand = accept_by_hand
        self.endpoints = endpoints
        self.exposition = Exposition(endpoints.registry)
        self.routes = endpoint_table(endpoints, self.exposition)
        self.limits = limits = limits or Limits()
        self.stats = HTTPStats()
        total = fd_budget(limits.max_connections)
        self.admission = Admission(total=total, per_address=limits.max_per_client)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            # A deep accept queue: when it is full the kernel drops a SYN, and that client (a
            # scraper among reconnecting floods) waits for TCP's 1 s retransmission. asyncio's
            # create_server re-listens with 100: the Acceptor does not (see web/silent.py).
            self.socket.listen(LISTEN_BACKLOG)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._drained = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._auth_pending = 0
        self._handlers: ThreadPoolExecutor | None = None
        self._bcrypt: ThreadPoolExecutor | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve until shutdown() (returns at once if shutdown came first)."""
        asyncio.run(self._main())

    def shutdown(self) -> None:
        """Stop accepting and wait for requests in progress (idle connections are not waited
        for: they are closed within drain_timeout, or when their client closes them)."""
        with self._lock:
            self._stopping = True
            loop, stop = self._loop, self._stop
        if loop is None or stop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stop.set)
            self._drained.wait(self.limits.drain_timeout + 30)

    def server_close(self) -> None:
        """Close the listening socket (idempotent)."""
        self.socket.close()

    async def _main(self) -> None:
        with self._lock:
            if self._stopping:
                self._drained.set()
                return
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._handlers = ThreadPoolExecutor(self.limits.handler_workers, "http-handler")
        self._bcrypt = ThreadPoolExecutor(self.limits.auth_workers, "http-bcrypt")
        acceptor = Acceptor(
            self.socket,
            self.admission,
            first_deadline=self._first_deadline,
            on_active=self._activate,
            on_refused=self.stats.refuse,
            by_hand=self._by_hand,
        )
        try:
            await acceptor.start()
            await self._stop.wait()
            acceptor.stop()
            await self._drain()
        finally:
            self._drained.set()
            self._handlers.shutdown(wait=False, cancel_futures=True)
            self._bcrypt.shutdown(wait=False, cancel_futures=True)

    async def _drain(self) -> None:
        """Wait for requests in progress, then (within drain_timeout) for idle connections."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.drain_timeout
        while self._busy and loop.time() < deadline + 30:
            await asyncio.sleep(0.01)
        self._drained.set()
        while self._tasks and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- connections -------------------------------------------------------------------------

    def _first_deadline(self) -> float:
        """Seconds a new connection has for its TLS handshake (plain HTTP: its request head)."""
        tls = self.endpoints.security().ssl_context is not None
        return self.limits.handshake_timeout if tls else self.limits.head_timeout

    def _activate(self, silent: Silent) -> None:
        """A silent connection sent its first byte: it gets a stream and a task."""
        task = asyncio.get_running_loop().create_task(self._connection(silent))
        silent.ticket.close = task.cancel  # evicted from now on: cancelled (at its next await)
        self._tasks.add(task)
        task.add_done_callback(lambda _: self._ended(task, silent))

    def _ended(self, task: asyncio.Task[None], silent: Silent) -> None:
        self._tasks.discard(task)
        if not silent.started:  # cancelled before it ran (evicted, or the server stops)
            self.admission.release(silent.ticket)
            silent.close()

    async def _connection(self, silent: Silent) -> None:
        silent.started = True
        ticket = silent.ticket
        writer: asyncio.StreamWriter | None = None
        try:
            if self._stopping:
                return
            reader, writer = await open_streams(silent)
            await self._serve(Channel(reader, writer), silent)
        except (OSError, EOFError, asyncio.CancelledError):
            pass  # gone, evicted for a newer connection, or the server stops
        except Exception as exc:
            log.error("http_handler_failed", client=ticket.address, error=type(exc).__name__)
        finally:
            self.admission.release(ticket)
            if writer is not None:
                writer.close()
            else:
                silent.close()

    async def _serve(self, channel: Channel, silent: Silent) -> None:
        """The TLS handshake, then requests until one asks to close or a deadline passes."""
        limits = self.limits
        ticket, spread = silent.ticket, silent.spread
        security = self.endpoints.security()
        if security.ssl_context is not None:
            try:
                async with asyncio.timeout_at(silent.deadline):
                    await channel.handshake(security.ssl_context)
            except TimeoutError:
                self.stats.refuse("timeout")
                return
            except HandshakeRefusedError as exc:
                if exc.reason:
                    self.stats.refuse(exc.reason)
                return
        first = True
        while True:
            if not first:
                try:
                    async with asyncio.timeout(limits.idle_timeout):
                        channel.pending = await channel.read()
                except TimeoutError:
                    return  # an idle keep-alive ends: not a refusal
                if not channel.pending:
                    return
                security = self.endpoints.security()
            # Plain HTTP: the first head's deadline is the one the connection had when silent.
            head_at = silent.deadline if first and security.ssl_context is None else None
            if not await self._one_request(channel, security, ticket, spread, head_at):
                return
            first, spread = False, 1.0

    async def _one_request(
        self,
        channel: Channel,
        security: WebSecurity,
        ticket: Ticket,
        spread: float,
        head_at: float | None,
    ) -> bool:
        """Read, check and answer one request; whether the connection stays open."""
        limits = self.limits
        request: Request | None = None
        loop = asyncio.get_running_loop()
        if head_at is None:
            head_at = loop.time() + limits.head_timeout * spread
        try:
            try:
                async with asyncio.timeout_at(head_at):
                    head = await channel.read_head(
                        max_line=limits.max_request_line, max_head=limits.max_header_bytes
                    )
                request = parse_head(head)
                length = body_length(request, limits.max_body_bytes)
            except HeadError as exc:
                self.stats.refuse("too_large" if exc.status in _TOO_LARGE else "bad_request")
                await self._write(channel, security, error_response(exc.status), exc.version)
                _log_request(ticket.address, request, exc.status, self.routes)
                return False
            if length:
                async with asyncio.timeout(limits.body_timeout):
                    await channel.read_exactly(length)
            self._busy += 1
            try:
                response = await self._answer(request, security)
                keep = request.keep_alive
                await self._write(
                    channel, security, response, request.version, request=request, keep=keep
                )
            finally:
                self._busy -= 1
        except TimeoutError:
            self.stats.refuse("timeout")
            return False
        self.admission.proven(ticket)
        _log_request(ticket.address, request, response.status, self.routes)
        return keep

    async def _write(
        self,
        channel: Channel,
        security: WebSecurity,
        response: Response,
        version: str,
        *,
        request: Request | None = None,
        keep: bool = False,
    ) -> None:
        data = serialize(
            response,
            version=version,
            head_only=request is not None and request.method == "HEAD",
            close=not keep,
            common=security.headers,
        )
        async with asyncio.timeout(self.limits.write_timeout):
            await channel.write(data)

    # -- answers -----------------------------------------------------------------------------

    async def _answer(self, request: Request, security: WebSecurity) -> Response:
        """Rate limit, authorization, then the route."""
        refused = await self._gate(request, security)
        if refused is not None:
            return refused
        path = request.path
        route = self.routes.get(path)
        if route is None:
            return Response.text(404, "Not found\n")
        if request.method not in route.methods:
            return Response.text(405, "Method not allowed\n", Allow=route.allow)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._handlers, route.handler, request)
        except Exception as exc:
            log.error("http_handler_failed", path=path, error=type(exc).__name__)
            return Response.text(500, "Internal Server Error\n")

    async def _gate(self, request: Request, security: WebSecurity) -> Response | None:
        """The answer to a request refused by the rate limit or authorization, else None."""
        if security.rate_limit is not None and not security.rate_limit.allow():
            self.stats.refuse("rate_limited")
            return Response.text(429, "Too Many Requests\n")
        if security.auth is None or not security.needs_auth(request.path):
            return None
        ok = await self._authorize(security.auth, request.header("Authorization"))
        if ok is None:
            self.stats.refuse("auth_busy")
            return Response.text(503, "Service Unavailable\n", Retry_After="1")
        if not ok:
            self.stats.refuse("unauthorized")
            return Response.text(401, "Unauthorized\n", WWW_Authenticate=WWW_AUTHENTICATE)
        return None

    async def _authorize(self, auth: BasicAuth, header: str) -> bool | None:
        """The cached answer, or one bcrypt in the pool within its deadline; None: too busy."""
        cached = auth.lookup(header)
        if cached is not None:
            return cached
        if self._auth_pending >= self.limits.auth_queue:
            return None
        self._auth_pending += 1
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._bcrypt, auth.check, header)
            async with asyncio.timeout(self.limits.auth_timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            self._auth_pending -= 1


def _log_request(
    client: str, request: Request | None, status: int, routes: dict[str, Route]
) -> None:
    """Access log at debug level: known paths only, never a query string or a header."""
    method = request.method if request is not None else ""
    path = request.path if request is not None else ""
    log.debug(
        "http_request",
        client=client,
        method=method if method in ("GET", "HEAD", "POST") else "other",
        path=path if path in routes else "other",
        status=status,
    )


def serve_in_thread(server: MonitorHTTPServer) -> threading.Thread:
    """Run the server on a daemon thread."""
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
