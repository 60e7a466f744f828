"""Catch-up benchmark: scan, the daemon and peers on realistic logs of every mix, side by side.

    python bench/catchup.py [--size 1G] [--repeat 3] [--mix 60:class ...] [--log PATH] [--skip TOOL]

For each mix (default: the proxy's own CLFRX messages at 2, 30 and 60 % of the records, each in
the class+method, the short and a mixed layout; `legacy` is the earlier bench log), generates
once, cached under bench/data/, a SystemOut.log with bench/genlog.py (CRLF, windows-1252), warms
the page cache, then runs in rounds, the tools taking turns: `grep -F -c CLFRX0079W`, `wc -l`,
`stproxy-monitor scan`, the daemon catching up on the file (started, polled on /metrics until it
has read every byte), scan with the numpy kernel (what an install without a C compiler runs)
and, when installed, Debian's mtail with an equivalent program (one-shot).
Every count is checked against the generator's ground truth (scan and the daemon: failures by
reason, records and CLFRX ids by severity, lines); it prints wall time (best round), MB/s, the
ratio to grep, peak RSS (wait4 of each child) and the load average around each mix, then one
summary table over the mixes.
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
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from genlog import generate, parse_mix, parse_size  # noqa: E402

MTAIL_PROGRAM = r"""
counter apns_failures
/CLFRX0079W/ {
  apns_failures++
}
"""


DEADLINE = float(
    os.environ.get("BENCH_DEADLINE", "300")
)  # seconds one tool may take before it is reported as timed out


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, float]:
    """Run a command; wall seconds, peak RSS (KiB), stdout ("timeout" past DEADLINE) and CPU
    seconds (user + system: what the tool cost, less disturbed by other jobs than its wall)."""
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
    return wall, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime


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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_catchup(log: Path, size: int) -> tuple[float, int, dict[str, float] | str, float]:
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
    seen: dict[str, float] | str = "timeout"
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
                seen = values
                break
            # 20 scrapes a second, the scrape benchmark's rate: each one costs the daemon CPU
            # (at 100/s the polling itself slowed the catch-up it measures).
            time.sleep(0.05)
        rss, cpu = 0, cpu_seconds(proc.pid)
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return wall, rss, seen, cpu


def scan_samples(out: str) -> dict[str, float] | str:
    """name{labels} -> value of scan's JSON output (as the daemon's /metrics keys)."""
    if out == "timeout":
        return out
    try:
        samples = json.loads(out)
    except ValueError:
        return "no output"
    values = {}
    for s in samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s["labels"].items()))
        values[f"{s['name']}{{{labels}}}"] = float(s["value"])
    return values


def _by_label(values: dict[str, float], name: str, label: str) -> dict[str, int]:
    """A metric's samples summed by one label's value, zeros left out."""
    counts: dict[str, int] = {}
    for key, value in values.items():
        if key.startswith(name + "{") and value:
            labels = dict(
                part.split("=", 1) for part in key[len(name) + 1 : -1].split(",") if "=" in part
            )
            at = labels.get(label, "").strip('"')
            counts[at] = counts.get(at, 0) + int(value)
    return counts


def check_metrics(values: dict[str, float] | str, truth: dict[str, object]) -> str:
    """'ok' when every contract count equals the truth, else what differs."""
    if isinstance(values, str):
        return values
    want = {
        "failures by reason": {k: v for k, v in truth["apns_failures"].items() if v},  # type: ignore[union-attr]
        "records by severity": truth["records_by_severity"],
        "CLFRX ids by severity": truth.get("clfrx_by_severity"),
        "lines": {"": truth["lines"]},
    }
    got = {
        "failures by reason": _by_label(values, "stproxy_apns_connection_failures_total", "reason"),
        "records by severity": _by_label(values, "stproxy_log_messages_total", "severity"),
        "CLFRX ids by severity": _by_label(values, "stproxy_clfrx_messages_total", "severity"),
        "lines": {"": sum(_by_label(values, "stproxy_monitor_lines_read_total", "x").values())},
    }
    wrong = [
        f"{what}: {got[what]} != {expected}"
        for what, expected in want.items()
        if expected is not None and got[what] != expected
    ]
    return "ok" if not wrong else "MISMATCH " + "; ".join(wrong)


ALL_MIXES = tuple(
    f"{share}:{layout}" for share in (2, 30, 60) for layout in ("class", "short", "mixed")
)


def prepare(mix: str, size_text: str, log: Path | None) -> tuple[Path, dict[str, object]]:
    """The log of a mix (generated once) and its truth."""
    if log is None:
        name = "catchup" if mix == "legacy" else "mix-" + mix.replace(":", "-")
        log = HERE / "data" / f"{name}-{size_text}.log"
    log = log.resolve()
    truth_path = Path(f"{log}.truth.json")
    if not truth_path.exists():
        log.parent.mkdir(parents=True, exist_ok=True)
        truth = generate(
            log,
            parse_size(size_text),
            crlf=True,
            cp1252=True,
            seed=1,
            mix=None if mix == "legacy" else parse_mix(mix),
        )
        truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return log, json.loads(truth_path.read_text())


def _scan(log: Path, env: dict[str, str] | None = None) -> tuple[float, int, str, float]:
    return run_child(
        [sys.executable, "-m", "stproxy_monitor", "scan", "--format", "json", str(log)], env=env
    )


def tools_for(log: Path, size: int, mtail_dir: str | None) -> dict[str, object]:
    """name -> a function running the tool once: (wall, peak RSS KiB, output)."""
    tools: dict[str, object] = {
        "grep -F -c": lambda: run_child(["grep", "-F", "-c", "CLFRX0079W", str(log)]),
        "wc -l": lambda: run_child(["wc", "-l", str(log)]),
        "stproxy-monitor scan": lambda: _scan(log),
        "daemon catch-up": lambda: daemon_catchup(log, size),
        # Where the C kernel could not be built (no compiler): the same scan with numpy.
        "scan, numpy kernel": lambda: _scan(log, {"STPROXY_MONITOR_KERNEL": "numpy"}),
    }
    if mtail_dir:
        tools["mtail (one-shot)"] = lambda: run_child(
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
        )
    return tools


def check(name: str, out: object, truth: dict[str, object]) -> str:
    """A tool's result against the truth: 'ok', or what differs."""
    if name in ("stproxy-monitor scan", "scan, numpy kernel"):
        return check_metrics(scan_samples(str(out)), truth)
    if name == "daemon catch-up":
        return check_metrics(out, truth)  # type: ignore[arg-type]
    got, want = {
        "grep -F -c": (str(out).strip(), truth["failures_total"]),
        "wc -l": (str(out).split()[0] if str(out).split() else "?", truth["lines"]),
        "mtail (one-shot)": (
            next(
                (ln.split()[-1] for ln in str(out).splitlines() if ln.startswith("apns_failures")),
                "?",
            ).split(".")[0],
            truth["failures_total"],
        ),
    }[name]
    return "ok" if got == str(want) else f"MISMATCH {got} != {want}"


