"""What the status page and /status.json show: plain facts, gathered by the daemon, rendered here.

The daemon's composition root fills a :class:`StatusFacts` (commands/status.py); the page
(web/status.py) and :func:`status_json` only render it. Values that come from files, logs or
certificates are untrusted text: renderers escape every one of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import Any

from stproxy_monitor.states import STATE_ORDER, Status, state_rank

FactValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing that is wrong: the event name the daemon logs, its state, a sentence, the facts.

    ``key`` tells problems of one event apart (a path, a cell and node, a server); ``facts`` are
    the event's structured fields (never a secret).
    """

    event: str
    state: Status
    key: str
    text: str
    facts: Mapping[str, FactValue]


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFact:
    """One certificate of a file or of a log's certificate-status block."""

    name: str  # the subject's CN (the whole subject when it has none)
    subject: str  # RFC 4514 order (most specific first), for files and logs alike
    issuer: str
    serial: str
    sha256: str
    not_before: float | None
    not_after: float
    days_left: float
    state: Status
    validity: str  # "expires in 20.0 days", "expired 5.0 days ago", "not valid before ..."
    chain: bool  # a CA certificate stored with the leaf
    not_yet_valid: bool = False
    environment: str = ""
    topic: str = ""
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFile:
    """A certificate file (or a log with a certificate-status block): its leaf, then its chain.

    An unreadable file has no certificates and says why in ``reason`` and ``message``.
    """

    source: str  # "file" | "log"
    path: str
    short_path: str
    node: str
    state: Status
    certificates: tuple[CertificateFact, ...] = ()
    reason: str = ""
    message: str = ""
    problems: tuple[str, ...] = ()

    @property
    def days_left(self) -> float | None:
        """The least days left of its certificates (None when unreadable)."""
        return min((c.days_left for c in self.certificates), default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFact:
    """One node of a cell in the deployment manager profile."""

    node: str
    missing: bool
    forgotten: bool
    sync_pending: bool | None  # None: no synchronized copy to compare with


@dataclass(frozen=True, slots=True, kw_only=True)
class CellFact:
    """The rollout checks of one cell."""

    cell: str
    dmgr_profile: str
    distinct: int
    state: Status
    nodes: tuple[NodeFact, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustStoreFact:
    """One WebSphere trust store: does it trust the roots Apple's APNs servers chain to?

    ``trusts_apns`` is None when the store could not be read (``reason`` and ``message`` say why).
    """

    path: str
    short_path: str
    node: str
    state: Status
    read_ok: bool
    trusts_apns: bool | None
    roots: tuple[str, ...] = ()  # the APNs roots it holds (subject and key both match)
    certificates: int = 0
    reason: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerFact:
    """One WebSphere server seen in the logs: its APNS failures and lifecycle."""

    server: str
    failures_last_hour: int
    failures_last_day: int
    failures_total: int
    last_failure: float | None
    started: float | None
    running: bool | None
    restart_pending: bool | None  # None: unknown (no start seen or no certificate file)
    state: Status


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderFact:
    """How one followed log is read."""

    path: str
    short_path: str
    server: str
    present: bool
    directory: bool
    hpel: bool
    size: int
    position: int
    read_errors: int
    last_read: float | None
    last_record: float | None
    state: Status

    @property
    def lag_bytes(self) -> int:
        """Bytes written that the reader has not reached yet."""
        return max(0, self.size - self.position)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeFact:
    """The last run of the APNs probe (when the config has a ``probe:`` section)."""

    endpoint: str
    result: str  # the contract's fixed set: accepted, certificate_rejected, ...
    state: Status
    ran_at: float | None = None
    duration_seconds: float | None = None
    status: int | None = None
    apns_reason: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusFacts:
    """Everything the status page shows, at one moment."""

    version: str
    now: float
    ready: bool  # every configured log read once (as /-/ready)
    warn_days: float
    critical_days: float
    problems: tuple[Problem, ...] = ()
    certificates: tuple[CertificateFile, ...] = ()
    cells: tuple[CellFact, ...] = ()
    truststores: tuple[TrustStoreFact, ...] = ()
    servers: tuple[ServerFact, ...] = ()
    readers: tuple[ReaderFact, ...] = ()
    probe: ProbeFact | None = None
    probe_configured: bool = False

    @property
    def state(self) -> Status:
        """The worst state of any problem; OK when there is none."""
        return min((p.state for p in self.problems), key=state_rank, default=Status.OK)

    @property
    def most_urgent(self) -> tuple[CertificateFile, CertificateFact | None] | None:
        """The first certificate file of the page and its most urgent certificate."""
        if not self.certificates:
            return None
        first = self.certificates[0]
        urgent = min(
            first.certificates, key=lambda c: (state_rank(c.state), c.days_left), default=None
        )
        return first, urgent


def status_json(facts: StatusFacts) -> str:
    """/status.json: the same facts for scripts (states as their names, times as epoch seconds)."""
    document = {"state": facts.state.name, **_plain(facts)}
    document["problem_counts"] = {
        state.name: sum(1 for p in facts.problems if p.state == state) for state in STATE_ORDER[:3]
    }
    return json.dumps(document, indent=1, sort_keys=True, allow_nan=False, default=str) + "\n"


def _plain(value: Any) -> Any:
    """Dataclasses, enums, mappings and tuples as JSON values (properties included)."""
    if isinstance(value, Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
        for name in ("days_left", "lag_bytes"):
            if hasattr(type(value), name) and isinstance(getattr(type(value), name), property):
                out[name] = _plain(getattr(value, name))
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # no JSON form
        return None
    return value
