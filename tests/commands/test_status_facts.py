"""The status page's facts as pure functions: cell states, DN order, unmatched globs."""

from __future__ import annotations

from stproxy_monitor.certs.cell import CellReport
from stproxy_monitor.commands.status import cell_facts, common_name, rfc4514_order, unmatched
from stproxy_monitor.states import Status


def report(**changes: object) -> CellReport:
    """A cell of two nodes that hold the newest certificate, synchronized, changed as given."""
    base: dict[str, object] = {
        "cell": "stproxyCell",
        "dmgr_profile": "/opt/IBM/WebSphere/AppServer/profiles/Dmgr01",
        "distinct": 1,
        "missing": {"node1": 0, "node2": 0},
        "sync_pending": {"node1": 0, "node2": 0},
    }
    return CellReport(**{**base, **changes})  # type: ignore[arg-type]


def test_a_rolled_out_cell_is_ok_with_a_row_per_node() -> None:
    """Every node holds the one certificate and is synchronized: OK, nodes in name order."""
    (cell,) = cell_facts([report()])
    assert cell.state == Status.OK
    assert [(n.node, n.missing, n.forgotten, n.sync_pending) for n in cell.nodes] == [
        ("node1", False, False, False),
        ("node2", False, False, False),
    ]


def test_a_pending_synchronization_is_a_warning() -> None:
    """A node whose synchronized copy differs from the dmgr's: WARNING."""
    (cell,) = cell_facts([report(sync_pending={"node1": 0, "node2": 1})])
    assert cell.state == Status.WARNING
    assert [n.sync_pending for n in cell.nodes] == [False, True]


def test_two_certificates_in_a_cell_are_critical_even_without_a_forgotten_node() -> None:
    """distinct > 1 is a rollout left half done: CRITICAL (stproxy_apns_certificate_distinct)."""
    (cell,) = cell_facts([report(distinct=2)])
    assert cell.state == Status.CRITICAL


def test_a_missing_or_forgotten_node_is_critical() -> None:
    """A node without apns-prod.pkcs12, or one left with the older certificate: CRITICAL."""
    (missing,) = cell_facts([report(missing={"node1": 0, "node2": 1})])
    assert missing.state == Status.CRITICAL
    assert [n.missing for n in missing.nodes] == [False, True]
    (forgotten,) = cell_facts([report(forgotten=("node1",))])
    assert forgotten.state == Status.CRITICAL
    assert [n.forgotten for n in forgotten.nodes] == [True, False]


def test_a_node_without_a_synchronized_copy_says_so() -> None:
    """No node copy to compare with: sync_pending is None (unknown), not False."""
    (cell,) = cell_facts([report(missing={"node1": 0}, sync_pending={})])
    assert [(n.node, n.sync_pending) for n in cell.nodes] == [("node1", None)]


def test_java_x500_order_reads_as_the_file_order() -> None:
    """A log's SubjectDN (least specific first, as Java prints it) is reversed to RFC 4514's
    order; a DN already most specific first, or of one part, stays as it is."""
    java = "C=US, O=Apple Inc., OU=ABCDE12345, CN=Apple Push Services: com.ibm.lotus.sametime"
    rfc = "CN=Apple Push Services: com.ibm.lotus.sametime,OU=ABCDE12345,O=Apple Inc.,C=US"
    assert rfc4514_order(java) == rfc
    assert rfc4514_order(rfc) == rfc
    assert rfc4514_order("CN=only") == "CN=only"
    assert rfc4514_order(r"C=US, O=Example\, Inc., CN=x") == r"CN=x,O=Example\, Inc.,C=US"


def test_the_common_name_else_the_whole_dn() -> None:
    """The CN names a certificate on the page; without one, the DN does."""
    assert common_name("CN=Apple Push Services: x,O=Apple Inc.") == "Apple Push Services: x"
    assert common_name("O=Apple Inc.,C=US") == "O=Apple Inc.,C=US"


def test_only_globs_that_match_nothing_are_unmatched() -> None:
    """A literal path is never 'unmatched' (it is a missing file); a glob is when no path
    matches it."""
    paths = ["/logs/a/SystemOut.log"]
    patterns = ["/logs/*/SystemOut.log", "/other/*/SystemOut.log", "/literal/SystemOut.log"]
    assert unmatched(patterns, paths) == ["/other/*/SystemOut.log"]
