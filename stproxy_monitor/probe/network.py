"""TCP to the endpoint, directly or through an HTTP proxy's CONNECT tunnel, within a deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from stproxy_monitor.probe.outcome import Seen
from stproxy_monitor.probe.proxy import Proxy

_MAX_PROXY_ANSWER = 16 * 1024
Resolve = Callable[[str, int], list[tuple[Any, ...]]]


class StepRecorder(Protocol):
    """Records one step of the probe (client._Probe.step)."""

    def __call__(self, name: str, action: str, seen: str, *, ok: bool) -> None: ...


class Stop(Exception):  # noqa: N818 - not an error: the probe stops with what it saw
    """A step ended the probe; ``seen`` is what decides the result."""

    def __init__(self, seen: Seen) -> None:
        super().__init__(seen.detail)
        self.seen = seen


class Deadline:
    """What is left of the probe's time bound; ``left()`` raises Stop(timeout) once spent."""

    def __init__(self, timeout: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._monotonic = monotonic
        self._end = monotonic() + timeout

    def left(self, doing: str) -> float:
        """Seconds left (> 0) for ``doing``; Stop when none are."""
        remaining = self._end - self._monotonic()
        if remaining <= 0:
            raise Stop(self.expired(doing))
        return remaining

    def expired(self, doing: str) -> Seen:
        """The Seen of a probe whose time ran out while ``doing``."""
        return Seen(failure="timeout", detail=f"{doing}: no answer within {self.timeout:g} s")

    def elapsed_ms(self, since: float) -> str:
        """Milliseconds from ``since`` (a monotonic time) to now, for step lines."""
        return f"{(self._monotonic() - since) * 1000:.0f} ms"

    def now(self) -> float:
        """The monotonic clock."""
        return self._monotonic()


def _getaddrinfo(host: str, port: int) -> list[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


class Connection:
    """Opens the probe's TCP connection; ``resolve`` and ``create`` are injectable."""

    def __init__(
        self,
        *,
        resolve: Resolve = _getaddrinfo,
        create: Callable[[int, int, int], socket.socket] = socket.socket,
    ) -> None:
        self._resolve = resolve
        self._create = create

    def open(
        self, host: str, port: int, proxy: Proxy | None, deadline: Deadline, step: StepRecorder
    ) -> socket.socket:
        """A connected socket to host:port (through ``proxy``'s tunnel when given)."""
        if proxy is None:
            return self._connect(host, port, deadline, step, what="")
        sock = self._connect(proxy.host, proxy.port, deadline, step, what="proxy ")
        try:
            _tunnel(sock, host, port, proxy=proxy, deadline=deadline, step=step)
        except BaseException:
            sock.close()
            raise
        return sock

    def _connect(
        self, host: str, port: int, deadline: Deadline, step: StepRecorder, *, what: str
    ) -> socket.socket:
        """Resolve, then try each address in turn until one connects."""
        action = f"connect {what}{host}:{port}"
        addresses = self._addresses(host, port, deadline, step, action)
        problems: list[str] = []
        for family, kind, proto, _, address in addresses:
            begin = deadline.now()
            sock = self._create(family, kind, proto)
            try:
                sock.settimeout(deadline.left(action))
                sock.connect(address)
            except TimeoutError:
                sock.close()
                step("connect", f"{action} ({address[0]})", "failed: timed out", ok=False)
                raise Stop(deadline.expired(f"{action} ({address[0]})")) from None
            except OSError as exc:
                sock.close()
                problems.append(f"{address[0]}: {exc.strerror or type(exc).__name__}")
                continue
            except BaseException:
                sock.close()
                raise
            step("connect", f"{action} ({address[0]})", f"ok {deadline.elapsed_ms(begin)}", ok=True)
            return sock
        detail = "; ".join(problems) or "no address"
        step("connect", action, f"failed: {detail}", ok=False)
        target = "the proxy " if what else ""
        raise Stop(Seen(failure="refused", detail=f"cannot connect to {target}{host}:{port}: "
                                                   f"{detail}"))  # fmt: skip

    def _addresses(
        self, host: str, port: int, deadline: Deadline, step: StepRecorder, action: str
    ) -> list[tuple[Any, ...]]:
        """getaddrinfo, waited for no longer than the deadline allows (it has no timeout)."""
        box: dict[str, Any] = {}

        def lookup() -> None:
            try:
                box["found"] = self._resolve(host, port)
            except (OSError, UnicodeError) as exc:
                box["error"] = exc

        worker = threading.Thread(target=lookup, name="probe-resolve", daemon=True)
        worker.start()
        worker.join(deadline.left(f"resolve {host}"))
        if worker.is_alive():
            step("resolve", f"resolve {host}", "failed: timed out", ok=False)
            raise Stop(deadline.expired(f"resolve {host}"))
        if "error" in box or not box.get("found"):
            exc = box.get("error")
            detail = getattr(exc, "strerror", None) or str(exc or "no address")
            step("resolve", action, f"failed: cannot resolve {host}: {detail}", ok=False)
            raise Stop(Seen(failure="dns", detail=f"cannot resolve {host}: {detail}"))
        found: list[tuple[Any, ...]] = box["found"]
        return found


def _tunnel(
    sock: socket.socket,
    host: str,
    port: int,
    *,
    proxy: Proxy,
    deadline: Deadline,
    step: StepRecorder,
) -> None:
    """CONNECT host:port through the proxy; anything but a 2xx answer is the proxy refusing."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    action = f"CONNECT {target} via proxy {proxy.address}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    begin = deadline.now()
    answer = b""
    try:
        sock.settimeout(deadline.left(action))
        sock.sendall(request)
        while b"\r\n\r\n" not in answer and len(answer) < _MAX_PROXY_ANSWER:
            sock.settimeout(deadline.left(action))
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    except TimeoutError:
        step("proxy", action, "failed: timed out", ok=False)
        raise Stop(deadline.expired(action)) from None
    except OSError as exc:
        detail = exc.strerror or type(exc).__name__
        step("proxy", action, f"failed: {detail}", ok=False)
        raise Stop(
            Seen(failure="proxy_refused", detail=f"proxy {proxy.address}: {detail}")
        ) from None
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")[:120]
    parts = status_line.split(" ", 2)
    if b"\r\n\r\n" not in answer or len(parts) < 2 or not parts[1].startswith("2"):
        seen = status_line or "closed the connection without an answer"
        step("proxy", action, f"failed: {seen}", ok=False)
        raise Stop(Seen(failure="proxy_refused", detail=f"proxy {proxy.address} answered: {seen}"))
    if answer.index(b"\r\n\r\n") + 4 != len(answer):
        step("proxy", action, "failed: data after the proxy's answer", ok=False)
        raise Stop(Seen(failure="protocol", detail=f"proxy {proxy.address}: data after 200"))
    step("proxy", action, f"ok {' '.join(parts[1:])} {deadline.elapsed_ms(begin)}", ok=True)
