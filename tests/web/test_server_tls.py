"""The HTTP server under real TLS on 127.0.0.1: auth, client certificates, reloads, robustness."""

from __future__ import annotations

import base64
import http.client
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from prometheus_client.registry import CollectorRegistry
from structlog.testing import capture_logs
from support import DAEMON, daemon_env, free_port, spawn_daemon
from tls_helpers import (
    PASSWORD,
    PASSWORD_HASH,
    USER,
    TLSFiles,
    make_tls_files,
    web_config_text,
    write_changed,
)

from stproxy_monitor.commands.run import Service
from stproxy_monitor.config import CertificateConfig, Config
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.web.security import WebConfigWatcher
from stproxy_monitor.web.server import Endpoints, Limits, MonitorHTTPServer, serve_in_thread

Response = tuple[int, dict[str, str], bytes]
OPEN_WAIT = (BlockingIOError, ssl.SSLWantReadError)
REFUSED = (ssl.SSLError, ConnectionError)


def basic(user: str, password: str) -> str:
    """An Authorization header value for HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(
    port: int,
    path: str = "/metrics",
    *,
    context: ssl.SSLContext | None = None,
    auth: tuple[str, str] | None = (USER, PASSWORD),
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Response:
    """One request over a new connection (HTTPS when a client context is given)."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=20)
    sent = dict(headers or {})
    if auth is not None:
        sent["Authorization"] = basic(*auth)
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw(port: int, data: bytes, context: ssl.SSLContext | None = None) -> Response:
    """Send raw request bytes, parse the one response the server gives."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def still_open(sock: socket.socket) -> bool:
    """Whether the server has not closed this connection (nothing to read, no EOF)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except OPEN_WAIT:
        return True
    finally:
        sock.setblocking(True)


def eventually(check: Callable[[], bool]) -> bool:
    """Whether `check` holds within a few seconds (server threads count a refusal just after
    the client has seen it)."""
    for _ in range(200):
        if check():
            return True
        time.sleep(0.02)
    return check()


