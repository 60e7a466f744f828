"""Bursts of WebSphere rotations against the real daemon, on a busy machine (issue 12).

    python bench/rotation_burst.py [--runs 50] [--rotations 3 | 2-5] [--neighbours 1] [--seed 1]

Each run starts a fresh daemon (`python -m stproxy_monitor run`, default poll interval and
settle time, as a new user runs it) on one SystemOut.log holding a header and 100 records, waits
until it has read them, then rotates back to back, with no pause: append 150 records (one write
each), write the first 40 bytes of a CLFRX0079W record, rename to SystemOut_yy.MM.dd_HH.mm.ss.log,
write the rest of that record into the new SystemOut.log, append 100 records; --rotations times
(a range A-B: a number drawn for each run).
Meanwhile --neighbours processes spin on the CPU. When the daemon has read to the end of the new
file and its count has not moved for two seconds, the scraped
stproxy_apns_connection_failures_total must equal the failures written, and the daemon's event
log must name each failure (by its record time) exactly once.

The run prints one line per run and the figure: exact runs of all runs.
tests/logs/test_rotation_stress.py runs a few repetitions of the same.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
import soak

FAILURE_SHARE = 0.11
SPLIT_AT = 40
QUIET_SECONDS = 2.0
SPIN = "while True: pass"


@dataclass
class BurstResult:
    """One run: what was written and what the daemon counted."""

    written: int = 0
    scraped: int = 0
    events: Counter[tuple[int, str]] = field(default_factory=Counter)
    wrote: Counter[tuple[int, str]] = field(default_factory=Counter)
    rotations: int = 0
    seconds: float = 0.0

    @property
    def doubled(self) -> int:
        """Failures the event log names more often than they were written."""
        return sum((self.events - self.wrote).values())

    @property
    def missed(self) -> int:
        """Failures written that the event log does not name."""
        return sum((self.wrote - self.events).values())

    @property
    def exact(self) -> bool:
        """Count and event log both right."""
        return self.scraped == self.written and self.doubled == 0 and self.missed == 0


class BurstWriter:
    """Writes records one write() each, as a JVM flushing every record does."""

    def __init__(self, directory: Path, seed: int) -> None:
        self.dir = directory
        self.path = directory / "SystemOut.log"
        self.rng = random.Random(seed)
        self.maker = soak.RecordMaker(self.rng)
        self.handle: BinaryIO | None = None
        self.wrote: Counter[tuple[int, str]] = Counter()
        self.rotations = 0

    def open(self, head: str = "") -> None:
        """Open SystemOut.log for appending (creating it), and write its first bytes."""
        self.handle = open(self.path, "ab", buffering=0)  # noqa: SIM115 - held across writes
        if head:
            self.write(head)

    def write(self, text: str) -> None:
        """One unbuffered write."""
        assert self.handle is not None
        self.handle.write(text.encode("utf-8"))

    def _book(self, reason: str) -> None:
        millis = (self.maker.now - soak.EPOCH) // timedelta(milliseconds=1)
        self.wrote[millis, reason] += 1

    def records(self, count: int) -> None:
        """`count` records, about FAILURE_SHARE of them CLFRX0079W (both layouts)."""
        for _ in range(count):
            if self.rng.random() < FAILURE_SHARE:
                first, rest, reason = self.maker.failure()
                self._book(reason)
                self.write(first + rest)
            else:
                self.write(self.maker.ordinary())

    def rotation(self) -> None:
        """150 records, 40 bytes of a failure, rename, the rest in the new file, 100 records."""
        self.records(150)
        first, rest, reason = self.maker.failure(trace=True)
        self._book(reason)
        record = (first + rest).encode("utf-8")
        assert self.handle is not None
        self.handle.write(record[:SPLIT_AT])
        self.handle.close()
        self.maker.now += timedelta(seconds=1)
        os.rename(self.path, self.dir / f"SystemOut_{self.maker.now:%y.%m.%d_%H.%M.%S}.log")
        self.rotations += 1
        self.handle = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self.handle.write(record[SPLIT_AT:])
        self.records(100)

    def close(self) -> None:
        """Close the live file."""
        if self.handle is not None:
            self.handle.close()


def _failures(url: str) -> int | None:
    """stproxy_apns_connection_failures_total over every label, None when unreachable."""
    status, text = soak.http_get(url + "/metrics")
    if status != 200:
        return None
    samples = soak.parse_samples(text)
    return int(sum(v for _labels, v in samples.get(soak.FAILURES, [])))


def _caught_up(url: str, path: Path) -> bool:
    """The daemon has read the live file to its end."""
    facts = soak.daemon_file_facts(url, str(path))
    return facts is not None and facts[0] == facts[1] == path.stat().st_size


def settle(url: str, path: Path, *, timeout: float = 60.0) -> int:
    """The count once the daemon is at the end and it has not moved for QUIET_SECONDS."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        count = _failures(url) if _caught_up(url, path) else None
        if count is None or count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= QUIET_SECONDS:
            return count
        time.sleep(0.05)
    raise TimeoutError(f"the daemon did not settle on {path}")


