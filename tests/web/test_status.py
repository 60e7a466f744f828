"""The status page and /status.json as pure functions of the facts."""

from __future__ import annotations

import json

from stproxy_monitor.states import Status
from stproxy_monitor.web.facts import (
    CellFact,
    CertificateFact,
    CertificateFile,
    NodeFact,
    ProbeFact,
    Problem,
    ReaderFact,
    ServerFact,
    StatusFacts,
    status_json,
)
from stproxy_monitor.web.status import status_page

EVIL = "<script>alert('x')</script>&\""


def facts(**changes: object) -> StatusFacts:
    """Facts with nothing in them, changed as given."""
    base: dict[str, object] = {
        "version": "1.0",
        "now": 1_800_000_000.0,
        "ready": True,
        "warn_days": 30.0,
        "critical_days": 7.0,
    }
    return StatusFacts(**{**base, **changes})  # type: ignore[arg-type]


def certificate(state: Status, days: float, **changes: object) -> CertificateFact:
    """A leaf certificate."""
    base: dict[str, object] = {
        "name": EVIL,
        "subject": f"CN={EVIL}",
        "issuer": "CN=ca",
        "serial": "1",
        "sha256": "ab",
        "not_before": 0.0,
        "not_after": 1.0,
        "days_left": days,
        "state": state,
        "validity": "expires",
        "chain": False,
    }
    return CertificateFact(**{**base, **changes})  # type: ignore[arg-type]


def test_nothing_known_is_ok_and_says_so() -> None:
    """No problem: OK in the banner and title; no certificate: said in words."""
    page = status_page(facts())
    assert "<title>OK - stproxy-monitor</title>" in page
    assert "data-state='OK'" in page
    assert "No certificate known yet." in page
    assert json.loads(status_json(facts()))["state"] == "OK"


def test_every_untrusted_value_is_escaped() -> None:
    """Names, paths, problems and reasons from files, server, cell and node names from logs and
    profiles, and the probe's words never become markup."""
    file = CertificateFile(
        source="file",
        path=f"/x/{EVIL}.p12",
        short_path=f"{EVIL}.p12",
        node=EVIL,
        state=Status.CRITICAL,
        certificates=(
            certificate(Status.CRITICAL, -1.0, environment=EVIL, topic=EVIL, problems=(EVIL,)),
        ),
    )
    bad = CertificateFile(
        source="file",
        path=EVIL,
        short_path=EVIL,
        node="",
        state=Status.UNKNOWN,
        reason=EVIL,
        message=EVIL,
    )
    reader = ReaderFact(
        path=EVIL,
        short_path=EVIL,
        server=EVIL,
        present=False,
        directory=False,
        hpel=False,
        size=0,
        position=0,
        read_errors=0,
        last_read=None,
        last_record=None,
        state=Status.WARNING,
    )
    problem = Problem(event="log_missing", state=Status.WARNING, key=EVIL, text=EVIL, facts={})
    server = ServerFact(
        server=EVIL,
        failures_last_hour=1,
        failures_last_day=1,
        failures_total=1,
        last_failure=None,
        started=None,
        running=None,
        restart_pending=None,
        state=Status.CRITICAL,
    )
    node = NodeFact(node=EVIL, missing=True, forgotten=False, sync_pending=None)
    cell = CellFact(
        cell=EVIL, dmgr_profile=f"/p/{EVIL}", distinct=1, state=Status.CRITICAL, nodes=(node,)
    )
    probe = ProbeFact(
        endpoint=EVIL, result=EVIL, state=Status.CRITICAL, apns_reason=EVIL, detail=EVIL
    )
    page = status_page(
        facts(
            certificates=(file, bad),
            readers=(reader,),
            problems=(problem,),
            servers=(server,),
            cells=(cell,),
            probe=probe,
            probe_configured=True,
        )
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;" in page
    document = json.loads(status_json(facts(certificates=(file, bad), problems=(problem,))))
    assert document["certificates"][0]["certificates"][0]["name"] == EVIL
    assert document["problems"][0]["text"] == EVIL
    assert document["problem_counts"] == {"CRITICAL": 0, "UNKNOWN": 0, "WARNING": 1}


def test_the_worst_problem_decides_the_state() -> None:
    """UNKNOWN is worse than WARNING, CRITICAL worse than both (the check's order)."""

    def with_states(*states: Status) -> Status:
        problems = tuple(
            Problem(event="e", state=s, key=str(i), text="t", facts={})
            for i, s in enumerate(states)
        )
        return facts(problems=problems).state

    assert with_states(Status.WARNING, Status.UNKNOWN) == Status.UNKNOWN
    assert with_states(Status.UNKNOWN, Status.CRITICAL, Status.WARNING) == Status.CRITICAL
    assert with_states() == Status.OK


def test_the_json_has_no_infinite_or_missing_numbers() -> None:
    """A log certificate without a start date is null, not -Infinity (which is not JSON)."""
    file = CertificateFile(
        source="log",
        path="/l",
        short_path="l",
        node="",
        state=Status.OK,
        certificates=(certificate(Status.OK, 100.0, not_before=None),),
    )
    text = status_json(facts(certificates=(file,)))
    assert "Infinity" not in text
    assert json.loads(text)["certificates"][0]["days_left"] == 100.0
