"""Deterministic generator of realistic WebSphere SystemOut.log files of any size, with truth.

    python bench/genlog.py OUT.log --size 1G [--crlf] [--cp1252] [--seed 1] [--mix 60:class]

Writes OUT.log and OUT.log.truth.json (records by severity, CLFRX ids by severity, CLFRX0079W by
reason, lines, last failure time). Without --mix the mix follows the earlier bench log: mostly I
records in both layouts, System.out and System.err lines, stack traces, lifecycle messages, the
proxy's own CLFRX ids at about 2 % of the records in the short layout and, rarely (about 530 per
GiB), CLFRX0079W in both layouts with Windows and Linux wordings.

--mix SHARE:LAYOUT makes the proxy's own CLFRX messages (logins, presence, sessions, chats, APNS)
SHARE percent of the records, in LAYOUT: `class` (java.util.logging's class and method words
before the id, as Sametime writes them: DOMAIN.md's technote line), `short` (three spaces, then
the id) or `mixed` (each record either, at random). The other records are modelled on real lines
of WebSphere logs (../shared/real-logs): class+method records with and without an id, an empty
method (`WebsphereCommonLauncher  CWSCT0332I:`), the short layout, System.out/err.
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

# The other records of a --mix log, after real WebSphere lines (shapes from ../shared/real-logs:
# the servlet, FFDC and SIP container lines of the WAS 9 and 6.1 logs, DWR's class+method records
# without an id, WSKeyStore's short-layout warning), with System.out/err and the ones above.
OTHER = (
    *(t for t in ORDINARY if t[0] != "STProxy      "),
    (
        "ServletWrappe",
        "I",
        "com.ibm.ws.webcontainer.servlet.ServletWrapper init SRVE0242I: [{word}] [/{word}] [/secure/{word}.jsp]: Initialization successful.",
    ),
    (
        "ProviderTrack",
        "I",
        "com.ibm.ffdc.osgi.ProviderTracker AddingService FFDC1007I: FFDC Provider Installed: com.ibm.ws.ffdc.impl.FfdcProvider@{n}",
    ),
    (
        "WebsphereComm",
        "I",
        "WebsphereCommonLauncher  CWSCT0332I: The SIP container started successfully. {word} {n}",
    ),
    (
        "DefaultRemote",
        "I",
        "org.directwebremoting.util.CommonsLoggingOutput info Exec: {word}Store.get{word}List()",
    ),
    ("WSKeyStore   ", "W", "   CWPKI0041W: One or more key stores are using the default password."),
)
OTHER_WEIGHTS = (30, 20, 20, 10, 8, 10, 6, 3, 1, 4, 1)

# The proxy's own messages (their texts are not public: these are reconstructions in the
# package of DOMAIN.md's APNSService line), as (short name, class, method, id, text).
PROXY = (
    (
        "LoginService ",
        "login.LoginService",
        "login",
        "CLFRX0012I",
        "User {word}{n} logged in from mobile client",
    ),
    (
        "PresenceServ ",
        "presence.PresenceService",
        "updateStatus",
        "CLFRX0031I",
        "Status of {word}{n} changed to available",
    ),
    (
        "SessionManag ",
        "session.SessionManager",
        "createSession",
        "CLFRX0040I",
        "Session {n} created for {word}",
    ),
    (
        "ChatService  ",
        "chat.ChatService",
        "sendMessage",
        "CLFRX0055I",
        "Message delivered to {word}{n} in {ms} ms",
    ),
    (
        "APNSService  ",
        "APNS.APNSService",
        "sendNotification",
        "CLFRX0077I",
        "Notification sent to device {n}",
    ),
    (
        "ProxyRequest ",
        "request.ProxyRequestHandler",
        "handle",
        "CLFRX0015W",
        "Request to {word} timed out after {ms} ms",
    ),
    (
        "SessionManag ",
        "session.SessionManager",
        "expire",
        "CLFRX0042W",
        "Session {n} of {word} expired",
    ),
    (
        "ChatService  ",
        "chat.ChatService",
        "deliver",
        "CLFRX0058E",
        "Message to {word}{n} could not be delivered",
    ),
)
PROXY_WEIGHTS = (20, 30, 15, 20, 5, 4, 5, 1)
PROXY_PACKAGE = "com.ibm.collaboration.realtime.stproxy.services."
LAYOUTS = ("class", "short", "mixed")


def _cumulative(weights: tuple[int, ...]) -> list[int]:
    return [sum(weights[: i + 1]) for i in range(len(weights))]


_CUMULATIVE = _cumulative(WEIGHTS)
_OTHER_CUMULATIVE = _cumulative(OTHER_WEIGHTS)
_PROXY_CUMULATIVE = _cumulative(PROXY_WEIGHTS)


def _pick(rng: random.Random, cumulative: list[int] = _CUMULATIVE) -> int:
    """Index of a template by its cumulative weights (ORDINARY's by default)."""
    x = rng.randrange(cumulative[-1])
    return next(i for i, c in enumerate(cumulative) if x < c)


def parse_mix(text: str) -> tuple[float, str]:
    """'60:class' -> (0.6, 'class'): the proxy's CLFRX share of the records and their layout."""
    share, _, layout = text.partition(":")
    if layout not in LAYOUTS or not 0 <= float(share) <= 100:
        raise ValueError(
            f"--mix: SHARE:LAYOUT with SHARE 0-100 and LAYOUT in {LAYOUTS} (got {text!r})"
        )
    return float(share) / 100, layout


def _ordinary(rng: random.Random, mix: tuple[float, str] | None) -> tuple[str, str, str]:
    """(short name, type letter, message) of a record that is not a CLFRX0079W."""
    if mix is None:
        return ORDINARY[_pick(rng)]
    share, layout = mix
    if rng.random() >= share:
        return OTHER[_pick(rng, _OTHER_CUMULATIVE)]
    short, cls, method, message_id, text = PROXY[_pick(rng, _PROXY_CUMULATIVE)]
    if layout == "class" or (layout == "mixed" and rng.random() < 0.5):
        return short, message_id[-1], f"{PROXY_PACKAGE}{cls} {method} {message_id}: {text}"
    return short, message_id[-1], f"  {message_id}: {text}"


WORDS = ("Chat", "Presence", "Meeting", "Awareness", "Push", "Roster", "Login", "Gateway", "Mobile")
NON_ASCII = "é ü ë €"


def fmt_time(t: datetime) -> str:
    """en_US timestamp, as WebSphere writes it."""
    return f"{t.month}/{t.day}/{t.year % 100:02d} {t.hour}:{t.minute:02d}:{t.second:02d}:{t.microsecond // 1000:03d} UTC"


def generate(
    out: Path,
    size: int,
    *,
    crlf: bool,
    cp1252: bool,
    seed: int,
    mix: tuple[float, str] | None = None,
) -> dict[str, object]:
    """Write about `size` bytes of log to `out`; return the ground truth.

    mix: (share, layout) of the proxy's own CLFRX messages (parse_mix), None for the old mix.
    """
    rng = random.Random(seed)
    eol = "\r\n" if crlf else "\n"
    encoding = "cp1252" if cp1252 else "utf-8"
    t = datetime(2026, 11, 1, tzinfo=UTC)
    severities: Counter[str] = Counter()
    clfrx: Counter[str] = Counter()  # CLFRX ids by severity, CLFRX0079W too
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
                    short_layout = mix[1] == "short" if mix else None
                    if mix and mix[1] == "mixed":
                        short_layout = rng.random() < 0.5
                    if short_layout or (short_layout is None and rng.random() < 0.5):
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
                    clfrx["W"] += 1
                    last_failure = t.timestamp()
                    next_failure += rng.randrange(failure_every // 2, failure_every * 3 // 2)
                else:
                    short, sev, template = _ordinary(rng, mix)
                    message = template.format(
                        word=WORDS[rng.randrange(len(WORDS))],
                        n=rng.randrange(100000),
                        ms=rng.randrange(1, 90000),
                    )
                    if sev in "OR" and rng.random() < 0.05:
                        message += " " + NON_ASCII
                    record = [f"{stamp}{short} {sev} {message}"]
                    severities[sev] += 1
                    if "CLFRX" in template:
                        clfrx[sev] += 1
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
        "clfrx_by_severity": dict(sorted(clfrx.items())),
        "records": sum(severities.values()),
        "mix": None if mix is None else f"{mix[0] * 100:g}:{mix[1]}",
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
    parser.add_argument("--mix", type=parse_mix, help="SHARE:LAYOUT, e.g. 60:class (see above)")
    args = parser.parse_args()
    truth = generate(
        args.out,
        parse_size(args.size),
        crlf=args.crlf,
        cp1252=args.cp1252,
        seed=args.seed,
        mix=args.mix,
    )
    Path(f"{args.out}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(json.dumps(truth))


if __name__ == "__main__":
    main()