class Served:
    """An in-process server over a web config file, with its watcher and registry."""

    def __init__(self, path: Path, limits: Limits | None) -> None:
        self.path = path
        self.watcher = WebConfigWatcher(str(path), interval=0.0)
        self.registry = CollectorRegistry()
        self.reloads = 0
        self.server = MonitorHTTPServer(
            ("127.0.0.1", 0),
            Endpoints(
                registry=self.registry,
                ready=lambda: True,
                reload=self._reload,
                landing=lambda: "<html>landing</html>",
                security=self.watcher.current,
            ),
            limits=limits,
        )
        self.registry.register(self.watcher)
        self.registry.register(self.server.stats)
        self.port = int(self.server.server_address[1])
        serve_in_thread(self.server)

    def _reload(self) -> tuple[bool, str]:
        self.reloads += 1
        return True, "reloaded"

    def refused(self, reason: str) -> float | None:
        """The server's refusal counter for a reason."""
        return self.registry.get_sample_value(
            "stproxy_monitor_http_refused_total", {"reason": reason}
        )

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_files(tmp_path: Path) -> TLSFiles:
    """Fresh CA, server and client certificates."""
    return make_tls_files(tmp_path)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start in-process servers on 127.0.0.1:0 over a web config text; stopped afterwards."""
    started: list[Served] = []

    def start(text: str, limits: Limits | None = None) -> Served:
        path = tmp_path / f"web-{len(started)}.yml"
        path.write_text(text)
        served = Served(path, limits)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


def test_scrape_with_password_and_ca_succeeds(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """The right user, password and CA get the metrics, with the configured headers."""
    headers = "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    served = serve(web_config_text(tls_files, extra=headers))
    status, sent, body = request(served.port, context=tls_files.client_context())
    assert status == 200
    assert sent["X-Content-Type-Options"] == "nosniff"
    assert sent["Server"] == "stproxy-monitor"
    assert b"stproxy_monitor_web_config_last_reload_successful 1.0" in body
    assert served.refused("unauthorized") == 0.0


def test_wrong_or_missing_credentials_get_401(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """No password, a wrong password and a wrong user all get 401 with WWW-Authenticate."""
    served = serve(web_config_text(tls_files))
    context = tls_files.client_context()
    for auth in (None, (USER, "wrong"), ("grafana", PASSWORD), (USER, "")):
        status, sent, body = request(served.port, context=context, auth=auth)
        assert (status, body) == (401, b"Unauthorized\n"), auth
        assert sent["WWW-Authenticate"] == 'Basic realm="stproxy-monitor", charset="UTF-8"'
    assert served.refused("unauthorized") == 4.0


def test_plain_http_to_the_tls_port_is_refused(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """An HTTP request on the HTTPS port gets a plain 400 and no metrics."""
    served = serve(web_config_text(tls_files))
    status, _, body = request(served.port)
    assert (status, body) == (400, b"Client sent an HTTP request to an HTTPS server.\n")
    assert eventually(lambda: served.refused("plain_http") == 1.0)


def test_client_certificate_is_required_and_verified(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """With RequireAndVerifyClientCert a missing or untrusted client certificate is refused."""
    served = serve(web_config_text(tls_files, client_auth="RequireAndVerifyClientCert"))
    assert request(served.port, context=tls_files.client_context())[0] == 200
    with pytest.raises(REFUSED):
        request(served.port, context=tls_files.client_context(client_cert=False))
    untrusted = tls_files.client_context(client_cert=False)
    trustme.CA().issue_cert("prometheus.example.com").configure_cert(untrusted)
    with pytest.raises(REFUSED):
        request(served.port, context=untrusted)
    assert eventually(lambda: served.refused("tls_handshake") == 2.0)
    assert request(served.port, context=tls_files.client_context())[0] == 200


def test_optional_client_certificate_is_verified_if_given(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """VerifyClientCertIfGiven lets clients without a certificate in, not untrusted ones."""
    served = serve(web_config_text(tls_files, client_auth="VerifyClientCertIfGiven"))
    assert request(served.port, context=tls_files.client_context(client_cert=False))[0] == 200
    untrusted = tls_files.client_context(client_cert=False)
    trustme.CA().issue_cert("x.example.com").configure_cert(untrusted)
    with pytest.raises(REFUSED):
        request(served.port, context=untrusted)


def test_client_allowed_sans(serve: Callable[..., Served], tls_files: TLSFiles) -> None:
    """Only client certificates naming an allowed SAN (DNS or IP) get through."""
    sans = "  client_allowed_sans: [{}]\n"
    base = web_config_text(tls_files, client_auth="RequireAndVerifyClientCert", users={})
    allowed = serve(base + sans.format("127.0.0.2"))
    assert request(allowed.port, context=tls_files.client_context(), auth=None)[0] == 200
    denied = serve(base + sans.format("grafana.example.com"))
    with pytest.raises(REFUSED):
        request(denied.port, context=tls_files.client_context(), auth=None)
    assert eventually(lambda: denied.refused("client_certificate") == 1.0)


def test_server_with_an_unknown_ca_is_refused_by_the_client(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """A scraper that does not trust the daemon's CA does not talk to it (sanity of the setup)."""
    served = serve(web_config_text(tls_files))
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    with pytest.raises(ssl.SSLCertVerificationError):
        request(served.port, context=stranger)


