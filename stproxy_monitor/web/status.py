"""The status page at /: the worst state first, then certificates, cells, trust stores, servers,
probe, readers.

A pure function of :class:`~stproxy_monitor.web.facts.StatusFacts`: server-rendered HTML with
inline CSS, no script and no external asset. Every value is escaped (file paths, subjects and
log-derived names are untrusted); on a narrow screen each table row becomes a card.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import PurePath

from stproxy_monitor.states import STATE_ORDER, Status
from stproxy_monitor.web.facts import (
    CellFact,
    CertificateFile,
    ProbeFact,
    ReaderFact,
    ServerFact,
    StatusFacts,
    TrustStoreFact,
)

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#f6f8fa}
main{padding:0 16px 24px;max-width:1400px}
header.banner{display:flex;flex-wrap:wrap;align-items:center;gap:8px 20px;padding:12px 16px;
color:#fff}
header .state{font-size:30px;font-weight:700;letter-spacing:.03em}
header p{margin:0}
header .urgent{font-size:17px}
header nav{flex-basis:100%;font-size:13px;opacity:.95}
header a{color:#fff}
h2{font-size:18px;margin:20px 0 6px}
h2 small{font-weight:400;color:#57606a;font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #d8dee4;vertical-align:top}
th{background:#eaeef2;font-size:13px;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td[data-label=File],td[data-label=Log],td[data-label="Trust store"]{min-width:15em}
.sub{color:#57606a;font-size:13px}
.badge{display:inline-block;min-width:6.5em;padding:1px 6px;border-radius:4px;font-size:12px;
font-weight:700;text-align:center;color:#fff}
.s-OK{background:#1a7f37}.s-WARNING{background:#9a6700}.s-CRITICAL{background:#c62828}
.s-UNKNOWN{background:#57606a}
tr.r-CRITICAL td{background:#ffebe9}tr.r-WARNING td{background:#fff8c5}
tr.r-UNKNOWN td{background:#eef1f4}
tr.chain td.cert{padding-left:28px}
tr.chain td.cert:before{content:"\\21b3  chain: ";color:#57606a}
.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;
overflow-wrap:anywhere}
tr.chain td{border-top:0}tr.chain td.cert{font-size:14px}
ul.problems{list-style:none;margin:0;padding:0}
ul.problems li{padding:4px 0;border-bottom:1px solid #d8dee4}
code{font-size:13px}
@media (max-width:760px){
 header .state{font-size:24px}
 table,thead,tbody,tr,th,td{display:block;width:100%}
 thead{display:none}
 tr{border-bottom:2px solid #d0d7de;padding:4px 0}
 td{border:0;padding:2px 8px}
 td.num{text-align:left}
 td[data-label]:before{content:attr(data-label) ": ";font-weight:600;color:#57606a}
 tr.chain td.cert{padding-left:8px}
}
"""


