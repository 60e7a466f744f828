"""Deterministic generator of realistic WebSphere SystemOut.log files of any size, with truth.

    python bench/genlog.py OUT.log --size 1G [--crlf] [--cp1252] [--seed 1]

Writes OUT.log and OUT.log.truth.json (records by severity, CLFRX0079W by reason, lines, last
failure time). The mix follows a busy Sametime Proxy: mostly I records in both layouts, System.out
and System.err lines, stack traces, lifecycle messages, other CLFRX ids and, rarely (about 530
per GiB), CLFRX0079W in both layouts with Windows and Linux wordings.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

FAILURE_CAUSES = (
    ("connection_refused", "Connection refused: connect"),
    ("connection_refused", "Connection refused (Connection refused)"),
    ("timed_out", "connect timed out"),
    ("unknown_host", "java.net.UnknownHostException: gateway.push.apple.com"),
    (
        "handshake_failed",
        "javax.net.ssl.SSLHandshakeException: Remote host closed connection during handshake",
    ),
    (
        "certificate_rejected",
        "javax.net.ssl.SSLHandshakeException: Received fatal alert: certificate_expired",
    ),
    ("other", "java.net.SocketException: Network is unreachable"),
)
APNS_CLASS = "com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService startAPNS"
ORDINARY = (
    (
        "webapp       ",
        "I",
        "com.ibm.ws.webcontainer.webapp.WebGroupImpl WebGroup SRVE0169I: Loading Web Module: {word} Application.",
    ),
    (
        "SessionConte ",
        "I",
        "com.ibm.ws.session.SessionContextRegistry getSessionContext SESN0176I: Will create a new session context for application key default_host/{word}",
    ),
    (
        "SystemOut    ",
        "O",
        "INFO  [com.ibm.collaboration.realtime.{word}]- Handled request {n} in {ms} ms",
    ),
    (
        "SystemErr    ",
        "R",
        "\tat com.ibm.collaboration.realtime.{word}.Handler.run(Handler.java:{n})",
    ),
    ("STProxy      ", "I", "   CLFRX0012I: User {word}{n} logged in from mobile client"),
    ("STProxy      ", "W", "   CLFRX0015W: Request to {word} timed out after {ms} ms"),
    ("WSChannelFram", "A", "   CHFW0019I: The Transport Channel Service has started chain {word}."),
    (
        "ThreadMonitor",
        "W",
        '   WSVR0605W: Thread "WebContainer : {n}" has been active for {ms} milliseconds.',
    ),
)
# Relative weights of ORDINARY: the proxy's own CLFRX messages are about 2 % of the records, the
# rest comes from the web container, sessions, System.out/err and WebSphere itself.
WEIGHTS = (30, 20, 20, 10, 1, 1, 8, 10)
_CUMULATIVE = [sum(WEIGHTS[: i + 1]) for i in range(len(WEIGHTS))]


def _pick(rng: random.Random) -> int:
    """Index of an ORDINARY template by WEIGHTS."""
    x = rng.randrange(_CUMULATIVE[-1])
    return next(i for i, c in enumerate(_CUMULATIVE) if x < c)


WORDS = ("Chat", "Presence", "Meeting", "Awareness", "Push", "Roster", "Login", "Gateway", "Mobile")
NON_ASCII = "é ü ë €"


def fmt_time(t: datetime) -> str:
    """en_US timestamp, as WebSphere writes it."""
    return f"{t.month}/{t.day}/{t.year % 100:02d} {t.hour}:{t.minute:02d}:{t.second:02d}:{t.microsecond // 1000:03d} UTC"


def generate(out: Path, size: int, *, crlf: bool, cp1252: bool, seed: int) -> dict[str, object]:
    """Write about `size` bytes of log to `out`; return the ground truth."""
    rng = random.Random(seed)
    eol = "\r\n" if crlf else "\n"
    encoding = "cp1252" if cp1252 else "utf-8"
    t = datetime(2026, 11, 1, tzinfo=UTC)
    severities: Counter[str] = Counter()
    reasons: Counter[str] = Counter({cause[0]: 0 for cause in FAILURE_CAUSES})
    written = lines = 0
    last_failure = None
    # about 530 failures per GiB: one failure per ~2 MB of log
    failure_every = 2_000_000
    next_failure = rng.randrange(failure_every)
    with out.open("wb") as handle:
        while written < size:
            block: list[str] = []
            block_bytes = 0
            while block_bytes < 1 << 20:
                t += timedelta(milliseconds=rng.randrange(1, 400))
                stamp = f"[{fmt_time(t)}] {rng.randrange(1 << 32):08x} "
                if written + block_bytes >= next_failure:
                    reason, text = FAILURE_CAUSES[rng.randrange(len(FAILURE_CAUSES))]
                    if rng.random() < 0.5:
                        record = [
                            f"{stamp}APNSService   W   CLFRX0079W: Unable to establish an SSL connection to the APNS service {text}"
                        ]
                    else:
                        record = [
                            f"{stamp}APNSService   W {APNS_CLASS} CLFRX0079W: Unable to establish an SSL connection to the APNS service",
                            " " * 33 + text,
                            "\tat com.ibm.collaboration.realtime.stproxy.services.APNS.APNSService.startAPNS(APNSService.java:312)",
                        ]
                    reasons[reason] += 1
                    severities["W"] += 1
                    last_failure = t.timestamp()
                    next_failure += rng.randrange(failure_every // 2, failure_every * 3 // 2)
                else:
                    short, sev, template = ORDINARY[_pick(rng)]
                    message = template.format(
                        word=WORDS[rng.randrange(len(WORDS))],
                        n=rng.randrange(100000),
                        ms=rng.randrange(1, 90000),
                    )
                    if sev in "OR" and rng.random() < 0.05:
                        message += " " + NON_ASCII
                    record = [f"{stamp}{short} {sev} {message}"]
                    severities[sev] += 1
                    if rng.random() < 0.02:  # an exception with its stack trace
                        record.append(" " * 33 + "java.io.IOException: Broken pipe")
                        record.extend(
                            f"\tat com.ibm.ws.{WORDS[i % len(WORDS)].lower()}.Impl.call(Impl.java:{100 + i})"
                            for i in range(rng.randrange(3, 12))
                        )
                text_block = eol.join(record) + eol
                block.append(text_block)
                block_bytes += len(text_block.encode(encoding))
                lines += len(record)
            data = "".join(block).encode(encoding)
            handle.write(data)
            written += len(data)
    return {
        "bytes": written,
        "lines": lines,
        "records_by_severity": dict(sorted(severities.items())),
        "apns_failures": dict(sorted(reasons.items())),
        "failures_total": sum(reasons.values()),
        "last_failure_timestamp": last_failure,
        "encoding": encoding,
        "crlf": crlf,
    }


def parse_size(text: str) -> int:
    """'1G', '200M', '64K' or bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return (
        int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="100M")
    parser.add_argument("--crlf", action="store_true")
    parser.add_argument("--cp1252", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    truth = generate(
        args.out, parse_size(args.size), crlf=args.crlf, cp1252=args.cp1252, seed=args.seed
    )
    Path(f"{args.out}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
