"""The probe's network edge: one TCP connection (through a CONNECT proxy when one applies), TLS
1.2+ with ALPN h2 and the client certificate, one HTTP/2 POST to a dummy device token.

Every blocking call is given what is left of ``timeout`` (the whole probe's bound): name
resolution runs in a helper thread that is waited for no longer than that. What each step saw
becomes a :class:`~stproxy_monitor.probe.result.Step`; what decides the result becomes a
:class:`~stproxy_monitor.probe.outcome.Seen`, classified by the pure
:func:`~stproxy_monitor.probe.outcome.classify`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import h2.exceptions

from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.errors import CertificateError
from stproxy_monitor.probe.credentials import client_context, describe, load_identity
from stproxy_monitor.probe.http2 import push, require_h2, tls_handshake
from stproxy_monitor.probe.network import Connection, Deadline, Stop
from stproxy_monitor.probe.outcome import Seen, classify
from stproxy_monitor.probe.proxy import Proxy, parse_proxy, proxy_url_for
from stproxy_monitor.probe.result import ProbeResult, ServerCertificate, Step
from stproxy_monitor.probe_config import DEFAULT_TIMEOUT

OnStep = Callable[[Step], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    """What to probe and with what: endpoint, PKCS#12 and its password source, topic (None:
    the certificate's UID), proxy URL (None: the environment's, as curl), trust (None: the
    system's), and the bound of the whole probe in seconds."""

    host: str
    port: int
    certificate: str
    password: PasswordSource | None = None
    topic: str | None = None
    proxy: str | None = field(default=None, repr=False)  # may hold credentials
    ca_file: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def endpoint(self) -> str:
        """host:port, the `endpoint` label and JSON field."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def run_probe(
    spec: ProbeSpec,
    *,
    environ: Mapping[str, str],
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    connect: Connection | None = None,
    on_step: OnStep | None = None,
) -> ProbeResult:
    """Run one probe; never raises for what the network or the files do (that is the result)."""
    started, begin = clock(), monotonic()
    probe = _Probe(spec, environ, Deadline(spec.timeout, monotonic), on_step)
    try:
        seen = probe.run(connect or Connection())
    except Stop as stop:
        seen = stop.seen
    except (OSError, ssl.SSLError, ValueError, h2.exceptions.H2Error) as exc:
        # What no step expected (a socket error while closing, h2 refusing a frame we
        # build): `other`, in words, rather than a traceback in the command or the daemon.
        seen = Seen(failure="protocol", detail=f"unexpected {type(exc).__name__}: {exc}")
    result, message = classify(seen)
    return ProbeResult(
        result=result,
        message=message,
        endpoint=spec.endpoint,
        started=started,
        duration_seconds=max(0.0, monotonic() - begin),
        status=seen.status,
        apns_reason=seen.apns_reason,
        tls_alert=seen.tls_alert,
        topic=probe.topic,
        proxy=probe.proxy.address if probe.proxy else None,
        tls_version=probe.tls_version,
        server_certificate=probe.server,
        steps=tuple(probe.steps),
    )


class _Probe:
    """One probe's steps, in order; each records what it saw."""

    def __init__(
        self,
        spec: ProbeSpec,
        environ: Mapping[str, str],
        deadline: Deadline,
        on_step: OnStep | None,
    ) -> None:
        self.spec = spec
        self.environ = environ
        self.deadline = deadline
        self.on_step = on_step
        self.steps: list[Step] = []
        self.topic: str | None = spec.topic
        self.proxy: Proxy | None = None
        self.tls_version: str | None = None
        self.server: ServerCertificate | None = None

    def step(self, name: str, action: str, seen: str, *, ok: bool) -> None:
        """Record one step (and show it at once when asked)."""
        step = Step(name=name, action=action, seen=seen, ok=ok)
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step)

    def run(self, connection: Connection) -> Seen:
        """Every step; a failing one raises Stop with what it saw."""
        context = self._context()
        self.proxy = self._proxy()
        sock = connection.open(self.spec.host, self.spec.port, self.proxy, self.deadline, self.step)
        try:
            tls = tls_handshake(sock, context, self.spec.host, self.deadline, self.step)
        finally:
            sock.close()  # wrap_socket took its descriptor over; closes it if it did not
        with tls.sock:
            self.tls_version, self.server = tls.version, tls.server
            require_h2(tls.sock, self.step)
            return push(tls.sock, self.spec.host, self.topic, self.deadline, self.step)

    def _context(self) -> ssl.SSLContext:
        """The client context from the PKCS#12 (a local failure stops the probe here)."""
        path = self.spec.certificate
        try:
            identity = load_identity(path, self.spec.password, environ=self.environ)
        except CertificateError as exc:
            self.step("certificate", f"client certificate {path}", f"failed: {exc}", ok=False)
            raise Stop(Seen(failure="local", detail=str(exc))) from None
        mine = describe(identity)
        self.topic = self.spec.topic or mine.uid
        until = time.strftime("%Y-%m-%d", time.gmtime(mine.not_after))
        self.step(
            "certificate",
            f"client certificate {mine.subject}",
            f"ok, valid until {until}, environment {mine.environment}, "
            f"topic {self.topic or '(none: Apple picks it)'}",
            ok=True,
        )
        try:
            return client_context(identity, ca_file=self.spec.ca_file)
        except (OSError, ssl.SSLError) as exc:
            detail = f"ca_file {self.spec.ca_file}: cannot load: {_words(exc)}"
            self.step("certificate", "trust for the server's certificate", detail, ok=False)
            raise Stop(Seen(failure="local", detail=detail)) from None

    def _proxy(self) -> Proxy | None:
        """The proxy that applies (flag or config, else the environment; NO_PROXY wins)."""
        url = proxy_url_for(self.spec.host, self.spec.proxy, self.environ)
        if url is None:
            return None
        try:
            return parse_proxy(url)
        except ValueError as exc:
            self.step("proxy", "proxy URL", f"failed: {exc}", ok=False)
            raise Stop(Seen(failure="local", detail=f"proxy URL: {exc}")) from None


def _words(exc: BaseException) -> str:
    """An OS or TLS error in words."""
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc)