def loadavg() -> str:
    """The 1-minute load average of the machine."""
    return Path("/proc/loadavg").read_text().split()[0]


@dataclass(frozen=True)
class Result:
    """One tool on one log over the rounds."""

    wall: float  # best round
    cpu: float  # user + system seconds of the best round by CPU
    rss: int  # KiB, the largest
    verdict: str  # "ok" when every round's counts were right
    ratio: float  # the median over the rounds of wall / grep's wall in the same round


def run_mix(mix: str, args: argparse.Namespace, mtail_dir: str | None) -> dict[str, object]:
    """Every tool on one mix's log, in rounds; print its table; name -> Result, and the load."""
    log, truth = prepare(mix, args.size, args.log)
    size = log.stat().st_size
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # hot page cache
    tools = {
        name: tool
        for name, tool in tools_for(log, size, mtail_dir).items()
        if not any(name.startswith(skip) for skip in args.skip)
    }
    load_before = loadavg()
    # Interleaved rounds (every tool once per round): a load that comes and goes on the
    # machine touches every tool alike; the best of the rounds is reported.
    rounds: dict[str, list[tuple[float, int, object, float]]] = {name: [] for name in tools}
    for _ in range(args.repeat):
        for name, func in tools.items():
            rounds[name].append(func())  # type: ignore[operator]
    load_after = loadavg()
    grep_walls = [r[0] for r in rounds["grep -F -c"]]
    results: dict[str, object] = {}
    for name, runs in rounds.items():
        verdicts = {check(name, run[2], truth) for run in runs}
        verdict = "ok" if verdicts == {"ok"} else "; ".join(sorted(verdicts - {"ok"}))
        ratios = sorted(r[0] / g for r, g in zip(runs, grep_walls, strict=True))
        results[name] = Result(
            wall=min(r[0] for r in runs),
            cpu=min(r[3] for r in runs),
            rss=max(r[1] for r in runs),
            verdict=verdict,
            ratio=ratios[len(ratios) // 2],
        )
    grep = results["grep -F -c"]
    assert isinstance(grep, Result)
    records = int(truth["records"]) if "records" in truth else 0  # type: ignore[call-overload]
    share = sum(truth.get("clfrx_by_severity", {}).values()) / records if records else 0.0  # type: ignore[attr-defined]
    print(
        f"\nmix {mix}: {log} ({size / 1e6:.0f} MB, {truth['lines']} lines, CLFRX {share:.1%} of"
        f" {records} records, {truth['failures_total']} CLFRX0079W); load {load_before} -> {load_after}"
    )
    print(
        f"{'tool':24s} {'wall s':>8s} {'MB/s':>7s} {'x grep':>7s} {'median':>7s} {'cpu s':>7s}"
        f" {'cpu x grep':>10s} {'RSS MiB':>8s}  counts"
    )
    for name, r in results.items():
        assert isinstance(r, Result)
        print(
            f"{name:24s} {r.wall:8.3f} {size / r.wall / 1e6:7.0f} {r.wall / grep.wall:7.2f}"
            f" {r.ratio:7.2f} {r.cpu:7.3f} {r.cpu / max(grep.cpu, 1e-3):10.2f} {r.rss / 1024:8.1f}"
            f"  {r.verdict}"
        )
    sys.stdout.flush()
    return {**results, "load": f"{load_before}->{load_after}"}


def main() -> None:
    """Run every tool on every mix, print a table per mix and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--mix", action="append", help="SHARE:LAYOUT (genlog.py) or legacy; default: all nine"
    )
    parser.add_argument("--log", type=Path, help="an existing log (with its .truth.json)")
    parser.add_argument(
        "--skip", action="append", default=[], help="leave out a tool (e.g. --skip mtail)"
    )
    parser.add_argument("--generate-only", action="store_true", help="only write the logs")
    args = parser.parse_args()
    mixes = args.mix or list(ALL_MIXES)
    if args.generate_only:
        for mix in mixes:
            print(mix, prepare(mix, args.size, args.log)[0])
        return
    mtail_dir = None
    if shutil.which("mtail") and not any("mtail".startswith(s) for s in args.skip):
        mtail_dir = tempfile.mkdtemp()
        Path(mtail_dir, "apns.mtail").write_text(MTAIL_PROGRAM)
    summary = {mix: run_mix(mix, args, mtail_dir) for mix in mixes}
    if mtail_dir:
        shutil.rmtree(mtail_dir)
    print(
        "\nsummary: wall of the best round; x grep = that / grep's best; median = the median"
        " over the rounds of wall / grep's wall in the same round"
    )
    print(
        f"{'mix':10s} {'grep s':>7s} {'scan s':>7s} {'x grep':>7s} {'median':>7s}"
        f" {'daemon/scan':>11s} {'numpy x grep':>12s} {'numpy median':>12s} {'RSS MiB':>8s}"
        f"  {'load':11s} counts"
    )
    nothing = Result(wall=float("nan"), cpu=float("nan"), rss=0, verdict="-", ratio=float("nan"))
    for mix, r in summary.items():
        grep, scan, daemon, numpy = (
            r.get(name, nothing)
            for name in (
                "grep -F -c",
                "stproxy-monitor scan",
                "daemon catch-up",
                "scan, numpy kernel",
            )
        )
        assert isinstance(grep, Result) and isinstance(scan, Result)
        assert isinstance(daemon, Result) and isinstance(numpy, Result)
        rss = max(scan.rss, daemon.rss, numpy.rss) / 1024
        verdicts = {v.verdict for v in r.values() if isinstance(v, Result)}
        print(
            f"{mix:10s} {grep.wall:7.3f} {scan.wall:7.3f} {scan.wall / grep.wall:7.2f}"
            f" {scan.ratio:7.2f} {daemon.wall / scan.wall:11.2f} {numpy.wall / grep.wall:12.2f}"
            f" {numpy.ratio:12.2f} {rss:8.1f}  {r['load']!s:11s}"
            f" {'ok' if verdicts == {'ok'} else 'MISMATCH'}"
        )


if __name__ == "__main__":
    main()
