"""Events the pure log parser produces and the state applies."""

from __future__ import annotations

from dataclasses import dataclass

# Fixed label values of stproxy_websphere_ssl_handshake_failures_total{target}.
HANDSHAKE_TARGETS = ("apns", "other")


@dataclass(frozen=True, slots=True, kw_only=True)
class ApnsFailure:
    """A CLFRX0079W record: the proxy could not reach APNS."""

    reason: str
    timestamp: float
    timestamp_parsed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLifecycle:
    """WSVR0001I (started), WSVR0023I (stopping) or WSVR0024I (stopped)."""

    state: str  # "started" | "stopping" | "stopped"
    server: str
    timestamp: float
    timestamp_parsed: bool = True  # False: the time could not be read, timestamp is the read's


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessHeader:
    """The 'Start Display Current Environment' block: names cell, node and server."""

    cell: str
    node: str
    server: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateStatus:
    """A certificate-status block found in a log (IBM tool format or a configured pattern)."""

    not_after: float
    not_before: float | None = None
    subject: str = ""
    issuer: str = ""
    md5: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HpelDetected:
    """The server writes binary HPEL logs instead of SystemOut.log."""

    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SslHandshakeFailure:
    """A CWPKI0022E record: WebSphere did not trust the certificate a server sent.

    ``target`` is "apns" when the host in the record is under push.apple.com, else "other".
    """

    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyEndpoint:
    """A record names the retired binary APNs API (gateway or feedback ... push.apple.com)."""

    host: str


Event = (
    ApnsFailure
    | ServerLifecycle
    | ProcessHeader
    | CertificateStatus
    | HpelDetected
    | SslHandshakeFailure
    | LegacyEndpoint
)
