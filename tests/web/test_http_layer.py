"""The HTTP layer's parts: request heads (pure), admission caps, TLS policy on a real socket."""

from __future__ import annotations

import asyncio
import base64
import http.client
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.registry import CollectorRegistry
from tls_helpers import PASSWORD, USER, TLSFiles, make_tls_files, web_config_text

from stproxy_monitor.web.admission import Admission
from stproxy_monitor.web.protocol import (
    HeadError,
    Response,
    body_length,
    check_request_line,
    parse_head,
    serialize,
)
from stproxy_monitor.web.security import RateLimiter, WebConfigWatcher
from stproxy_monitor.web.server import Endpoints, Limits, MonitorHTTPServer, serve_in_thread
from stproxy_monitor.web.silent import DeadlineWheel

# -- request heads ------------------------------------------------------------------------------


def status_of(head: bytes, max_body: int = 100) -> int:
    with pytest.raises(HeadError) as info:
        body_length(parse_head(head), max_body)
    return info.value.status


def test_a_head_is_parsed() -> None:
    request = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  text/plain \r\n\r\n")
    assert (request.method, request.path, request.version) == ("GET", "/metrics", "HTTP/1.1")
    assert request.header("accept") == "text/plain"
    assert request.keep_alive is True
    assert body_length(request, 10) == 0
    assert parse_head(b"GET / HTTP/1.0\r\n\r\n").keep_alive is False
    assert parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keep_alive is False


