"""The status page and /status.json as pure functions of the facts."""

from __future__ import annotations

import json

from stproxy_monitor.certs.truststore import TrustStoreReading
from stproxy_monitor.commands.problems import problems_of
from stproxy_monitor.commands.status import truststore_facts
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
    TrustStoreFact,
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
    stores = (
        TrustStoreFact(
            path=f"/t/{EVIL}/trust.p12",
            short_path=EVIL,
            node=EVIL,
            state=Status.UNKNOWN,
            read_ok=False,
            trusts_apns=None,
            reason=EVIL,
            message=EVIL,
        ),
        TrustStoreFact(
            path=EVIL,
            short_path=EVIL,
            node=EVIL,
            state=Status.OK,
            read_ok=True,
            trusts_apns=True,
            roots=(EVIL,),
        ),
    )
    page = status_page(
        facts(
            certificates=(file, bad),
            readers=(reader,),
            problems=(problem,),
            servers=(server,),
            cells=(cell,),
            truststores=stores,
            probe=probe,
            probe_configured=True,
        )
    )
    assert "<script>" not in page
    truststores = page[page.index("<section id='truststores'>") :]
    assert truststores.count("&lt;script&gt;") >= 9  # 2 paths, 2 titles, 2 nodes, reason ...
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


def test_trust_stores_become_facts_and_problems_as_check_says() -> None:
    """Without the roots: CRITICAL and truststore_without_apns_root; unreadable: UNKNOWN and
    truststore_unreadable with its reason; with a root: OK, no problem. Worst first."""
    node = "/p/Dmgr01/config/cells/c1/nodes/n1/trust.p12"
    readings = [
        TrustStoreReading(
            path="/p/Dmgr01/config/cells/c1/trust.p12",
            node="",
            read_ok=True,
            certificates=2,
            roots=("AAA Certificate Services",),
        ),
        TrustStoreReading(path=node, node="n1", read_ok=True, certificates=3),
        TrustStoreReading(
            path="/etc/x/trust.p12",
            node="",
            read_ok=False,
            reason="bad_password",
            message="/etc/x/trust.p12: cannot read: bad_password (wrong password)",
        ),
    ]
    stores = truststore_facts(readings)
    assert [(t.short_path, t.state, t.trusts_apns) for t in stores] == [
        ("Dmgr01/n1/trust.p12", Status.CRITICAL, False),
        ("trust.p12", Status.UNKNOWN, None),
        ("Dmgr01/c1/trust.p12", Status.OK, True),
    ]
    problems = problems_of(facts(truststores=tuple(stores)))
    assert [(p.event, p.state, p.key) for p in problems] == [
        ("truststore_without_apns_root", Status.CRITICAL, node),
        ("truststore_unreadable", Status.UNKNOWN, "/etc/x/trust.p12"),
    ]
    assert problems[0].facts == {"path": node, "node": "n1", "certificates": 3}
    assert problems[1].facts["reason"] == "bad_password"
    assert "password_file or password_env" in problems[1].text
    document = json.loads(status_json(facts(truststores=tuple(stores), problems=tuple(problems))))
    assert document["state"] == "CRITICAL"
    assert [t["trusts_apns"] for t in document["truststores"]] == [False, None, True]
    page = status_page(facts(truststores=tuple(stores), problems=tuple(problems)))
    assert "data-trusts-apns='no'" in page and "data-trusts-apns='unknown'" in page
    assert f"title='{node}'" in page