def run_once(workdir: Path, *, seed: int, rotations: int = 3) -> BurstResult:
    """One daemon life: the initial records, the burst, the counts."""
    begun = time.monotonic()
    logdir = workdir / "STProxyServer"
    logdir.mkdir(parents=True)
    writer = BurstWriter(logdir, seed)
    writer.open(writer.maker.environment())
    writer.records(100)
    port = soak.free_port()
    config = workdir / "stproxy-monitor.yml"
    config.write_text(
        json.dumps({"listen": f"127.0.0.1:{port}", "logs": [{"path": str(writer.path)}]})
    )
    daemon = soak.Daemon(config, port, workdir)
    result = BurstResult()
    try:
        daemon.start()
        daemon.wait_ready()
        settle(daemon.url, writer.path)
        for _ in range(rotations):
            writer.rotation()
        writer.close()
        result.scraped = settle(daemon.url, writer.path)
    finally:
        writer.close()
        daemon.close()
    result.wrote = writer.wrote
    result.written = sum(writer.wrote.values())
    result.events = daemon.events(1)
    result.rotations = writer.rotations
    result.seconds = time.monotonic() - begun
    return result


def neighbours(count: int) -> list[subprocess.Popen[bytes]]:
    """CPU-bound processes that keep the machine busy."""
    return [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(count)]


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Kill the processes this script started, each by its own handle."""
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """Run the burst --runs times and print the figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rotations", default="3", help="rotations a burst: N or A-B")
    parser.add_argument("--neighbours", type=int, default=1, help="CPU-bound processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args(argv)
    low, _, high = args.rotations.partition("-")
    draw = random.Random(args.seed)
    busy = neighbours(args.neighbours)
    exact = 0
    try:
        for run in range(args.runs):
            workdir = Path(tempfile.mkdtemp(prefix="stproxy-burst-"))
            rotations = draw.randint(int(low), int(high or low))
            result = run_once(workdir, seed=args.seed + run, rotations=rotations)
            exact += result.exact
            print(
                f"run {run + 1:3d}: written {result.written:4d}  scraped {result.scraped:4d}  "
                f"doubled {result.doubled:3d}  missed {result.missed:3d}  "
                f"rotations {result.rotations}  "
                f"{'exact' if result.exact else 'WRONG'}  ({result.seconds:.1f} s)"
                + (f"  {workdir}" if args.keep or not result.exact else ""),
                flush=True,
            )
            if not args.keep and result.exact:
                for item in sorted(workdir.rglob("*"), reverse=True):
                    item.rmdir() if item.is_dir() else item.unlink()
                workdir.rmdir()
    finally:
        stop_all(busy)
    print(
        f"exact runs: {exact} of {args.runs} ({args.rotations} rotations a burst, "
        f"{args.neighbours} CPU-bound neighbour(s))"
    )
    return 0 if exact == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
