"""Tests for metrics.exposition: sections reused only while their inputs stay the same.

Every rendering is compared byte for byte with prometheus_client's rendering of a registry that
caches nothing (a fresh collector over the same state and a fresh certificate monitor), after
each change a scrape must show: a record appended, a certificate replaced or removed, a node copy
resynchronized, the clock moving on.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import time
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from support import (
    HTTP,
    CertTree,
    Clock,
    Records,
    Samples,
    append,
    free_port,
    parse_samples,
    readiness,
    spawn_daemon,
    stop_process,
    wait_until,
)

from stproxy_monitor.certs.monitor import CertificateMonitor
from stproxy_monitor.commands.run import Service
from stproxy_monitor.config import CertificateConfig, Config, LogConfig, ProfileConfig
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.metrics.collector import MonitorCollector
from stproxy_monitor.metrics.exposition import Exposition, Section, SectionRegistry

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
ACCEPTS = ["", OPENMETRICS, "text/plain;version=1.0.0;escaping=underscores"]
EXPIRY = "stproxy_apns_certificate_expiry_days"


# -- the renderer on its own --------------------------------------------------------------------


class Counted(Collector):
    """A collector in sections whose families count how often they are built."""

    def __init__(self) -> None:
        self.key: object = object()
        self.value = 1.0
        self.built = {"keyed": 0, "fresh": 0}

    def collect(self) -> Iterator[Metric]:
        for section in self.sections():
            yield from section.families()

    def sections(self) -> list[Section]:
        value = self.value
        return [
            Section(name="keyed", key=self.key, families=lambda: self._family("keyed", value)),
            Section(name="empty", key=self.key, families=list),
            Section(name="fresh", key=None, families=lambda: self._family("fresh", value)),
        ]

    def _family(self, name: str, value: float) -> list[Metric]:
        self.built[name] += 1
        family = CounterMetricFamily(f"test_{name}", f"A {name} counter.", labels=["path"])
        family.add_metric(['C:\\logs\\"quoted"\nnext'], value)
        return [family]


class Plain(Collector):
    """A collector without sections: rendered on every scrape."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("test_plain", "A plain gauge.", value=0.5)


def test_a_keyed_section_is_rendered_again_only_for_a_new_key() -> None:
    """The same key object reuses the bytes (even when the value behind it moved); a new one not."""
    registry = SectionRegistry()
    counted = Counted()
    registry.register(counted)
    exposition = Exposition(registry)
    first, _ = exposition.render("", gzip=False)
    counted.value = 2.0  # a key that does not change although its input did: the maker's bug
    exposition.render("", gzip=True)
    assert counted.built == {"keyed": 1, "fresh": 2}
    assert b"test_keyed_total" in first
    counted.key = object()
    body, _ = exposition.render("", gzip=False)
    assert counted.built == {"keyed": 2, "fresh": 3}
    assert b'test_keyed_total{path="C:\\\\logs\\\\\\"quoted\\"\\nnext"} 2.0' in body


@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_format_is_byte_for_byte_prometheus_clients(accept: str) -> None:
    """Body and content type are what prometheus_client gives for the registry; gzip is one
    member that inflates to the same body."""
    registry = SectionRegistry()
    counted = Counted()
    registry.register(counted)
    registry.register(Plain())
    exposition = Exposition(registry)
    encoder, content_type = choose_encoder(accept)
    for _ in range(2):
        body, served_type = exposition.render(accept, gzip=False)
        assert served_type == content_type
        assert body == encoder(registry)
        assert_one_gzip_member(exposition.render(accept, gzip=True)[0], body)