def test_http_1_1_needs_exactly_one_host() -> None:
    """As Go's net/http: HTTP/1.1 without Host, or with two, is 400; HTTP/1.0 needs none."""
    assert status_of(b"GET / HTTP/1.1\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400
    assert body_length(parse_head(b"GET / HTTP/1.0\r\n\r\n"), 10) == 0


def test_bad_heads() -> None:
    assert status_of(b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/1.1\r\nHost a\r\n\r\n") == 400
    assert status_of(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n") == 400
    assert status_of(b"GET / HTTP/3.0\r\n\r\n") == 505
    assert status_of(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n") == 413
    with pytest.raises(HeadError) as info:
        check_request_line(b"GET /" + b"a" * 100, 50)
    assert info.value.status == 414
    with pytest.raises(HeadError) as info:
        check_request_line(b"GET /metrics\r\n", 50)
    assert (info.value.status, info.value.version) == (400, "HTTP/1.0")


def test_a_response_is_one_piece() -> None:
    data = serialize(
        Response(200, b"body"),
        version="HTTP/1.1",
        head_only=False,
        close=True,
        common=(("X-Frame-Options", "deny"),),
        date="Thu, 01 Jan 2026 00:00:00 GMT",
    )
    assert data == (
        b"HTTP/1.1 200 OK\r\nServer: stproxy-monitor\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n"
        b"X-Frame-Options: deny\r\nConnection: close\r\n\r\nbody"
    )


# -- admission and the rate limit ---------------------------------------------------------------


def test_caps_per_address_and_in_total_drop_the_oldest_unproven() -> None:
    """At a cap the oldest connection that completed no request goes; proven ones stay, and
    when all are proven the newcomer is refused."""
    closed: list[str] = []
    admission = Admission(total=3, per_address=2)
    a1 = admission.admit("a", lambda: closed.append("a1"))
    a2 = admission.admit("a", lambda: closed.append("a2"))
    assert a1 is not None
    assert a2 is not None
    admission.proven(a1)
    assert admission.admit("a", lambda: closed.append("a3")) is not None  # a2 dropped
    assert closed == ["a2"]
    assert admission.admit("b", lambda: closed.append("b1")) is not None
    assert admission.admit("c", lambda: closed.append("c1")) is not None  # total: a3 dropped
    assert (closed, admission.open, admission.evicted) == (["a2", "a3"], 3, 2)
    full = Admission(total=5, per_address=1)
    proven = full.admit("a", lambda: None)
    assert proven is not None
    full.proven(proven)
    assert full.admit("a", lambda: None) is None  # only proven ones: refused
    full.release(proven)
    full.release(proven)  # idempotent
    assert full.open == 0


def test_rate_limiter_is_a_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(1.0, 2, clock=lambda: now[0])
    assert [limiter.allow() for _ in range(3)] == [True, True, False]
    now[0] = 1.5
    assert [limiter.allow() for _ in range(2)] == [True, False]
    assert RateLimiter(1.0, 0, clock=lambda: now[0]).allow() is False


# -- a real server ------------------------------------------------------------------------------


class Served:
    def __init__(
        self, path: Path, limits: Limits | None = None, *, by_hand: bool | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        watcher = WebConfigWatcher(str(path), interval=0.0)
        self.server = MonitorHTTPServer(
            ("127.0.0.1", 0),
            Endpoints(
                registry=self.registry,
                ready=lambda: True,
                reload=lambda: (True, "reloaded"),
                landing=lambda: "landing",
                security=watcher.current,
            ),
            limits=limits,
            accept_by_hand=by_hand,
        )
        self.registry.register(self.server.stats)
        self.port = int(self.server.server_address[1])
        serve_in_thread(self.server)

    def refused(self, reason: str) -> float | None:
        return self.registry.get_sample_value(
            "stproxy_monitor_http_refused_total", {"reason": reason}
        )


@pytest.fixture
def files(tmp_path: Path) -> TLSFiles:
    return make_tls_files(tmp_path)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[Served] = []

    def start(text: str, limits: Limits | None = None, *, by_hand: bool | None = None) -> Served:
        path = tmp_path / f"web-{len(started)}.yml"
        path.write_text(text)
        started.append(Served(path, limits, by_hand=by_hand))
        return started[-1]

    yield start
    for served in started:
        served.server.shutdown()
        served.server.server_close()


def eventually(check: Callable[[], bool]) -> bool:
    """Whether `check` holds within a few seconds (the server counts just after the client saw)."""
    for _ in range(200):
        if check():
            return True
        time.sleep(0.02)
    return check()


def raw(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(source, 0)) as s:
        s.sendall(data)
        return s.recv(65536)


def test_http_1_1_without_host_is_400_on_the_wire(serve) -> None:  # type: ignore[no-untyped-def]
    served = serve(web_config_text(None, users={}))
    assert raw(served.port, b"GET /-/healthy HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 ")


def test_one_address_at_its_cap_does_not_keep_others_out(serve) -> None:  # type: ignore[no-untyped-def]
    """127.0.0.9 at max_per_client with keep-alive connections that completed a request: its
    next connection is closed at once, while 127.0.0.1 is served."""
    served = serve(web_config_text(None, users={}), Limits(max_per_client=3))
    held = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", served.port), source_address=("127.0.0.9", 0))
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        held.append(sock)
    try:
        with socket.create_connection(
            ("127.0.0.1", served.port), timeout=20, source_address=("127.0.0.9", 0)
        ) as extra:
            assert extra.recv(1) == b""
        assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    finally:
        for sock in held:
            sock.close()
    assert served.refused("connection_limit") == 1.0


def test_at_an_address_cap_its_oldest_silent_connection_makes_room(serve) -> None:  # type: ignore[no-untyped-def]
    """Silent connections from the scraper's own address do not keep the scraper out."""
    served = serve(web_config_text(None, users={}), Limits(max_per_client=3))
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
    try:
        time.sleep(0.2)
        assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
        assert held[0].recv(1) == b""  # the oldest was dropped
    finally:
        for sock in held:
            sock.close()
    assert served.refused("connection_limit") == 1.0


def test_at_the_total_cap_a_silent_connection_makes_room(serve) -> None:  # type: ignore[no-untyped-def]
    """With max_connections silent connections open, a scrape still gets in."""
    served = serve(web_config_text(None, users={}), Limits(max_connections=5, max_per_client=5))
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(5)]
    try:
        time.sleep(0.2)
        assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
        assert served.server.admission.evicted == 1
    finally:
        for sock in held:
            sock.close()


def test_bcrypt_beyond_its_queue_is_503_and_the_cache_still_answers(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With one bcrypt slot busy, another uncached check is 503 (auth_busy) at once, while
    cached right credentials pass."""
    import bcrypt  # noqa: PLC0415

    slow = bcrypt.hashpw(b"slow", bcrypt.gensalt(rounds=14)).decode()  # ~1 s
    fast = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    served = serve(
        web_config_text(None, users={USER: fast, "slow": slow}),
        Limits(auth_queue=1, auth_workers=1),
    )

    def get(user: str, password: str) -> int:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        conn.request("GET", "/-/ready", headers={"Authorization": "Basic " + token})
        status = conn.getresponse().status
        conn.close()
        return status

    assert get(USER, PASSWORD) == 200  # now cached
    busy = threading.Thread(target=get, args=("slow", "wrong"))
    busy.start()
    time.sleep(0.1)
    try:
        assert get("slow", "also-wrong") == 503
        assert get(USER, PASSWORD) == 200
    finally:
        busy.join()
    assert served.refused("auth_busy") == 1.0


def s_client(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_default_tls_policy_refuses_cbc_and_finite_field_groups(serve, files: TLSFiles) -> None:  # type: ignore[no-untyped-def]
    """A client offering only CBC suites (TLS 1.2), or only ffdhe2048 / X448 (TLS 1.3), gets a
    handshake failure; X25519, P-256 and P-384 and an AEAD suite work."""
    port = serve(web_config_text(files)).port
    for args in (
        (
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA",
        ),
        ("-tls1_3", "-groups", "ffdhe2048"),
        ("-tls1_3", "-groups", "ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192"),
        ("-tls1_3", "-groups", "X448"),
        ("-tls1_2", "-groups", "ffdhe2048", "-cipher", "DHE-RSA-AES128-GCM-SHA256"),
    ):
        result = s_client(port, *args)
        assert "handshake failure" in result.stderr, (args, result.stderr)
    for group in ("X25519", "P-256", "P-384"):
        assert s_client(port, "-tls1_3", "-groups", group).returncode == 0, group
    result = s_client(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in result.stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_curve_preferences_with_several_curves(serve, files: TLSFiles) -> None:  # type: ignore[no-untyped-def]
    """curve_preferences [CurveP384, CurveP521]: those two are served, X25519 is not."""
    extra = "  curve_preferences: [CurveP384, CurveP521]\n"
    text = f"tls_server_config:\n  cert_file: {files.cert}\n  key_file: {files.key}\n{extra}"
    port = serve(text).port
    assert s_client(port, "-tls1_3", "-groups", "P-384").returncode == 0
    assert s_client(port, "-tls1_3", "-groups", "P-521").returncode == 0
    assert "handshake failure" in s_client(port, "-tls1_3", "-groups", "X25519").stderr


# -- connections that have not sent a byte (web/silent.py) --------------------------------------


def test_deadline_wheel_expires_each_item_once_never_early() -> None:
    """One timer for many deadlines: every item not discarded expires once, not before its
    deadline (loop time); discarded ones never."""

    async def run() -> tuple[dict[int, float], dict[int, float]]:
        loop = asyncio.get_running_loop()
        expired: dict[int, float] = {}
        wheel: DeadlineWheel[int] = DeadlineWheel(
            loop, lambda n: expired.setdefault(n, loop.time()), tick=0.02
        )
        start = loop.time()
        deadlines = {n: start + (n % 17) * 0.013 for n in range(300)}
        for n, deadline in deadlines.items():
            wheel.add(n, deadline)
        for n in range(0, 300, 3):
            wheel.discard(n)
        wheel.discard(1000)  # unknown: nothing
        while len(wheel):
            await asyncio.sleep(0.01)
        return expired, deadlines

    expired, deadlines = asyncio.run(run())
    assert set(expired) == {n for n in range(300) if n % 3}
    assert all(expired[n] >= deadlines[n] for n in expired)


def test_a_busy_loop_does_not_make_the_kernel_drop_new_connections(serve) -> None:  # type: ignore[no-untyped-def]
    """While the loop is away (here: blocked for 3 s), 300 new connections still complete
    their TCP handshake in the kernel's accept queue; with asyncio's default backlog of 100
    their SYNs were dropped, and each such client waited for TCP's 1 s retransmission."""
    served = serve(web_config_text(None, users={}))
    assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    loop = served.server._loop  # to hold the loop as a starved machine does
    assert loop is not None
    loop.call_soon_threadsafe(time.sleep, 3.0)
    time.sleep(0.1)
    held: list[socket.socket] = []
    try:
        # 0.9 s: far longer than a loopback handshake, shorter than a SYN retransmission.
        held.extend(
            socket.create_connection(("127.0.0.1", served.port), timeout=0.9) for _ in range(300)
        )
    finally:
        for sock in held:
            sock.close()
    assert len(held) == 300
    assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")


@pytest.mark.parametrize("by_hand", [True, False], ids=["by_hand", "by_the_loop"])
def test_silent_and_half_started_tls_connections_are_cut_and_counted(  # type: ignore[no-untyped-def]
    serve, files: TLSFiles, by_hand: bool
) -> None:
    """A TLS connection that never sends a byte is closed at the handshake deadline (counted
    as a timeout); one that sent a first byte keeps the deadline it had left, and is cut too."""
    limits = Limits(handshake_timeout=0.3)
    served = serve(web_config_text(files, users={}), limits, by_hand=by_hand)
    with (
        socket.create_connection(("127.0.0.1", served.port), timeout=20) as silent,
        socket.create_connection(("127.0.0.1", served.port), timeout=20) as started,
    ):
        started.sendall(b"\x16\x03\x01")  # the start of a ClientHello record, no more
        assert silent.recv(1) == b""
        assert started.recv(1) == b""
    assert eventually(lambda: served.refused("timeout") == 2.0)
    assert eventually(lambda: served.server.admission.open == 0)


@pytest.mark.parametrize("by_hand", [True, False], ids=["by_hand", "by_the_loop"])
def test_a_connection_closed_before_its_first_byte_is_not_a_refusal(serve, by_hand: bool) -> None:  # type: ignore[no-untyped-def]
    """A port check (connect, close): no refusal counted, its slot given back. Both accept
    paths: by hand (selector loops) and by the loop (the fallback, as on Windows)."""
    served = serve(web_config_text(None, users={}), by_hand=by_hand)
    socket.create_connection(("127.0.0.1", served.port), timeout=20).close()
    assert eventually(lambda: served.server.admission.open == 0)
    assert raw(served.port, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    assert served.refused("timeout") in (None, 0.0)
    assert served.refused("tls_handshake") in (None, 0.0)


def test_the_loops_own_accept_path_serves_tls_and_evicts_silent_connections(  # type: ignore[no-untyped-def]
    serve, files: TLSFiles
) -> None:
    """The fallback for loops that cannot watch sockets (Windows' proactor): a TLS request is
    answered, and at the total cap the oldest silent connection makes room."""
    limits = Limits(max_connections=3, max_per_client=3)
    served = serve(web_config_text(files, users={}), limits, by_hand=False)
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
    try:
        time.sleep(0.2)
        conn = http.client.HTTPSConnection(
            "127.0.0.1", served.port, context=files.client_context(), timeout=20
        )
        conn.request("GET", "/-/healthy")
        assert conn.getresponse().status == 200
        conn.close()
        assert held[0].recv(1) == b""  # the oldest was dropped
        assert served.server.admission.evicted == 1
    finally:
        for sock in held:
            sock.close()