def test_changed_web_config_takes_effect_while_running(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """A new password, then a rotated certificate, are used by the next connections."""
    served = serve(web_config_text(tls_files))
    context = tls_files.client_context()
    assert request(served.port, context=context)[0] == 200
    write_changed(served.path, web_config_text(tls_files, users={"grafana": PASSWORD_HASH}))
    assert request(served.port, context=context)[0] == 401
    assert request(served.port, context=context, auth=("grafana", PASSWORD))[0] == 200
    new_ca = trustme.CA()
    tls_files.issue_server(new_ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        request(served.port, context=context, auth=("grafana", PASSWORD))
    rotated = ssl.create_default_context()
    new_ca.configure_trust(rotated)
    assert request(served.port, context=rotated, auth=("grafana", PASSWORD))[0] == 200


def test_broken_web_config_keeps_serving_with_the_old_one(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """A broken edit keeps the previous settings and reports the failure as a metric."""
    served = serve(web_config_text(tls_files))
    context = tls_files.client_context()
    write_changed(served.path, "basic_auth_users: [oops\n")
    with capture_logs() as logs:
        status, _, body = request(served.port, context=context)
    assert status == 200
    assert b"stproxy_monitor_web_config_last_reload_successful 0.0" in body
    assert [entry["event"] for entry in logs if entry["event"].startswith("web_")] == [
        "web_config_reload_failed"
    ]


def test_slow_clients_do_not_delay_another_scrape(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """A silent TCP client and a half-sent TLS request stay open while another scrape succeeds."""
    limits = Limits(handshake_timeout=60, head_timeout=60, idle_timeout=60)
    served = serve(web_config_text(tls_files), limits)
    context = tls_files.client_context()
    silent = socket.create_connection(("127.0.0.1", served.port))
    half = context.wrap_socket(
        socket.create_connection(("127.0.0.1", served.port)), server_hostname="127.0.0.1"
    )
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    with silent, half:
        status, _, body = request(served.port, context=context)
        assert status == 200
        assert b"stproxy_monitor_http_refused_total" in body
        assert still_open(silent)
        assert still_open(half)


def test_slow_plain_http_client_does_not_delay_another_scrape(
    serve: Callable[..., Served],
) -> None:
    """Without TLS, a client that sent half a request does not hold up the next one."""
    served = serve(web_config_text(None), Limits(head_timeout=60, idle_timeout=60))
    half = socket.create_connection(("127.0.0.1", served.port))
    half.sendall(b"GET /metrics HTTP/1.1\r\n")
    with half:
        assert request(served.port)[0] == 200
        assert still_open(half)


def test_trickling_client_is_cut_at_the_head_deadline(serve: Callable[..., Served]) -> None:
    """A client sending a byte now and then is closed once its request head is overdue."""
    served = serve(web_config_text(None), Limits(head_timeout=0.3, idle_timeout=60))
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=20)
    closed = False
    with sock:
        for _ in range(200):
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            if not still_open(sock):
                closed = True
                break
            time.sleep(0.05)
    assert closed
    assert eventually(lambda: served.refused("timeout") == 1.0)


def test_connections_over_the_limit_are_closed_at_once(serve: Callable[..., Served]) -> None:
    """Beyond max_connections a new connection is closed without being served."""
    served = serve(web_config_text(None), Limits(max_connections=1))
    keep = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    keep.request("GET", "/-/healthy")
    assert keep.getresponse().read() == b"Healthy\n"
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as extra:
        assert extra.recv(1) == b""
    keep.close()
    assert eventually(lambda: served.refused("connection_limit") == 1.0)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GARBAGE-secret-token\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1 extra\r\n\r\n", 400),
        (b"GET /metrics\r\n", 400),
        (b"GET /metrics HTTP/x.y\r\n\r\n", 400),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n", 413),
        (b"GET /metrics HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
        (b"POST /-/reload HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413),
        (b"POST /-/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
        (b"POST /-/reload HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST /-/reload HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    ],
)
def test_malformed_and_oversized_requests(
    serve: Callable[..., Served], tls_files: TLSFiles, data: bytes, status: int
) -> None:
    """Malformed requests get 400 (505 for HTTP/2), oversized ones 413/414/431, and close."""
    headers = "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    served = serve(web_config_text(tls_files, extra=headers))
    got, sent, body = raw(served.port, data, tls_files.client_context())
    assert got == status
    assert sent["Connection"] == "close"
    assert sent["X-Frame-Options"] == "deny"
    assert body == f"{http.HTTPStatus(status).phrase}\n".encode()
    reason = "too_large" if status in (413, 414, 431) else "bad_request"
    assert served.refused(reason) == 1.0


def test_routes_methods_and_bodies(serve: Callable[..., Served], tls_files: TLSFiles) -> None:
    """404 for unknown paths, 405 with Allow for wrong methods, HEAD without body, POST reload."""
    served = serve(web_config_text(tls_files))
    context = tls_files.client_context()
    assert request(served.port, "/nope", context=context)[0] == 404
    assert request(served.port, "/nope", context=context, auth=None)[0] == 401
    for method, path, allow in (
        ("DELETE", "/metrics", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),
        ("BREW", "/", "GET, HEAD"),
        ("GET", "/-/reload", "POST"),
        ("PUT", "/-/healthy", "GET, HEAD"),
    ):
        status, sent, _ = request(served.port, path, context=context, method=method)
        assert (status, sent["Allow"]) == (405, allow), (method, path)
    status, sent, body = request(served.port, context=context, method="HEAD")
    assert (status, body) == (200, b"")
    assert int(sent["Content-Length"]) > 0
    status, sent, body = request(served.port, context=context, method="HEAD", auth=None)
    assert (status, body, sent["Content-Length"]) == (401, b"", "13")
    status, _, body = request(
        served.port, "/-/reload", context=context, method="POST", body=b"x" * 100
    )
    assert (status, body, served.reloads) == (200, b"reloaded\n", 1)
    assert request(served.port, "/-/ready", context=context)[2] == b"Ready\n"
    assert request(served.port, "/", context=context)[2] == b"<html>landing</html>"


def test_a_connection_closed_without_a_word_is_not_a_refusal(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """A TCP port check (connect, close) is neither a TLS failure nor a timeout."""
    served = serve(web_config_text(tls_files))
    socket.create_connection(("127.0.0.1", served.port)).close()
    assert request(served.port, context=tls_files.client_context())[0] == 200
    assert (served.refused("tls_handshake"), served.refused("timeout")) == (0.0, 0.0)


def test_stopping_does_not_wait_for_idle_keep_alive_connections(
    serve: Callable[..., Served],
) -> None:
    """server_close returns while a scraper still holds an idle keep-alive connection."""
    served = serve(web_config_text(None), Limits(idle_timeout=30))
    keep = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    keep.request("GET", "/-/healthy")
    assert keep.getresponse().read() == b"Healthy\n"
    served.close()
    assert keep.sock is not None
    assert still_open(keep.sock)
    keep.close()


def test_keep_alive_serves_several_requests_on_one_connection(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """A body on a request is consumed, so the next request on the connection is read right."""
    served = serve(web_config_text(tls_files))
    conn = http.client.HTTPSConnection(
        "127.0.0.1", served.port, context=tls_files.client_context(), timeout=20
    )
    auth = {"Authorization": basic(USER, PASSWORD)}
    try:
        conn.request("POST", "/-/reload", body=b"GET /nope HTTP/1.1\r\n\r\n", headers=auth)
        assert conn.getresponse().read() == b"reloaded\n"
        conn.request("GET", "/-/healthy")
        assert conn.getresponse().read() == b"Healthy\n"
    finally:
        conn.close()


def test_healthy_is_public_unless_configured_otherwise(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """/-/healthy needs no credentials by default; auth_excluded_paths: [] protects it too."""
    default = serve(web_config_text(tls_files))
    context = tls_files.client_context()
    assert request(default.port, "/-/healthy", context=context, auth=None)[0] == 200
    assert request(default.port, "/-/ready", context=context, auth=None)[0] == 401
    strict = serve(web_config_text(tls_files, extra="auth_excluded_paths: []\n"))
    assert request(strict.port, "/-/healthy", context=context, auth=None)[0] == 401
    assert request(strict.port, "/-/healthy", context=context)[0] == 200


def test_no_credential_or_key_path_reaches_the_logs(
    serve: Callable[..., Served], tls_files: TLSFiles
) -> None:
    """Access logs, auth failures and reload errors never carry a password, user or key path."""
    served = serve(web_config_text(tls_files))
    context = tls_files.client_context()
    with capture_logs() as logs:
        request(served.port, f"/metrics?password={PASSWORD}", context=context)
        request(served.port, context=context, auth=(USER, PASSWORD + "x"))
        raw(served.port, f"GET /{PASSWORD} HTTP/1.1 x\r\n\r\n".encode(), context)
        write_changed(tls_files.key, "garbage")
        request(served.port, context=context)
    text = repr(logs)
    assert logs, "the requests were logged"
    for secret in (PASSWORD, USER, PASSWORD_HASH, str(tls_files.key), "server-key"):
        assert secret not in text
    assert {"event": "http_request", "log_level": "debug", "client": "127.0.0.1"}.items() <= (
        logs[0].items()
    )


def test_service_serves_tls_and_reloads_the_web_config_on_tick(
    tmp_path: Path, tls_files: TLSFiles
) -> None:
    """The daemon's Service builds the TLS server from web_config_file and re-reads it on tick."""
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(tls_files))
    config = Config(
        listen="127.0.0.1:0",
        web_config_file=str(path),
        certificates=(CertificateConfig(path=str(tls_files.cert)),),
    )
    service = Service(config, reload_config=lambda: config)
    service.start()
    try:
        context = tls_files.client_context()
        status, _, body = request(service.port, context=context)
        assert status == 200
        assert b'stproxy_monitor_http_refused_total{reason="unauthorized"} 0.0' in body
        write_changed(path, web_config_text(tls_files, users={"grafana": PASSWORD_HASH}))
        service.tick()
        assert service.web is not None
        assert service.web.last_ok is True
        assert request(service.port, context=context)[0] == 401
        assert request(service.port, context=context, auth=("grafana", PASSWORD))[0] == 200
    finally:
        service.shutdown()


def test_service_refuses_a_broken_web_config(tmp_path: Path) -> None:
    """Service construction raises ConfigError for a web config that cannot be used."""
    path = tmp_path / "web.yml"
    path.write_text("tls_server_config:\n  cert_file: none.pem\n  key_file: none-key.pem\n")
    config = Config(listen="127.0.0.1:0", web_config_file=str(path))
    with pytest.raises(ConfigError) as info:
        Service(config, reload_config=lambda: config)
    assert info.value.problems == [
        f"{path}: tls_server_config.cert_file: cannot read: No such file or directory "
        f"(got {tmp_path / 'none.pem'})",
        f"{path}: tls_server_config.key_file: cannot read: No such file or directory",
    ]


def run_daemon(tmp_path: Path, web_config: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `stproxy-monitor run` with a web config; its stderr goes to tmp_path/daemon.log."""
    cert = tmp_path / "server.pem"
    return spawn_daemon(
        *("--cert", str(cert)),
        *("--listen", f"127.0.0.1:{port}", "--web.config.file", str(web_config)),
        *("--log-level", "debug"),
        stderr=tmp_path / "daemon.log",
        cwd=tmp_path,
    )


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `check` until it holds; fail with the daemon's log if it exits or never does."""
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(f"daemon exited {proc.returncode}: {log.read_text()}")
        try:
            if check():
                return
        except (OSError, ssl.SSLError, http.client.HTTPException):
            pass
        time.sleep(0.05)
    pytest.fail(f"daemon never got there: {log.read_text()}")


@pytest.mark.e2e
def test_daemon_refusal_matrix_and_live_reload(tmp_path: Path, tls_files: TLSFiles) -> None:
    """The real daemon: only the right password with a trusted client certificate gets in."""
    web = tmp_path / "web.yml"
    web.write_text(web_config_text(tls_files, client_auth="RequireAndVerifyClientCert"))
    port = free_port()
    proc = run_daemon(tmp_path, web, port)
    log = tmp_path / "daemon.log"
    try:
        context = tls_files.client_context()
        wait_until(lambda: request(port, "/-/healthy", context=context)[0] == 200, proc, log)
        status, _, body = request(port, context=context)
        assert status == 200
        assert b"stproxy_monitor_web_config_last_reload_successful 1.0" in body
        assert request(port, context=context, auth=None)[0] == 401
        assert request(port, context=context, auth=(USER, "wrong"))[0] == 401
        assert request(port, context=context, auth=("grafana", PASSWORD))[0] == 401
        assert request(port)[0] == 400
        with pytest.raises(REFUSED):
            request(port, context=tls_files.client_context(client_cert=False))
        untrusted = tls_files.client_context(client_cert=False)
        trustme.CA().issue_cert("prometheus.example.com").configure_cert(untrusted)
        with pytest.raises(REFUSED):
            request(port, context=untrusted)
        expected = [
            f'stproxy_monitor_http_refused_total{{reason="{reason}"}} {count}.0'.encode()
            for reason, count in (("unauthorized", 3), ("plain_http", 1), ("tls_handshake", 2))
        ]
        wait_until(
            lambda: all(line in request(port, context=context)[2] for line in expected), proc, log
        )
        write_changed(
            web,
            web_config_text(
                tls_files,
                client_auth="RequireAndVerifyClientCert",
                users={"grafana": PASSWORD_HASH},
            ),
        )
        wait_until(
            lambda: request(port, context=context, auth=("grafana", PASSWORD))[0] == 200, proc, log
        )
        assert request(port, context=context)[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    text = log.read_text()
    assert '"event": "web_config_reloaded"' in text
    assert '"event": "http_request"' in text
    for secret in (PASSWORD, PASSWORD_HASH, str(tls_files.key)):
        assert secret not in text


@pytest.mark.e2e
def test_daemon_exits_2_on_a_broken_web_config(tmp_path: Path, tls_files: TLSFiles) -> None:
    """A web config that cannot be used stops the daemon at start with one line per problem."""
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {tls_files.cert}\n  key_file: {tls_files.key}\n"
        "  client_auth_type: RequireAnyClientCert\n  min_version: TLS10\n"
        f"basic_auth_users:\n  {USER}: {PASSWORD}\n"
    )
    result = subprocess.run(
        [
            *(*DAEMON, "--cert", str(tls_files.cert)),
            *("--listen", "127.0.0.1:0", "--web.config.file", str(web)),
        ],
        cwd=tmp_path,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"stproxy-monitor: {web}: tls_server_config.client_auth_type: is not supported: Python's "
        "ssl module verifies every client certificate it asks for; use "
        "RequireAndVerifyClientCert with client_ca_file (got str 'RequireAnyClientCert')",
        f"stproxy-monitor: {web}: tls_server_config.min_version: TLS 1.0 and 1.1 are not "
        "accepted (deprecated, RFC 8996) (got str 'TLS10')",
        f"stproxy-monitor: {web}: basic_auth_users (entry 1): must be a bcrypt hash ($2a$, $2b$ "
        "or $2y$, cost 04-31, 60 characters) (value not shown)",
    ]
    assert PASSWORD not in result.stderr