class Valued(Collector):
    """A keyed section whose sample values change on every scrape (like expiry days)."""

    def __init__(self, values: list[float], *, given: int | None = None) -> None:
        self.key = object()
        self.values = values
        self.given = given  # how many values the section claims (a wrong count: no template)
        self.built = 0

    def collect(self) -> Iterator[Metric]:
        for section in self.sections():
            yield from section.families()

    def sections(self) -> list[Section]:
        values = list(self.values)
        given = values[: self.given] if self.given is not None else values
        return [
            Section(
                name="valued",
                key=self.key,
                families=lambda: self._families(values),
                values=lambda: given,
            )
        ]

    def _families(self, values: list[float]) -> list[Metric]:
        self.built += 1
        family = GaugeMetricFamily("test_days", "Days.", labels=["path", "serial"])
        info = GaugeMetricFamily("test_info", "No samples.", labels=["path"])
        for index, value in enumerate(values):
            family.add_metric([f"C:\\Program Files\\{index} x", '"1" 2'], value)
        return [family, info]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_values_are_filled_into_the_rendering_kept_for_the_key(accept: str) -> None:
    """New values under the same key: built once, each body exactly prometheus_client's."""
    registry = SectionRegistry()
    valued = Valued([1.5, -0.25, 1e21])
    registry.register(valued)
    exposition = Exposition(registry)
    encoder = choose_encoder(accept)[0]
    for values in ([1.5, -0.25, 1e21], [0.1 + 0.2, float("inf"), -3.0], [7.0, 1e-7, float("nan")]):
        valued.values = values
        body, _ = exposition.render(accept, gzip=False)
        assert body == encoder(registry)
        assert_one_gzip_member(exposition.render(accept, gzip=True)[0], body)
    assert valued.built == 1 + 3  # the template, then one per encoder(registry) above


@pytest.mark.parametrize("given_first", [1, None])
def test_values_that_do_not_fit_the_samples_render_the_section_in_full(
    given_first: int | None,
) -> None:
    """Values that do not match the samples, from the first scrape or later under the same key:
    the section is rendered in full."""
    registry = SectionRegistry()
    valued = Valued([1.0, 2.0], given=given_first)
    registry.register(valued)
    exposition = Exposition(registry)
    exposition.render("", gzip=False)
    valued.given = 1
    valued.values = [3.0, 4.0]
    body, _ = exposition.render("", gzip=False)
    assert body == choose_encoder("")[0](registry)
    assert b"} 3.0\n" in body
    assert b"} 4.0\n" in body
    assert valued.built == 3


def test_a_plain_registry_is_rendered_whole() -> None:
    """Without sections, the registry is rendered on every scrape, as before."""
    registry = CollectorRegistry()
    registry.register(Counted())
    exposition = Exposition(registry)
    body, _ = exposition.render(OPENMETRICS, gzip=True)
    assert gzip.decompress(body) == choose_encoder(OPENMETRICS)[0](registry)


def assert_one_gzip_member(compressed: bytes, body: bytes) -> None:
    """`compressed` is a single gzip member (a reader that stops after one sees it all)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    assert inflater.decompress(compressed) == body
    assert inflater.eof
    assert inflater.unused_data == b""


# -- the daemon's renderer over real files, in process -----------------------------------------


def write_pem(path: Path, serial: int, not_after: datetime) -> None:
    """A self-signed PEM certificate with this serial and end of validity (replaced atomically)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {serial}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(temporary, path)


