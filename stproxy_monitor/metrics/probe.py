"""The probe's metric families, from the scheduler's last status (label ``endpoint``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stproxy_monitor.metrics.exposition import Section
from stproxy_monitor.probe.outcome import RESULTS
from stproxy_monitor.probe.schedule import ProbeStatus

StatusSource = Callable[[], ProbeStatus | None]


def probe_families(status: ProbeStatus) -> Iterator[Metric]:
    """probes_total from the start; the last probe's families once there was one."""
    endpoint = status.endpoint
    total = CounterMetricFamily(
        "stproxy_apns_probes", "Probes of APNs run, by result.", labels=("endpoint", "result")
    )
    for name in RESULTS:
        total.add_metric([endpoint, name], status.totals.get(name, 0))
    yield total
    yield _gauge(
        "stproxy_apns_probe_interval_seconds",
        "Configured time between two probes of APNs.",
        endpoint,
        status.interval,
    )
    last = status.last
    if last is None:
        return
    yield _gauge(
        "stproxy_apns_probe_success",
        "1 when the last probe's result was accepted.",
        endpoint,
        int(last.success),
    )
    results = GaugeMetricFamily(
        "stproxy_apns_probe_result",
        "1 for the last probe's result, 0 for every other result.",
        labels=("endpoint", "result"),
    )
    for name in RESULTS:
        results.add_metric([endpoint, name], int(name == last.result))
    yield results
    yield _gauge(
        "stproxy_apns_probe_result_streak",
        "Probes in a row that gave the last probe's result.",
        endpoint,
        status.streak,
    )
    yield _gauge(
        "stproxy_apns_probe_duration_seconds",
        "How long the last probe took.",
        endpoint,
        last.duration_seconds,
    )
    yield _gauge(
        "stproxy_apns_probe_last_run_timestamp_seconds",
        "When the last probe ran.",
        endpoint,
        last.started,
    )
    if last.server_certificate is not None:
        yield _gauge(
            "stproxy_apns_probe_server_certificate_not_after_timestamp_seconds",
            "End of validity of the APNs server's certificate seen by the last probe.",
            endpoint,
            last.server_certificate.not_after,
        )


def _gauge(name: str, documentation: str, endpoint: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=("endpoint",))
    family.add_metric([endpoint], value)
    return family


class ProbeCollector(Collector):
    """The probe's families; nothing when the daemon has no probe configured.

    One section keyed on the status object, which the scheduler replaces only when a probe
    ends: between two probes the rendering is reused.
    """

    def __init__(self, status: StatusSource) -> None:
        self._status = status

    def describe(self) -> Iterable[Metric]:
        """Nothing: the families depend on the configuration."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families of the current status."""
        for section in self.sections():
            yield from section.families()

    def sections(self) -> list[Section]:
        """One section, keyed on the current status."""
        status = self._status()
        if status is None:
            return []
        return [Section(name="probe", key=status, families=lambda: probe_families(status))]
