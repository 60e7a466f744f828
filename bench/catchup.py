"""Catch-up benchmark: scan, the daemon and peers on one realistic log, side by side.

    python bench/catchup.py [--size 1G] [--repeat 3] [--log PATH] [--skip TOOL]

Generates (once, cached under bench/data/) a realistic SystemOut.log with bench/genlog.py, warms
the page cache, then runs, in one process tree and one run: `grep -F -c CLFRX0079W`, `wc -l`,
`stproxy-monitor scan`, the daemon catching up on the file (started, polled on /metrics until it
has read every byte), scan with the numpy kernel (what an install without a C compiler runs)
and, when installed, Debian's mtail with an equivalent program (one-shot).
Every tool's count is checked against the generator's ground truth; it prints wall time (best of
--repeat, the tools taking turns), MB/s, the ratio to grep and peak RSS (wait4 of each child).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from genlog import generate, parse_size  # noqa: E402

MTAIL_PROGRAM = r"""
counter apns_failures
/CLFRX0079W/ {
  apns_failures++
}
"""


DEADLINE = float(
    os.environ.get("BENCH_DEADLINE", "300")
)  # seconds one tool may take before it is reported as timed out


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a command; wall seconds, peak RSS (KiB) and stdout ("timeout" past DEADLINE)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out_file:
        proc = subprocess.Popen(
            argv,
            stdout=out_file,
            stderr=subprocess.DEVNULL,
            env=None if env is None else {**os.environ, **env},
        )
        timer = threading.Timer(DEADLINE, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        out_file.seek(0)
        out = out_file.read().decode(errors="replace")
    if time.perf_counter() - start >= DEADLINE:
        out = "timeout"
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss, out


def free_port() -> int:
    """A port free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """name{labels} -> value of the daemon's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def daemon_catchup(log: Path, size: int) -> tuple[float, int, str]:
    """Start the daemon on `log`; time until it has read every byte and counted the records."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stproxy_monitor",
            "run",
            "--log",
            str(log),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key = f'stproxy_monitor_bytes_read_total{{path="{log}"}}'
    failures = "timeout"
    wall = DEADLINE
    deadline = time.perf_counter() + DEADLINE
    try:
        while time.perf_counter() < deadline:
            try:
                values = scrape(port)
            except OSError:
                time.sleep(0.01)
                continue
            if values.get(key, 0) >= size:
                wall = time.perf_counter() - start
                failures = str(
                    int(
                        sum(
                            v
                            for k, v in values.items()
                            if k.startswith("stproxy_apns_connection_failures_total")
                        )
                    )
                )
                break
            # 20 scrapes a second, the scrape benchmark's rate: each one costs the daemon CPU
            # (at 100/s the polling itself slowed the catch-up it measures).
            time.sleep(0.05)
        rss = 0
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return wall, rss, failures


def scan_count(out: str) -> str:
    """Total CLFRX0079W in scan's JSON output."""
    if out == "timeout":
        return out
    samples = json.loads(out)
    return str(
        int(
            sum(
                s["value"] for s in samples if s["name"] == "stproxy_apns_connection_failures_total"
            )
        )
    )


def main() -> None:
    """Run every tool, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--log", type=Path)
    parser.add_argument(
        "--skip", action="append", default=[], help="leave out a tool (e.g. --skip mtail)"
    )
    args = parser.parse_args()
    log = (args.log or HERE / "data" / f"catchup-{args.size}.log").resolve()
    truth_path = Path(f"{log}.truth.json")
    if not truth_path.exists():
        log.parent.mkdir(parents=True, exist_ok=True)
        truth = generate(log, parse_size(args.size), crlf=True, cp1252=True, seed=1)
        truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    truth = json.loads(truth_path.read_text())
    size = log.stat().st_size
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # hot page cache
    tools: dict[str, tuple[object, str]] = {
        "grep -F -c": (
            lambda: run_child(["grep", "-F", "-c", "CLFRX0079W", str(log)]),
            "lines with CLFRX0079W",
        ),
        "wc -l": (lambda: run_child(["wc", "-l", str(log)]), "lines"),
        "stproxy-monitor scan": (
            lambda: run_child(
                [sys.executable, "-m", "stproxy_monitor", "scan", "--format", "json", str(log)]
            ),
            "failures",
        ),
        "daemon catch-up": (lambda: daemon_catchup(log, size), "failures"),
        # Where the C kernel could not be built (no compiler): the same scan with numpy.
        "scan, numpy kernel": (
            lambda: run_child(
                [sys.executable, "-m", "stproxy_monitor", "scan", "--format", "json", str(log)],
                env={"STPROXY_MONITOR_KERNEL": "numpy"},
            ),
            "failures",
        ),
    }
    mtail_dir = None
    if shutil.which("mtail"):
        mtail_dir = tempfile.mkdtemp()
        Path(mtail_dir, "apns.mtail").write_text(MTAIL_PROGRAM)
        tools["mtail (one-shot)"] = (
            lambda: run_child(
                [
                    "mtail",
                    "-one_shot",
                    "-one_shot_format",
                    "prometheus",
                    "-progs",
                    mtail_dir,
                    "-logs",
                    str(log),
                ]
            ),
            "failures",
        )
    expected = {
        "lines with CLFRX0079W": truth["failures_total"],
        "lines": truth["lines"],
        "failures": truth["failures_total"],
    }
    tools = {
        name: tool
        for name, tool in tools.items()
        if not any(name.startswith(skip) for skip in args.skip)
    }
    # Interleaved rounds (every tool once per round): a load that comes and goes on the
    # machine touches every tool alike; the best of the rounds is reported.
    rounds: dict[str, list[tuple[float, int, str]]] = {name: [] for name in tools}
    for _ in range(args.repeat):
        for name, (func, _kind) in tools.items():
            rounds[name].append(func())  # type: ignore[operator]
    results = {}
    for name, (_func, kind) in tools.items():
        runs = rounds[name]
        wall = min(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        out = runs[0][2]
        count = {
            "grep -F -c": lambda o: o.strip(),
            "wc -l": lambda o: o.split()[0],
            "stproxy-monitor scan": scan_count,
            "daemon catch-up": lambda o: o,
            "scan, numpy kernel": scan_count,
            "mtail (one-shot)": lambda o: next(
                (ln.split()[-1] for ln in o.splitlines() if ln.startswith("apns_failures")), "?"
            ),
        }[name](out)
        results[name] = (wall, rss, count, kind)
    grep_wall = results["grep -F -c"][0]
    print(
        f"log: {log} ({size / 1e6:.0f} MB, {truth['lines']} lines, {truth['failures_total']} CLFRX0079W, {truth['encoding']}, crlf={truth['crlf']})"
    )
    print(
        f"{'tool':24s} {'wall s':>8s} {'MB/s':>8s} {'x grep':>7s} {'peak RSS MiB':>13s}  count (expected)"
    )
    for name, (wall, rss, count, kind) in results.items():
        ok = "ok" if str(count).split(".")[0] == str(expected[kind]) else "MISMATCH"
        print(
            f"{name:24s} {wall:8.3f} {size / wall / 1e6:8.0f} {wall / grep_wall:7.1f} {rss / 1024:13.1f}  {count} ({expected[kind]} {kind}) {ok}"
        )
    if mtail_dir:
        shutil.rmtree(mtail_dir)


if __name__ == "__main__":
    main()