class InProcess:
    """A Service that is not started: the test polls the logs and scrapes by hand."""

    def __init__(self, tmp_path: Path, manifest: dict[str, Any]) -> None:
        self.clock = Clock(manifest["now"])
        self.log = tmp_path / "logs" / "STProxyServer" / "SystemOut.log"
        self.log.parent.mkdir(parents=True)
        self.records = Records()
        self.log.write_bytes(self.records.header() + self.records.info())
        self.pems = tmp_path / "pem"
        self.pems.mkdir()
        write_pem(self.pems / "a.pem", 0xA1, datetime.now(UTC) + timedelta(days=40))
        write_pem(self.pems / "b.pem", 0xB1, datetime.now(UTC) + timedelta(days=50))
        password = manifest["files"]["dmgr_node1"]["password_file"]
        valid = manifest["files"]["valid"]
        self.config = Config(
            listen="127.0.0.1:0",
            logs=(LogConfig(path=str(self.log)),),
            certificates=(
                CertificateConfig(path=valid["path"], password_file=valid["password_file"]),
                CertificateConfig(path=str(self.pems / "*.pem")),
            ),
            profiles=tuple(
                ProfileConfig(path=path, password_file=password)
                for path in manifest["profiles"].values()
            ),
        )
        self.broken = False
        self.service = Service(self.config, reload_config=self._reload_config, clock=self.clock)
        self.service.watcher.poll_all()

    def _reload_config(self) -> Config:
        """The configuration, or ConfigError while the test says the file is broken."""
        if self.broken:
            raise ConfigError(["config.yml: broken for the test"])
        return self.config

    def uncached(self, accept: str) -> bytes:
        """What a collector and a certificate monitor with no history render now."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            MonitorCollector(
                self.service.state,
                clock=self.clock,
                certificates=CertificateMonitor(self.config.certificates, self.config.profiles),
                reload_status=self.service.reload_status,
                watcher_alive=self.service.watcher.observer_alive,
                positions=lambda: self.service.positions,
            )
        )
        registry.register(self.service.http.stats)
        return choose_encoder(accept)[0](registry)

    def scrape(self) -> Samples:
        """One scrape in every format, each checked against the uncached rendering."""
        exposition = self.service.http.exposition
        for accept in ACCEPTS:
            body, _ = exposition.render(accept, gzip=False)
            assert body == self.uncached(accept)
            assert body == choose_encoder(accept)[0](self.service.registry)
            assert_one_gzip_member(exposition.render(accept, gzip=True)[0], body)
        return parse_samples(exposition.render("", gzip=False)[0].decode())

    def close(self) -> None:
        self.service.http.server_close()


@pytest.fixture
def inprocess(tmp_path: Path, cert_tree: CertTree) -> Iterator[InProcess]:
    """The daemon's pieces over a log, two PEM files, a PKCS#12 file and a fixture cell."""
    daemon = InProcess(tmp_path, cert_tree(datetime.now(UTC)))
    yield daemon
    daemon.close()


