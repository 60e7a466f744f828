"""The record of one probe: frozen, so that the daemon, `check` and pages can share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stproxy_monitor.probe.outcome import EXIT_STATUS, RESULTS


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One line of the probe's report: what was tried, and what was seen (``ok`` or not)."""

    name: str  # resolve, proxy, connect, tls, http2, answer
    action: str  # "connect api.push.apple.com:443 (17.188.x.x)"
    seen: str  # "ok 41 ms", "400 BadDeviceToken", "failed: connection refused"
    ok: bool

    def line(self) -> str:
        """The line as IBM's tool printed its steps: ``<action> ... <seen>``."""
        return f"{self.action} ... {self.seen}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerCertificate:
    """The APNs server's certificate as the probe saw it (``chain``: subjects, leaf first)."""

    subject: str
    issuer: str
    not_after: float
    chain: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """One probe: its result (one of RESULTS), what Apple answered, and every step.

    ``started`` is the epoch time the probe began; ``message`` says the result in words.
    Nothing here holds a key or a password; ``proxy`` is host:port without credentials.
    """

    result: str
    message: str
    endpoint: str
    started: float
    duration_seconds: float
    status: int | None = None
    apns_reason: str | None = None
    tls_alert: str | None = None
    topic: str | None = None
    proxy: str | None = None
    tls_version: str | None = None
    server_certificate: ServerCertificate | None = None
    steps: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"ProbeResult.result: must be one of {RESULTS} ({self.result!r})")

    @property
    def success(self) -> bool:
        """Whether Apple accepted the certificate and topic."""
        return self.result == "accepted"

    @property
    def exit_status(self) -> int:
        """The command's exit status for this result (the contract's table)."""
        return EXIT_STATUS[self.result]

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON object (result, endpoint, status, apns_reason, tls_alert,
        duration_seconds) and what else was seen."""
        server = self.server_certificate
        return {
            "result": self.result,
            "endpoint": self.endpoint,
            "status": self.status,
            "apns_reason": self.apns_reason,
            "tls_alert": self.tls_alert,
            "duration_seconds": round(self.duration_seconds, 6),
            "message": self.message,
            "exit_status": self.exit_status,
            "started": _iso(self.started),
            "topic": self.topic,
            "proxy": self.proxy,
            "tls_version": self.tls_version,
            "server_certificate": None
            if server is None
            else {
                "subject": server.subject,
                "issuer": server.issuer,
                "not_after": _iso(server.not_after),
                "chain": list(server.chain),
            },
            "steps": [
                {"step": s.name, "action": s.action, "seen": s.seen, "ok": s.ok} for s in self.steps
            ],
        }


def _iso(epoch: float) -> str:
    """An epoch time as ISO 8601 UTC to the second."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
