"""Idle cost: the daemon following 20 logs that nobody writes.

    python bench/idle.py [--files 20] [--seconds 600]

Starts the real daemon (watchdog events on, 1 s stat) on 20 existing SystemOut.log files, lets it
settle for 5 s, then measures its CPU time (utime+stime from /proc) over --seconds and samples its
RSS every --every seconds. Prints CPU as a percentage of one core, the RSS at start, half-time and
end, and the slope of RSS over the second half (a leak shows as a steady slope; warm-up does not).
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
    parser.add_argument("--every", type=float, default=10, help="seconds between RSS samples")
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
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            samples = [(0.0, rss_kib(proc.pid))]  # (seconds, RSS KiB) every --every seconds
            while (now := time.monotonic() - t0) < args.seconds:
                time.sleep(min(args.every, args.seconds - now))
                samples.append((time.monotonic() - t0, rss_kib(proc.pid)))
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
    half = [s for s in samples if s[0] >= args.seconds / 2]
    print(
        f"{args.files} idle files over {t1 - t0:.0f} s: CPU {100 * (cpu1 - cpu0) / (t1 - t0):.3f}% "
        f"of one core; RSS {samples[0][1] / 1024:.1f} MiB at start, "
        f"{half[0][1] / 1024:.1f} MiB at {half[0][0]:.0f} s, {samples[-1][1] / 1024:.1f} MiB at end; "
        f"second half slope {slope(half) * 60:.1f} KiB/min, max {max(r for _, r in samples) / 1024:.1f} MiB"
    )


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time (KiB per second)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (r - mean_r) for t, r in points) / var if var else 0.0


if __name__ == "__main__":
    main()
