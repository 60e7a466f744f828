"""Live tail latency: from a record's append to its effect on /metrics.

    python bench/live_latency.py [--records 200] [--poll-interval 1.0]

Runs the real daemon twice on a fresh SystemOut.log: with watchdog events, and with events off
(`file_events: false`, as where events are lost), so that only the periodic stat finds the data.
For each record: append one CLFRX0079W (reason on its first line, so it is counted without
waiting for continuation lines), then scrape /metrics in a tight loop until the counter moves.
Prints p50, p99 and max in milliseconds (the scrape itself is included).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from daemonbench import daemon, free_port, percentile, sample, scrape_text

RECORD = (
    "[11/29/26 10:00:00:000 UTC] 0000004e APNSService   W   CLFRX0079W: Unable to establish "
    "an SSL connection to the APNS service Connection refused: connect\n"
)
KEY = 'stproxy_apns_connection_failures_total{reason="connection_refused"'


def measure(records: int, *, events: bool, poll_interval: float) -> list[float]:
    """Latencies in ms of `records` appends."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp, "STProxyServer", "SystemOut.log")
        log.parent.mkdir()
        log.write_text(
            "[11/29/26 9:59:59:000 UTC] 00000001 WsServerImpl  A   WSVR0001I: Server STProxyServer open for e-business\n"
        )
        port = free_port()
        config = Path(tmp, "config.yml")
        config.write_text(
            f"listen: 127.0.0.1:{port}\nfile_events: {str(events).lower()}\n"
            f"poll_interval: {poll_interval}\nlogs: [{log}]\n"
        )
        rng = random.Random(1)
        latencies = []
        with daemon(config, port):
            for count in range(1, records + 1):
                time.sleep(rng.uniform(0.005, 0.05 if events else poll_interval))
                start = time.perf_counter()
                with log.open("a") as handle:
                    handle.write(RECORD)
                while sample(scrape_text(port), KEY) < count:
                    time.sleep(0.0005)
                latencies.append((time.perf_counter() - start) * 1000)
        return latencies


def main() -> None:
    """Both modes, one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()
    print(f"{'mode':28s} {'n':>5s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    for events in (True, False):
        lat = measure(
            args.records if events else max(20, args.records // 10),
            events=events,
            poll_interval=args.poll_interval,
        )
        name = "watchdog events" if events else f"events off (stat {args.poll_interval:g} s)"
        print(
            f"{name:28s} {len(lat):5d} {percentile(lat, 0.5):8.1f} {percentile(lat, 0.99):8.1f} {max(lat):8.1f}"
        )


if __name__ == "__main__":
    main()