def values(samples: Samples, name: str, **labels: str) -> list[float]:
    """Values of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [v for (n, have), v in samples.items() if n == name and wanted <= set(have)]


def serials(samples: Samples) -> set[str]:
    """Serials of the file certificates exported."""
    return {
        dict(labels)["serial"]
        for name, labels in samples
        if name == "stproxy_apns_certificate_not_after_timestamp_seconds"
    }


def test_nothing_changed_gives_the_same_keys(inprocess: InProcess) -> None:
    """Two scrapes with no change in between give every section the same key object."""
    first = inprocess.service.registry.sections()
    inprocess.service.watcher.poll_all()
    second = inprocess.service.registry.sections()
    assert [section.name for section in first] == [
        "servers",
        "certificate_validity",
        "certificate_expiry",
        "certificate_info",
        "certificate_files",
        "cells",
        "restart_pending",
        "truststores",
        "files",
        "self",
        "http_refused",
    ]
    assert all(a.key is not None and a.key is b.key for a, b in zip(first, second, strict=True))


def test_an_appended_record_shows_at_the_next_scrape(inprocess: InProcess) -> None:
    """A CLFRX0079W appended and read is counted by the very next scrape."""
    failures, records = (
        "stproxy_apns_connection_failures_total",
        "stproxy_monitor_records_read_total",
    )
    before = inprocess.scrape()
    assert values(before, failures, reason="timed_out") == [0.0]
    append(inprocess.log, inprocess.records.failure("timed_out"))
    inprocess.service.watcher.poll_all()
    inprocess.clock.now += 2  # past settle_seconds: the record at the end is complete
    inprocess.service.watcher.poll_all()
    after = inprocess.scrape()
    assert values(after, failures, reason="timed_out") == [1.0]
    assert values(after, records) == [values(before, records)[0] + 1]


def test_a_replaced_or_removed_certificate_shows_at_the_next_scrape(inprocess: InProcess) -> None:
    """The new serial replaces the old one in the next scrape, and a removed file is gone."""
    assert {"a1", "b1"} <= serials(inprocess.scrape())
    write_pem(inprocess.pems / "a.pem", 0xA2, datetime.now(UTC) + timedelta(days=400))
    samples = inprocess.scrape()
    assert "a2" in serials(samples)
    assert "a1" not in serials(samples)
    (inprocess.pems / "b.pem").unlink()
    samples = inprocess.scrape()
    assert "b1" not in serials(samples)
    assert not values(
        samples, "stproxy_apns_certificate_read_ok", path=str(inprocess.pems / "b.pem")
    )


def test_a_reload_shows_the_new_certificate_list_at_the_next_scrape(inprocess: InProcess) -> None:
    """A reload naming only the PEM files: the next scrape and the landing page show them alone."""
    assert len(serials(inprocess.scrape())) > 2
    pem = str(inprocess.pems / "a.pem")
    pkcs12 = inprocess.config.certificates[0].path
    assert f"data-path='{pkcs12}'" in inprocess.service.http.endpoints.landing()
    inprocess.config = dataclasses.replace(
        inprocess.config,
        certificates=(CertificateConfig(path=str(inprocess.pems / "*.pem")),),
        profiles=(),
    )
    assert inprocess.service.reload() == (True, "reloaded")
    samples = inprocess.scrape()
    assert serials(samples) == {"a1", "b1"}
    [days] = values(samples, EXPIRY, source="file", path=pem)
    landing = inprocess.service.http.endpoints.landing()
    row = landing.split(f"data-path='{pem}'", 1)[1].split("</tr>", 1)[0]
    assert "Apple Push Services: 161" in row
    assert f">{days:.1f}</td>" in row
    assert f"data-path='{pkcs12}'" not in landing


def test_a_resynchronized_node_copy_shows_at_the_next_scrape(
    inprocess: InProcess, tmp_path: Path
) -> None:
    """Copying the dmgr's master over node 2's copy clears its sync_pending."""
    pending = "stproxy_apns_certificate_sync_pending"
    assert values(inprocess.scrape(), pending, node="stproxyNode2") == [1.0]
    profiles = tmp_path / "certfixtures" / "websphere" / "profiles"
    node2 = Path("config", "cells", "stproxyCell", "nodes", "stproxyNode2", "apns-prod.pkcs12")
    shutil.copyfile(profiles / "Dmgr01" / node2, profiles / "STPAppProfile2" / node2)
    assert values(inprocess.scrape(), pending, node="stproxyNode2") == [0.0]


def test_self_metrics_show_at_the_next_scrape(inprocess: InProcess) -> None:
    """A failed reload and a refused request are in the very next scrape."""
    ok = "stproxy_monitor_config_last_reload_successful"
    refused = "stproxy_monitor_http_refused_total"
    before = inprocess.scrape()
    assert values(before, ok) == [1.0]
    assert values(before, refused, reason="bad_request") == [0.0]
    inprocess.broken = True
    assert inprocess.service.reload()[0] is False
    assert values(inprocess.scrape(), ok) == [0.0]
    inprocess.service.http.stats.refuse("bad_request")
    assert values(inprocess.scrape(), refused, reason="bad_request") == [1.0]
    inprocess.broken = False
    inprocess.clock.now += 10
    assert inprocess.service.reload()[0] is True
    after = inprocess.scrape()
    assert values(after, ok) == [1.0]
    assert values(after, ok.replace("successful", "success_timestamp_seconds")) == [
        inprocess.clock.now
    ]


def test_expiry_days_follow_the_clock(inprocess: InProcess) -> None:
    """A day later every certificate has exactly one day less, the rest of the body unchanged."""
    before = inprocess.scrape()
    inprocess.clock.now += 86400
    after = inprocess.scrape()
    expiry = {k: v for k, v in before.items() if k[0] == EXPIRY}
    assert len(expiry) >= 4
    for key, days in expiry.items():
        not_after = after[("stproxy_apns_certificate_not_after_timestamp_seconds", key[1])]
        assert after[key] == (not_after - inprocess.clock.now) / 86400.0
        assert after[key] == pytest.approx(days - 1.0)
    assert {k: v for k, v in after.items() if k[0] != EXPIRY} == {
        k: v for k, v in before.items() if k[0] != EXPIRY
    }


# -- the real daemon ------------------------------------------------------------------------


def scrape_raw(port: int, accept: str, *, gzipped: bool) -> bytes:
    """The /metrics body as served (inflated when asked for gzip)."""
    headers = {"Accept": accept, **({"Accept-Encoding": "gzip"} if gzipped else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    with HTTP.open(request, timeout=10) as response:
        assert response.headers.get("Content-Encoding") == ("gzip" if gzipped else None)
        body: bytes = response.read()
    if gzipped:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        body, rest = inflater.decompress(body), inflater.unused_data
        assert inflater.eof and rest == b""
    return body


@pytest.mark.e2e
def test_the_daemon_serves_changes_at_the_next_scrape(tmp_path: Path) -> None:
    """Through HTTP (text, OpenMetrics, gzip): a replaced certificate at the next scrape, a new
    record once read, and expiry days computed at each scrape's time."""
    pems = tmp_path / "pem"
    pems.mkdir()
    write_pem(pems / "a.pem", 0xA1, datetime.now(UTC) + timedelta(days=40))
    log = tmp_path / "STProxyServer" / "SystemOut.log"
    log.parent.mkdir()
    records = Records()
    log.write_bytes(records.header() + records.info())
    port = free_port()
    process = spawn_daemon(
        *("--log", str(log), "--cert", str(pems / "*.pem"), "--listen", f"127.0.0.1:{port}"),
        stderr=tmp_path / "daemon.log",
    )
    try:
        assert wait_until(lambda: readiness(process, port), what="ready") == "ready"
        for accept in ACCEPTS:
            for gzipped in (False, True):
                scrape_raw(port, accept, gzipped=gzipped)  # fill every cache
        write_pem(pems / "a.pem", 0xA2, datetime.now(UTC) + timedelta(days=400))
        for accept in ACCEPTS:
            for gzipped in (False, True):
                started = time.time()
                text = scrape_raw(port, accept, gzipped=gzipped).decode()
                ended = time.time()
                assert 'serial="a2"' in text
                assert 'serial="a1"' not in text
                assert_expiry_between(text, started, ended)
        append(log, records.failure("handshake_failed"))
        wait_until(
            lambda: (
                'reason="handshake_failed",server="STProxyServer"} 1.0'
                in scrape_raw(port, OPENMETRICS, gzipped=True).decode()
            ),
            what="the failure in a gzip'd OpenMetrics scrape",
        )
        assert (
            'reason="handshake_failed",server="STProxyServer"} 1.0'
            in scrape_raw(port, "", gzipped=False).decode()
        )
    finally:
        stop_process(process)


def assert_expiry_between(text: str, started: float, ended: float) -> None:
    """Each expiry_days is (not_after - t) / 86400 for a t within the scrape."""
    lines = text.splitlines()
    ends = {
        line.split("}")[0].split("{")[1]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("stproxy_apns_certificate_not_after_timestamp_seconds{")
    }
    days = {
        line.split("}")[0].split("{")[1]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(EXPIRY + "{")
    }
    assert days.keys() == ends.keys() != set()
    for labels, value in days.items():
        assert (ends[labels] - ended) / 86400 <= value <= (ends[labels] - started) / 86400
