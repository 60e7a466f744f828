"""Problems found in the status facts: what the page lists, /status.json holds and the log says.

Each problem is named by the structured event the daemon logs for it (``certificate_expiring``,
``node_forgotten`` ...), so that an operator finds the same words on the page, in the JSON and in
the journal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import PurePath

from stproxy_monitor.certs.facts import ADVICE, CRITICAL_PROBLEMS
from stproxy_monitor.certs.truststore import APNS_ROOTS
from stproxy_monitor.states import Status, state_rank
from stproxy_monitor.web.facts import (
    CellFact,
    CertificateFact,
    CertificateFile,
    FactValue,
    ProbeFact,
    Problem,
    ReaderFact,
    ServerFact,
    StatusFacts,
    TrustStoreFact,
)


def problems_of(
    facts: StatusFacts,
    *,
    scans_without_cells: Sequence[str] = (),
    unmatched_logs: Sequence[str] = (),
    unmatched_certificates: Sequence[str] = (),
    failure_window: float = 900.0,
) -> list[Problem]:
    """Every problem, worst first (then in page order)."""
    found = [
        *(p for file in facts.certificates for p in _certificate_problems(file)),
        *(
            _problem(
                "certificate_glob_unmatched",
                Status.UNKNOWN,
                pattern,
                f"no certificate file matches {pattern}: check the path in the configuration",
                pattern=pattern,
            )
            for pattern in unmatched_certificates
        ),
        *(p for cell in facts.cells for p in _cell_problems(cell)),
        *(p for store in facts.truststores for p in _truststore_problems(store)),
        *(
            _problem(
                "profile_empty",
                Status.UNKNOWN,
                profile,
                f"profile {profile}: no config/cells/*/nodes/* found: is it a WebSphere profile?",
                profile=profile,
            )
            for profile in scans_without_cells
        ),
        *(p for server in facts.servers for p in _server_problems(server, failure_window)),
        *(p for reader in facts.readers for p in _reader_problems(reader, facts.ready)),
        *(
            _problem(
                "log_missing",
                Status.WARNING,
                pattern,
                f"no log file matches {pattern}: check the path in the configuration",
                pattern=pattern,
            )
            for pattern in unmatched_logs
        ),
        *_probe_problems(facts.probe),
    ]
    return sorted(found, key=lambda p: state_rank(p.state))


def _problem(event: str, state: Status, key: str, text: str, **facts: FactValue) -> Problem:
    return Problem(event=event, state=state, key=key, text=text, facts=facts)


def _certificate_problems(file: CertificateFile) -> Iterator[Problem]:
    where: dict[str, FactValue] = {"path": file.path, "source": file.source, "node": file.node}
    if file.reason:
        advice = UNREADABLE_ADVICE.get(file.reason, "")
        yield _problem(
            "certificate_unreadable",
            Status.UNKNOWN,
            file.path,
            f"{file.short_path}: cannot read ({file.reason}): {advice}",
            reason=file.reason,
            error=file.message,
            **where,
        )
    for index, cert in enumerate(file.certificates):
        key = f"{file.path}#{cert.serial or index}"
        if cert.state != Status.OK:
            yield _validity_problem(file, cert, key, where)
        for problem in cert.problems:
            critical = problem in CRITICAL_PROBLEMS
            yield _problem(
                "certificate_problem",
                Status.CRITICAL if critical else Status.WARNING,
                f"{key}:{problem}",
                f"{file.short_path}: {problem}: {ADVICE.get(problem, '')}",
                problem=problem,
                serial=cert.serial,
                **where,
            )


UNREADABLE_ADVICE = {
    "missing": "restore the file or fix the path",
    "permission": "give the daemon's user read access",
    "bad_password": "the password does not open the file: check the password file or variable",
    "password_file_missing": "the password file does not exist: create it or fix the path",
    "corrupt": "damaged, half copied or not a certificate: copy it again",
}


def _validity_problem(
    file: CertificateFile, cert: CertificateFact, key: str, where: dict[str, FactValue]
) -> Problem:
    if cert.not_yet_valid:
        event = "certificate_not_yet_valid"
    elif cert.days_left < 0:
        event = "certificate_expired"
    else:
        event = "certificate_expiring"
    role = " (chain certificate)" if cert.chain else ""
    seen = " as the proxy reported it in its log" if file.source == "log" else ""
    return _problem(
        event,
        cert.state,
        key,
        f"{file.short_path}{role}: {cert.name} {cert.validity}{seen}",
        serial=cert.serial,
        subject=cert.subject,
        not_after=_iso(cert.not_after),
        days_left=cert.days_left,
        chain=cert.chain,
        **where,
    )


def _cell_problems(cell: CellFact) -> Iterator[Problem]:
    dmgr = PurePath(cell.dmgr_profile).name
    for node in cell.nodes:
        where = {"cell": cell.cell, "node": node.node, "dmgr_profile": cell.dmgr_profile}
        if node.missing or node.forgotten:
            cause = "no apns-prod.pkcs12" if node.missing else "an older certificate"
            yield _problem(
                "node_forgotten",
                Status.CRITICAL,
                f"{cell.cell}/{node.node}",
                f"cell {cell.cell}: node {node.node} has {cause} in {dmgr}: copy the new "
                "certificate into its directory, resynchronize, restart",
                cause="missing" if node.missing else "older_certificate",
                **where,
            )
        if node.sync_pending:
            yield _problem(
                "sync_pending",
                Status.WARNING,
                f"{cell.cell}/{node.node}",
                f"cell {cell.cell}: node {node.node}'s copy differs from {dmgr}'s: run a full "
                "resynchronize of the node, then restart",
                **where,
            )


_ROOTS = " nor ".join(root.name for root in APNS_ROOTS)


def _truststore_problems(store: TrustStoreFact) -> Iterator[Problem]:
    where: dict[str, FactValue] = {"path": store.path, "node": store.node}
    if not store.read_ok:
        advice = TRUSTSTORE_UNREADABLE_ADVICE.get(store.reason, "")
        yield _problem(
            "truststore_unreadable",
            Status.UNKNOWN,
            store.path,
            f"trust store {store.short_path}: cannot read ({store.reason}): {advice}",
            reason=store.reason,
            error=store.message,
            **where,
        )
    elif not store.trusts_apns:
        yield _problem(
            "truststore_without_apns_root",
            Status.CRITICAL,
            store.path,
            f"trust store {store.short_path}: trusts neither {_ROOTS}: every APNs connection "
            "fails (CWPKI0022E): add the root as a signer certificate, synchronize, restart",
            certificates=store.certificates,
            **where,
        )


TRUSTSTORE_UNREADABLE_ADVICE = {
    **UNREADABLE_ADVICE,
    "bad_password": "not WebSphere's default password WebAS: name its password_file or "
    "password_env in the truststores section",
}


def _server_problems(server: ServerFact, window: float) -> Iterator[Problem]:
    if server.state == Status.CRITICAL:
        yield _problem(
            "apns_failing",
            Status.CRITICAL,
            server.server,
            f"{server.server}: APNS connection failures (CLFRX0079W) in the last "
            f"{window / 60:g} min, {server.failures_last_hour} in the last hour",
            server=server.server,
            failures_last_hour=server.failures_last_hour,
            last_failure=_iso(server.last_failure),
        )
    if server.restart_pending:
        yield _problem(
            "restart_pending",
            Status.WARNING,
            server.server,
            f"{server.server}: the certificate file changed after the server's last start: "
            "restart the node agent and the server",
            server=server.server,
            started=_iso(server.started),
        )


def _reader_problems(reader: ReaderFact, ready: bool) -> Iterator[Problem]:
    where = {"path": reader.path, "server": reader.server}
    if reader.directory:
        yield _problem(
            "log_is_directory",
            Status.WARNING,
            reader.path,
            f"{reader.path} is a directory, not a log: configure the SystemOut.log inside it",
            **where,
        )
    elif reader.hpel:
        yield _problem(
            "hpel_detected",
            Status.WARNING,
            reader.path,
            f"{reader.short_path}: no log, the server writes binary HPEL logs (logdata/*.wbl): "
            "switch it to basic logging mode and restart it",
            **where,
        )
    elif ready and not reader.present:
        yield _problem(
            "log_missing",
            Status.WARNING,
            reader.path,
            f"{reader.path}: no such log file: check the path (or the server is not set up yet)",
            **where,
        )


def _probe_problems(probe: ProbeFact | None) -> Iterator[Problem]:
    if probe is None or probe.state == Status.OK:
        return
    yield _problem(
        "probe_failed",
        probe.state,
        probe.endpoint,
        f"probe of {probe.endpoint}: {probe.result.replace('_', ' ')}"
        + (f" ({probe.detail})" if probe.detail else ""),
        endpoint=probe.endpoint,
        result=probe.result,
        status=probe.status,
        apns_reason=probe.apns_reason,
    )


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