def e(value: object) -> str:
    """Escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def status_page(facts: StatusFacts) -> str:
    """The whole page."""
    state = facts.state.name
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(state)} - stproxy-monitor</title><style>{CSS}</style></head><body>",
        _banner(facts),
        "<main>",
        _certificates(facts.certificates),
        _cells(facts.cells),
        _truststores(facts.truststores),
        _servers(facts.servers),
        _probe(facts.probe, facts.probe_configured),
        _readers(facts.readers, facts.ready),
        _problems(facts),
        "</main></body></html>",
    ]
    return "".join(parts)


def _banner(facts: StatusFacts) -> str:
    state = facts.state.name
    counts = [
        f"{sum(1 for p in facts.problems if p.state == s)} {s.name.lower()}"
        for s in STATE_ORDER[:3]
        if any(p.state == s for p in facts.problems)
    ]
    total = len(facts.problems)
    summary = (
        f"<a href='#problems'>{total} problem{'' if total == 1 else 's'}</a>: {', '.join(counts)}"
        if total
        else "no problem found"
    )
    if not facts.ready:
        summary += " (still reading the logs for the first time)"
    return (
        f"<header class='banner s-{e(state)}' id='overall' data-state='{e(state)}'>"
        f"<div class='state'>{e(state)}</div><div><p class='counts'>{summary}</p>"
        f"{_most_urgent(facts)}</div>"
        f"<nav>stproxy-monitor {e(facts.version)} &middot; as of {e(_time(facts.now))} &middot; "
        "<a href='/metrics'>/metrics</a> &middot; <a href='/status.json'>/status.json</a>"
        f" &middot; warn below {facts.warn_days:g} days, critical below "
        f"{facts.critical_days:g}</nav></header>"
    )


def _most_urgent(facts: StatusFacts) -> str:
    urgent = facts.most_urgent
    if urgent is None:
        return "<p class='urgent' id='most-urgent'>No certificate known yet.</p>"
    file, cert = urgent
    what = (
        f"{e(cert.name)}{' (chain certificate)' if cert.chain else ''} {e(cert.validity)}"
        if cert is not None
        else f"cannot read ({e(file.reason)})"
    )
    state = (cert.state if cert is not None else file.state).name
    return (
        f"<p class='urgent' id='most-urgent' data-state='{e(state)}'>Most urgent certificate: "
        f"<b>{_path(file.short_path, file.path)}</b> &mdash; {what}</p>"
    )


def _badge(state: Status) -> str:
    return f"<span class='badge s-{e(state.name)}'>{e(state.name)}</span>"


def _path(short: str, full: str) -> str:
    return f"<span class='path' title='{e(full)}'>{e(short)}</span>"


def _td(label: str, content: str, cls: str = "") -> str:
    klass = f" class='{cls}'" if cls else ""
    return f"<td data-label='{e(label)}'{klass}>{content}</td>"


def _cannot_read(path: str, reason: str, message: str) -> str:
    """The reason in bold, then the error without the path and reason it repeats."""
    detail = message.removeprefix(f"{path}: ").removeprefix(f"cannot read: {reason} ")
    return f"cannot read: <b>{e(reason)}</b><div class='sub'>{e(detail)}</div>"


def _table(columns: Sequence[str], rows: Iterable[str], empty: str) -> str:
    body = "".join(rows)
    if not body:
        return f"<p class='sub'>{e(empty)}</p>"
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- sections --------------------------------------------------------------------------------


def _certificates(files: Sequence[CertificateFile]) -> str:
    columns = ("State", "Days left", "File", "Certificate", "Node", "Topic", "Environment")
    rows = [row for file in files for row in _certificate_rows(file)]
    table = _table((*columns, "Problems"), rows, "No certificate configured or seen in a log.")
    return (
        "<section id='certificates'><h2>APNS certificates <small>worst state first, then by "
        f"days left; chain certificates under their leaf</small></h2>{table}</section>"
    )


def _certificate_rows(file: CertificateFile) -> Iterable[str]:
    source = f" <span class='sub'>({e(file.source)})</span>"
    where = _td("File", _path(file.short_path, file.path) + source)
    common = f"data-path='{e(file.path)}' data-source='{e(file.source)}'"
    if not file.certificates:
        what = _cannot_read(file.path, file.reason, file.message)
        yield (
            f"<tr class='unreadable r-{file.state.name}' data-state='{file.state.name}' {common}>"
            f"{_td('State', _badge(file.state))}{_td('Days left', '&ndash;', 'num')}{where}"
            f"{_td('Certificate', what, 'cert')}{_td('Node', e(file.node or '-'))}"
            f"{_td('Topic', '-')}{_td('Environment', '-')}{_td('Problems', e(file.reason))}</tr>"
        )
        return
    for cert in file.certificates:
        kind = "chain" if cert.chain else "leaf"
        name = (
            f"<span title='{e(cert.subject)}'>{e(cert.name)}</span>"
            f"<div class='sub'>{e(cert.validity)}</div>"
        )
        yield (
            f"<tr class='{kind} r-{cert.state.name}' data-state='{cert.state.name}' {common}>"
            f"{_td('State', _badge(cert.state))}"
            f"{_td('Days left', f'{cert.days_left:.1f}', 'num')}"
            f"{_td('File', '') if cert.chain else where}{_td('Certificate', name, 'cert')}"
            f"{_td('Node', e(file.node or '-'))}{_td('Topic', e(cert.topic or '-'))}"
            f"{_td('Environment', e(cert.environment or '-'))}"
            f"{_td('Problems', e(', '.join(cert.problems) or '-'))}</tr>"
        )


def _cells(cells: Sequence[CellFact]) -> str:
    rows = []
    for cell in cells:
        dmgr = PurePath(cell.dmgr_profile).name
        for node in cell.nodes:
            state = (
                Status.CRITICAL
                if node.missing or node.forgotten
                else Status.WARNING
                if node.sync_pending
                else Status.OK
            )
            holds = (
                "no apns-prod.pkcs12"
                if node.missing
                else ("an older certificate" if node.forgotten else "the newest certificate")
            )
            sync = {None: "no node copy seen", True: "pending", False: "done"}[node.sync_pending]
            rows.append(
                f"<tr class='r-{state.name}' data-state='{state.name}'>"
                f"{_td('State', _badge(state))}{_td('Cell', e(cell.cell))}"
                f"{_td('Node', e(node.node))}{_td('In the dmgr profile', e(holds))}"
                f"{_td('Resynchronize', e(sync))}"
                f"{_td('Dmgr profile', _path(dmgr, cell.dmgr_profile))}</tr>"
            )
    columns = ("State", "Cell", "Node", "In the dmgr profile", "Resynchronize", "Dmgr profile")
    table = _table(columns, rows, "No WebSphere profile configured.")
    return f"<section id='cells'><h2>Cell rollout checks</h2>{table}</section>"


def _truststores(stores: Sequence[TrustStoreFact]) -> str:
    rows = [_truststore_row(t) for t in stores]
    columns = ("State", "Trust store", "Node", "Trusts APNs roots", "Read")
    table = _table(columns, rows, "No trust store configured or found in the profiles.")
    return (
        "<section id='truststores'><h2>Trust stores <small>do they hold USERTrust RSA "
        "Certification Authority or AAA Certificate Services, the roots of Apple's APNs "
        f"servers?</small></h2>{table}</section>"
    )


def _truststore_row(t: TrustStoreFact) -> str:
    if t.trusts_apns is None:
        trusts = "unknown"
    elif t.trusts_apns:
        trusts = f"yes: {', '.join(t.roots)}"
    else:
        trusts = f"no: neither root among its {t.certificates} certificates"
    read = "read" if t.read_ok else _cannot_read(t.path, t.reason, t.message)
    return (
        f"<tr class='r-{t.state.name}' data-state='{t.state.name}' data-path='{e(t.path)}' "
        f"data-trusts-apns='{e({None: 'unknown', True: 'yes', False: 'no'}[t.trusts_apns])}'>"
        f"{_td('State', _badge(t.state))}{_td('Trust store', _path(t.short_path, t.path))}"
        f"{_td('Node', e(t.node or '-'))}{_td('Trusts APNs roots', e(trusts))}"
        f"{_td('Read', read)}</tr>"
    )


def _servers(servers: Sequence[ServerFact]) -> str:
    rows = [
        f"<tr class='r-{s.state.name}' data-state='{s.state.name}'>{_td('State', _badge(s.state))}"
        f"{_td('Server', e(s.server))}{_td('Last hour', str(s.failures_last_hour), 'num')}"
        f"{_td('Last day', str(s.failures_last_day), 'num')}"
        f"{_td('Since start', str(s.failures_total), 'num')}"
        f"{_td('Last failure', e(_time(s.last_failure)))}"
        f"{_td('Started', e(_time(s.started)))}"
        f"{_td('Restart pending', {None: '-', True: 'yes', False: 'no'}[s.restart_pending])}</tr>"
        for s in servers
    ]
    columns = (
        "State",
        "Server",
        "Last hour",
        "Last day",
        "Since start",
        "Last failure",
        "Started",
        "Restart pending",
    )
    table = _table(columns, rows, "No server seen in the logs yet.")
    return (
        "<section id='servers'><h2>APNS connection failures (CLFRX0079W) per server "
        f"<small>by the time written in the record</small></h2>{table}</section>"
    )


def _probe(probe: ProbeFact | None, configured: bool) -> str:
    if not configured:
        return ""
    if probe is None:
        return (
            "<section id='probe'><h2>APNs probe</h2>"
            "<p class='sub'>No probe has run yet.</p></section>"
        )
    took = "-" if probe.duration_seconds is None else f"{probe.duration_seconds:.2f} s"
    rows = [
        f"<tr class='r-{probe.state.name}' data-state='{probe.state.name}'>"
        f"{_td('State', _badge(probe.state))}{_td('Endpoint', e(probe.endpoint))}"
        f"{_td('Result', e(probe.result))}"
        f"{_td('HTTP status', e(probe.status if probe.status is not None else '-'))}"
        f"{_td('Apple reason', e(probe.apns_reason or '-'))}"
        f"{_td('Ran', e(_time(probe.ran_at)))}"
        f"{_td('Took', e(took))}"
        f"{_td('Detail', e(probe.detail or '-'))}</tr>"
    ]
    columns: tuple[str, ...] = ("State", "Endpoint", "Result", "HTTP status", "Apple reason")
    columns += ("Ran", "Took", "Detail")
    return f"<section id='probe'><h2>APNs probe</h2>{_table(columns, rows, '')}</section>"


def _readers(readers: Sequence[ReaderFact], ready: bool) -> str:
    rows = [_reader_row(r, ready) for r in readers]
    columns = ("State", "Log", "Server", "File", "Read", "Behind", "Last read", "Last record")
    table = _table(columns, rows, "No log configured.")
    return f"<section id='readers'><h2>Log readers</h2>{table}</section>"


def _reader_row(r: ReaderFact, ready: bool) -> str:
    if r.directory:
        present = "a directory, not a log file"
    elif r.hpel:
        present = "missing: HPEL binary logs (logdata/*.wbl)"
    elif r.present:
        present = "present"
    else:
        present = "missing" if ready else "not read yet"
    errors = f" ({r.read_errors} read errors)" if r.read_errors else ""
    return (
        f"<tr class='r-{r.state.name}' data-state='{r.state.name}' data-path='{e(r.path)}'>"
        f"{_td('State', _badge(r.state))}{_td('Log', _path(r.short_path, r.path))}"
        f"{_td('Server', e(r.server))}{_td('File', e(present + errors))}"
        f"{_td('Read', e(_size(r.position) + ' of ' + _size(r.size)), 'num')}"
        f"{_td('Behind', e(_size(r.lag_bytes)), 'num')}"
        f"{_td('Last read', e(_time(r.last_read)))}"
        f"{_td('Last record', e(_time(r.last_record)))}</tr>"
    )


def _problems(facts: StatusFacts) -> str:
    items = "".join(
        f"<li data-event='{e(p.event)}' data-state='{p.state.name}'>{_badge(p.state)} "
        f"<code>{e(p.event)}</code> {e(p.text)}</li>"
        for p in facts.problems
    )
    body = f"<ul class='problems'>{items}</ul>" if items else "<p class='sub'>None.</p>"
    return (
        "<section id='problems'><h2>Every problem <small>worst first, under the event names of "
        f"the daemon's log</small></h2>{body}</section>"
    )


def _time(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
