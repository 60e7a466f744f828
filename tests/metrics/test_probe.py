"""The probe's families: the contract's names, one series per result, nothing before a probe
except the counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from stproxy_monitor.metrics.probe import ProbeCollector
from stproxy_monitor.probe.outcome import RESULTS
from stproxy_monitor.probe.result import ProbeResult, ServerCertificate
from stproxy_monitor.probe.schedule import ProbeStatus

ENDPOINT = "api.push.apple.com:443"


def registry_for(status: ProbeStatus | None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ProbeCollector(lambda: status))
    return registry


def test_before_the_first_probe_only_counters() -> None:
    """probes_total is there at 0 for every result; no result or success yet."""
    registry = registry_for(ProbeStatus(endpoint=ENDPOINT, interval=3600))
    for result in RESULTS:
        labels = {"endpoint": ENDPOINT, "result": result}
        assert registry.get_sample_value("stproxy_apns_probes_total", labels) == 0
    assert registry.get_sample_value("stproxy_apns_probe_success", {"endpoint": ENDPOINT}) is None


def test_after_a_probe() -> None:
    """success, result (1 for the last, 0 for the rest), duration, last run, server not_after."""
    result = ProbeResult(
        result="certificate_rejected",
        message="m",
        endpoint=ENDPOINT,
        started=1_800_000_000.0,
        duration_seconds=0.25,
        server_certificate=ServerCertificate(subject="CN=a", issuer="CN=b", not_after=1.9e9),
    )
    status = ProbeStatus(endpoint=ENDPOINT, interval=3600).after(result)
    registry = registry_for(status)
    one = {"endpoint": ENDPOINT}

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {**one, **labels})

    assert value("stproxy_apns_probe_success") == 0
    assert [value("stproxy_apns_probe_result", result=r) for r in RESULTS] == [
        int(r == "certificate_rejected") for r in RESULTS
    ]
    assert value("stproxy_apns_probes_total", result="certificate_rejected") == 1
    assert value("stproxy_apns_probe_duration_seconds") == 0.25
    assert value("stproxy_apns_probe_last_run_timestamp_seconds") == 1_800_000_000.0
    assert value("stproxy_apns_probe_server_certificate_not_after_timestamp_seconds") == 1.9e9
    assert value("stproxy_apns_probe_result_streak") == 1
    assert value("stproxy_apns_probe_interval_seconds") == 3600


def test_no_probe_configured_no_families() -> None:
    """Without a probe section the collector gives nothing."""
    registry = registry_for(None)
    assert list(registry.collect()) == []
