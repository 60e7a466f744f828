"""Scrape cost: /metrics with 50 certificates and 20 servers, at 20 scrapes per second.

    python bench/scrape.py [--seconds 30] [--rate 20] [--openmetrics] [--gzip]

Writes 50 PKCS#12 files (one self-signed certificate each, made with cryptography) and 20 logs
whose headers name 20 servers, starts the real daemon on them, then scrapes /metrics --rate times
per second for --seconds over one keep-alive connection and prints p50/p99/max latency, the
size of the exposition and the daemon's CPU time per scrape (user + system, from /proc; it
includes the daemon's idle work, about 1 ms a second). --openmetrics and --gzip ask for what
Prometheus asks for (Accept: OpenMetrics, Accept-Encoding: gzip); the default is plain text.
Between scrapes it times a fixed ~2 ms of CPU work in its own process and prints its p99: the
machine's own noise under the same conditions (on a shared VM it can exceed a scrape's p99),
and the latencies of the scrapes between two undisturbed probes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from daemonbench import cpu_seconds, daemon, free_port, percentile

HEADER = (
    "************ Start Display Current Environment ************\n"
    "WebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with process name "
    "cell\\node{i}\\STProxyServer{i} and process id {i}\n"
    "************* End Display Current Environment *************\n"
    "[11/29/26 10:00:00:000 UTC] 00000001 WsServerImpl  A   WSVR0001I: Server STProxyServer{i} open for e-business\n"
    "[11/29/26 10:00:01:000 UTC] 0000004e APNSService   W   CLFRX0079W: Unable to establish an SSL connection to the APNS service connect timed out\n"
)


def write_certificates(directory: Path, count: int) -> None:
    """`count` unprotected PKCS#12 files with distinct certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    for index in range(count):
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: bench{index}")]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1000 + index)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30 + index))
            .sign(key, hashes.SHA256())
        )
        data = pkcs12.serialize_key_and_certificates(
            b"bench", key, cert, None, serialization.NoEncryption()
        )
        (directory / f"apns-{index:02d}.p12").write_bytes(data)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--openmetrics", action="store_true", help="Accept OpenMetrics")
    parser.add_argument("--gzip", action="store_true", help="Accept-Encoding: gzip")
    args = parser.parse_args()
    headers = {}
    if args.openmetrics:
        headers["Accept"] = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
    if args.gzip:
        headers["Accept-Encoding"] = "gzip"
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp, "certs")
        certs.mkdir()
        write_certificates(certs, 50)
        logs = []
        for index in range(20):
            log = Path(tmp, f"server{index}", "SystemOut.log")
            log.parent.mkdir()
            log.write_text(HEADER.format(i=index))
            logs.append(str(log))
        port = free_port()
        config = Path(tmp, "config.yml")
        config.write_text(
            f"listen: 127.0.0.1:{port}\nlogs: [{', '.join(logs)}]\n"
            f"certificates: [{{path: '{certs}/*.p12'}}]\n"
        )
        with daemon(config, port) as proc:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            latencies, size = [], 0
            cpu_before = cpu_seconds(proc.pid)
            end = time.monotonic() + args.seconds
            next_at = time.monotonic()
            work = calibrate(0.002)
            probes = []
            while time.monotonic() < end:
                start = time.perf_counter()
                conn.request("GET", "/metrics", headers=headers)
                body = conn.getresponse().read()
                latencies.append((time.perf_counter() - start) * 1000)
                size = len(body)
                # The machine's own noise, sampled under the same conditions: a fixed ~2 ms of
                # CPU work in this process, timed the same way.
                start = time.perf_counter()
                spin(work)
                probes.append((time.perf_counter() - start) * 1000)
                next_at += 1 / args.rate
                time.sleep(max(0.0, next_at - time.monotonic()))
            cpu = cpu_seconds(proc.pid) - cpu_before
            conn.close()
    kind = ("OpenMetrics" if args.openmetrics else "text") + (" gzip" if args.gzip else "")
    print(
        f"{len(latencies)} scrapes ({kind}) at {args.rate:g}/s, {size} bytes each: "
        f"p50 {percentile(latencies, 0.5):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms, "
        f"max {max(latencies):.2f} ms; daemon CPU {cpu * 1000 / len(latencies):.2f} ms a scrape"
    )
    print(
        f"machine noise: a fixed {percentile(probes, 0.5):.2f} ms CPU loop, timed alike between the "
        f"scrapes: p99 {percentile(probes, 0.99):.2f} ms, max {max(probes):.2f} ms"
    )
    # Conditioned on the machine: the scrapes whose probes before and after both ran within
    # 1.5x of the probe's median (the first scrape, which reads every certificate, is left out).
    usual = 1.5 * percentile(probes, 0.5)
    quiet = [
        latency
        for index, latency in enumerate(latencies)
        if index > 0 and probes[index - 1] <= usual and probes[index] <= usual
    ]
    if quiet:
        print(
            f"scrapes between two undisturbed probes: {len(quiet)} of {len(latencies)}, "
            f"p50 {percentile(quiet, 0.5):.2f} ms, p99 {percentile(quiet, 0.99):.2f} ms, "
            f"max {max(quiet):.2f} ms"
        )


def spin(count: int) -> int:
    """A fixed amount of pure-Python CPU work."""
    total = 0
    for index in range(count):
        total += index
    return total


def calibrate(seconds: float) -> int:
    """The spin() count that takes about `seconds` here (best of a few tries)."""
    count = 10_000
    best = min(_timed(count) for _ in range(5))
    return max(1, int(count * seconds / best))


def _timed(count: int) -> float:
    start = time.perf_counter()
    spin(count)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
