"""The HTTP server's self-metrics: refused connections and requests, by a fixed reason."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from stproxy_monitor.metrics.exposition import Section, same_if_equal

REFUSAL_REASONS = (
    "auth_busy",  # bcrypt pool full or its deadline passed: 503
    "bad_request",
    "client_certificate",
    "connection_limit",
    "plain_http",
    "rate_limited",  # rate_limit of the web config: 429
    "timeout",
    "tls_handshake",
    "too_large",
    "unauthorized",
)


class HTTPStats(Collector):
    """Counts of refused connections and requests, by a fixed reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(REFUSAL_REASONS, 0)
        self._last: tuple[tuple[str, int], ...] | None = None

    def refuse(self, reason: str) -> None:
        """Count one refusal."""
        with self._lock:
            self._counts[reason] += 1

    def count(self, reason: str) -> int:
        """The current count for a reason."""
        with self._lock:
            return self._counts[reason]

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the family is built per scrape."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """stproxy_monitor_http_refused_total{reason}."""
        for section in self.sections():
            yield from section.families()

    def sections(self) -> list[Section]:
        """One section, keyed on the counts (rendered again when one moves)."""
        with self._lock:
            counts = tuple(self._counts.items())
        counts = self._last = same_if_equal(self._last, counts)
        return [Section(name="http_refused", key=counts, families=lambda: [_refused(counts)])]


def _refused(counts: tuple[tuple[str, int], ...]) -> Metric:
    """stproxy_monitor_http_refused_total{reason}."""
    family = CounterMetricFamily(
        "stproxy_monitor_http_refused",
        "Connections and requests refused (TLS, authentication, limits, malformed).",
        labels=["reason"],
    )
    for reason, count in counts:
        family.add_metric([reason], float(count))
    return family
