"""Idle cost: the daemon following 20 logs that nobody writes.

    python bench/idle.py [--files 20] [--seconds 600]

Starts the real daemon (watchdog events on, 1 s stat) on 20 existing SystemOut.log files, lets it
settle for 5 s, then measures its CPU time (utime+stime from /proc) and RSS over --seconds.
Prints CPU as a percentage of one core and the RSS at start and end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from daemonbench import cpu_seconds, daemon, free_port, rss_kib

LINE = "[11/29/26 10:00:00:000 UTC] 00000001 WsServerImpl  A   WSVR0001I: Server {name} open for e-business\n"


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        logs = []
        for index in range(args.files):
            log = Path(tmp, f"STProxyServer{index}", "SystemOut.log")
            log.parent.mkdir()
            log.write_text(LINE.format(name=log.parent.name) * 1000)
            logs.append(str(log))
        port = free_port()
        config = Path(tmp, "config.yml")
        config.write_text(f"listen: 127.0.0.1:{port}\nlogs: [{', '.join(logs)}]\n")
        with daemon(config, port) as proc:
            time.sleep(5)
            cpu0, rss0, t0 = cpu_seconds(proc.pid), rss_kib(proc.pid), time.monotonic()
            time.sleep(args.seconds)
            cpu1, rss1, t1 = cpu_seconds(proc.pid), rss_kib(proc.pid), time.monotonic()
    print(
        f"{args.files} idle files over {t1 - t0:.0f} s: CPU {100 * (cpu1 - cpu0) / (t1 - t0):.3f}% "
        f"of one core; RSS {rss0 / 1024:.1f} MiB -> {rss1 / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    main()
