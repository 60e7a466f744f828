"""The probe's client without a network: name resolution that fails or hangs, an unexpected
error, an unreadable certificate; each gives its result, never a traceback."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from apns_standin import P12_PASSWORD, ClientPKI, loopback_only

from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.probe.client import ProbeSpec, run_probe
from stproxy_monitor.probe.network import Connection


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these tests connects beyond 127.0.0.1."""
    loopback_only(monkeypatch)


@pytest.fixture
def spec(tmp_path: Path) -> ProbeSpec:
    """A probe of a name only the fakes below resolve, with a good certificate."""
    pki = ClientPKI(tmp_path)
    return ProbeSpec(
        host="api.push.apple.com",
        port=443,
        certificate=str(pki.issue("leaf")),
        password=PasswordSource(env="P12"),
        ca_file=str(pki.ca_file),
        timeout=0.5,
    )


ENV = {"P12": P12_PASSWORD}


def test_dns_failure_is_unreachable(spec: ProbeSpec) -> None:
    """getaddrinfo failing: unreachable, saying the name could not be resolved."""

    def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    result = run_probe(spec, environ=ENV, connect=Connection(resolve=resolve))
    assert (result.result, result.exit_status) == ("unreachable", 3)
    assert "cannot resolve api.push.apple.com: Name or service not known" in result.message


def test_a_hung_lookup_ends_at_the_timeout(spec: ProbeSpec) -> None:
    """getaddrinfo has no timeout: a lookup that hangs is waited for no longer than the probe's."""
    release = threading.Event()

    def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        release.wait(30)
        return []

    try:
        result = run_probe(spec, environ=ENV, connect=Connection(resolve=resolve))
    finally:
        release.set()  # the helper thread ends
    assert result.result == "timed_out"
    assert "resolve api.push.apple.com" in result.message
    assert result.steps[-1].line() == "resolve api.push.apple.com ... failed: timed out"


def test_an_unexpected_error_is_other(spec: ProbeSpec) -> None:
    """An error no step expected is `other`, in words."""

    class Exploding(Connection):
        def open(self, *args: object, **kwargs: object) -> socket.socket:
            raise ValueError("something nobody planned for")

    result = run_probe(spec, environ=ENV, connect=Exploding())
    assert result.result == "other"
    assert "unexpected ValueError: something nobody planned for" in result.message


def test_missing_certificate_connects_to_nothing(spec: ProbeSpec, tmp_path: Path) -> None:
    """A missing PKCS#12: `other`, and no name is even looked up."""
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[tuple[Any, ...]]:
        looked_up.append(host)
        return []

    missing = ProbeSpec(host=spec.host, port=spec.port, certificate=str(tmp_path / "gone.p12"))
    result = run_probe(missing, environ=ENV, connect=Connection(resolve=resolve))
    assert result.result == "other"
    assert "no such file" in result.message
    assert looked_up == []


def test_a_bad_ca_file_is_other(spec: ProbeSpec, tmp_path: Path) -> None:
    """An unreadable ca_file is said with its name."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    bad = ProbeSpec(
        host=spec.host,
        port=spec.port,
        certificate=spec.certificate,
        password=spec.password,
        ca_file=str(junk),
    )
    result = run_probe(bad, environ=ENV, connect=Connection(resolve=lambda h, p: []))
    assert result.result == "other"
    assert f"ca_file {junk}: cannot load" in result.message


def test_the_loopback_guard_refuses_other_addresses() -> None:
    """The guard of these tests fails a connection to a non-loopback address (TEST-NET-1)."""
    with socket.socket() as sock, pytest.raises(AssertionError, match="beyond the loopback"):
        sock.connect(("192.0.2.1", 9))
