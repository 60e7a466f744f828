"""The status page in a real browser: Debian's headless chromium against the real daemon.

The daemon runs on fixtures/demo.yml (generated certificates, the fixture logs) plus a live log
with a fresh APNS failure, a missing log, a directory given as a log and names built to break
HTML. The rendered DOM must show the states, the order and the unreadable files; every problem of
/status.json must be on the page and in the daemon's log. Screenshots at 1280 px and phone width
are kept under .ci/output/ (STPROXY_MONITOR_ARTIFACTS to put them elsewhere).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support import (
    APNS_TEXT,
    ATTACHED_FILES,
    END_BANNER,
    HTTP,
    REPO,
    START_BANNER,
    en_us_time,
    free_port,
    key,
    load_cert_generator,
    readiness,
    scrape,
    spawn_daemon,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium")
HOSTILE = "<img src=x onerror=alert(1)>\"'&amp;"
HOSTILE_SERVER = "evil<script>alert(1)</script>"
STATE_RANK = {"CRITICAL": 0, "UNKNOWN": 1, "WARNING": 2, "OK": 3}
BANNER_RGB = {"CRITICAL": (0xC6, 0x28, 0x28)}


def artifacts() -> Path:
    """Where screenshots are kept: .ci/output/ of the checkout (git-ignored)."""
    path = Path(os.environ.get("STPROXY_MONITOR_ARTIFACTS", REPO / ".ci" / "output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the page as a tree ----------------------------------------------------------------------


@dataclass
class Element:
    """One element of the dumped DOM: tag, attributes, text inside it (descendants included)."""

    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def find_all(self, tag: str | None = None, **attrs: str) -> Iterator[Element]:
        """Descendants (and self) with this tag and these attribute values."""
        if (tag is None or self.tag == tag) and all(
            self.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items()
        ):
            yield self
        for child in self.children:
            yield from child.find_all(tag, **attrs)

    def classes(self) -> set[str]:
        """The class attribute's words."""
        return set(self.attrs.get("class", "").split())


class _TreeBuilder(HTMLParser):
    VOID = frozenset({"meta", "br", "img", "link", "input", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element.text += data


def parse_dom(html: str) -> Element:
    """The DOM chromium dumped, as Elements."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- chromium ----------------------------------------------------------------------------------


def chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Headless chromium with a fresh profile, no network beyond what it is pointed at."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="stproxy-chromium-") as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            timeout=120,
            check=True,
            env={**os.environ, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"},
        )


def png_left_edge(path: Path, pixels: int = 4) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and the RGB of the first ``pixels`` pixels of every row of an 8-bit PNG.

    PNG filters look left and up only, so the left edge decodes without the rest of the row.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, width, height, channels = 8, b"", 0, 0, 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), "8-bit RGB or RGBA expected"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    raw, stride, edge = zlib.decompress(idat), width * channels, []
    span = pixels * channels
    previous = [0] * span
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], list(raw[start + 1 : start + 1 + span])
        for x in range(span):
            a = line[x - channels] if x >= channels else 0
            b, c = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                line[x] = (line[x] + _paeth(a, b, c)) & 0xFF
        edge.append(tuple(v for i, v in enumerate(line) if i % channels < 3))
        previous = line
    return width, height, edge


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


# -- the daemon ------------------------------------------------------------------------------


def hostile_certificate(path: Path, now: datetime) -> None:
    """A PEM certificate whose CN and UID are HTML, valid for 100 days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE),
            x509.NameAttribute(NameOID.USER_ID, HOSTILE),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x4242)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=100))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def live_log(directory: Path, now: datetime) -> Path:
    """A SystemOut.log of a server with an HTML name, started an hour ago, failing a minute ago."""
    path = directory / "SystemOut.log"
    path.parent.mkdir(parents=True)
    stamp = en_us_time(now - timedelta(minutes=1))
    path.write_text(
        f"{START_BANNER}\nWebSphere Platform 8.5.5.13 [ND 8.5.5.13 cf131750.07] running with "
        f"process name liveCell\\liveNode\\{HOSTILE_SERVER} and process id 4242\n{END_BANNER}\n"
        f"[{en_us_time(now - timedelta(hours=1))}] 00000001 WsServerImpl  A   "
        f"WSVR0001I: Server STProxyServer open for e-business\n"
        f"[{stamp}] 0000004e APNSService   W   CLFRX0079W: {APNS_TEXT} connect timed out\n",
        encoding="utf-8",
    )
    return path


@dataclass
class Demo:
    """The running daemon and what it served."""

    port: int
    stderr: Path
    status: dict[str, Any]
    workdir: Path
    manifest: dict[str, Any]  # what fixtures/generate_certs.py built
    broken_truststore: Path  # a trust store that cannot be read, under a path made of HTML

    def events(self) -> list[dict[str, Any]]:
        """The daemon's log, one JSON object per line."""
        return [json.loads(line) for line in self.stderr.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """fixtures/demo.yml plus the live, missing, directory and hostile cases, served."""
    workdir = tmp_path_factory.mktemp("statuspage")
    now = datetime.now(UTC)
    manifest = load_cert_generator().generate(workdir / "generated", now)
    hostile_certificate(workdir / "generated" / "hostile.pem", now)
    config = yaml.safe_load((REPO / "fixtures" / "demo.yml").read_text())
    for entry in config["logs"]:
        entry["path"] = str(REPO / "fixtures" / entry["path"])
    for section in ("certificates", "profiles", "truststores"):
        for entry in config[section]:
            for name in ("path", "password_file"):
                if name in entry:
                    entry[name] = str(workdir / entry[name])
    (workdir / "a-directory").mkdir()
    config["logs"] += [
        {"path": str(live_log(workdir / HOSTILE / "STProxyServer", now))},
        {"path": str(workdir / "missing" / "STProxyServer" / "SystemOut.log")},
        {"path": str(workdir / "a-directory")},
    ]
    config["certificates"].append({"path": str(workdir / "generated" / "hostile.pem")})
    broken = workdir / HOSTILE / "trust.p12"
    broken.write_bytes(b"not a PKCS#12 trust store\n")
    config["truststores"].insert(0, {"path": str(broken)})
    port = free_port()
    config["listen"] = f"127.0.0.1:{port}"
    config_path = workdir / "demo.yml"
    config_path.write_text(yaml.safe_dump(config))
    stderr = workdir / "daemon.stderr"
    process = spawn_daemon("-c", str(config_path), stderr=stderr)
    try:
        assert wait_until(lambda: readiness(process, port), what="ready") == "ready"
        wait_until(lambda: '"event": "status"' in stderr.read_text(), what="the status event")
        with HTTP.open(f"http://127.0.0.1:{port}/status.json", timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            status = json.load(response)
        yield Demo(
            port=port,
            stderr=stderr,
            status=status,
            workdir=workdir,
            manifest=manifest,
            broken_truststore=broken,
        )
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def dom(demo: Demo) -> Element:
    """The page as chromium rendered it."""
    result = chromium("--dump-dom", f"http://127.0.0.1:{demo.port}/")
    html = result.stdout.decode()
    (artifacts() / "status-page.html").write_text(html)
    return parse_dom(html)


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@needs_chromium
def test_the_worst_state_comes_first_in_words(demo: Demo, dom: Element) -> None:
    """The banner says CRITICAL (as /status.json), and the title starts with it."""
    (banner,) = dom.find_all(id="overall")
    assert demo.status["state"] == "CRITICAL"
    assert banner.attrs["data-state"] == "CRITICAL"
    assert banner.find_all("div", class_="state").__next__().text.strip() == "CRITICAL"
    assert next(dom.find_all("title")).text.startswith("CRITICAL")
    counts = demo.status["problem_counts"]
    assert f"{len(demo.status['problems'])} problems" in banner.text
    assert f"{counts['CRITICAL']} critical" in banner.text


@needs_chromium
def test_certificates_are_ordered_by_state_then_days_left(demo: Demo, dom: Element) -> None:
    """Files follow worst state then least days left; chain rows sit right under their leaf."""
    (table,) = dom.find_all("section", id="certificates")
    rows = [r for r in table.find_all("tr") if "data-path" in r.attrs]
    files: list[tuple[str, str, float]] = []  # (path, state of its first row, days)
    for row in rows:
        if "chain" in row.classes():
            assert files and files[-1][0] == row.attrs["data-path"], "chain row not under leaf"
            continue
        days = row.find_all("td", data_label="Days left").__next__().text.strip()
        files.append((row.attrs["data-path"], row.attrs["data-state"], _days(days)))
    expected = [f["path"] for f in demo.status["certificates"]]
    assert [path for path, _, _ in files] == expected
    keys = [
        (STATE_RANK[f["state"]], f["days_left"] if f["days_left"] is not None else -1e9)
        for f in demo.status["certificates"]
    ]
    assert keys == sorted(keys), "files not in order of state, then days left"
    assert STATE_RANK[files[0][1]] == 0
    most_urgent = next(dom.find_all(id="most-urgent"))
    first = demo.status["certificates"][0]
    assert first["short_path"] in most_urgent.text
    # every validity case of the generator is on the page with its state
    by_name = {Path(p).name: (s, d) for p, s, d in files}
    assert by_name["expired.p12"][0] == "CRITICAL" and by_name["expired.p12"][1] < 0
    assert by_name["not_yet_valid.p12"][0] == "CRITICAL"
    assert by_name["expiring.p12"][0] == "WARNING"
    assert by_name["valid.p12"][0] == "OK"


def _days(text: str) -> float:
    return float("-inf") if text in ("\u2013", "-") else float(text)


@needs_chromium
def test_unreadable_files_are_rows_with_their_reason(dom: Element) -> None:
    """The corrupt file is a row saying 'corrupt', in the UNKNOWN state."""
    (row,) = [
        r for r in dom.find_all("tr") if r.attrs.get("data-path", "").endswith("/corrupt.p12")
    ]
    assert "unreadable" in row.classes()
    assert row.attrs["data-state"] == "UNKNOWN"
    assert "cannot read: corrupt" in " ".join(row.text.split())


@needs_chromium
def test_paths_are_short_with_the_full_path_on_hover(demo: Demo, dom: Element) -> None:
    """A certificate file shows its name; its title holds the whole path."""
    spans = [s for s in dom.find_all("span", class_="path") if s.text == "expired.p12"]
    assert spans
    assert spans[0].attrs["title"] == str(demo.workdir / "generated" / "certs" / "expired.p12")


@needs_chromium
def test_every_problem_is_on_the_page_in_the_json_and_in_the_log(demo: Demo, dom: Element) -> None:
    """Each problem of /status.json is an item of the page and an event of the daemon's log."""
    items = {(li.attrs["data-event"], " ".join(li.text.split())) for li in dom.find_all("li")}
    logged = {(e["event"], e.get("message")) for e in demo.events() if "state" in e}
    events = {p["event"] for p in demo.status["problems"]}
    for problem in demo.status["problems"]:
        text = " ".join(problem["text"].split())
        assert any(event == problem["event"] and text in shown for event, shown in items), problem
        assert (problem["event"], problem["text"]) in logged, problem
    # the demo's problems, by the names the issue gives them
    assert {
        "certificate_expired",
        "certificate_expiring",
        "certificate_not_yet_valid",
        "certificate_unreadable",
        "node_forgotten",
        "sync_pending",
        "hpel_detected",
        "log_missing",
        "log_is_directory",
        "apns_failing",
        "certificate_problem",
        "truststore_without_apns_root",
        "truststore_unreadable",
    } <= events


PROBLEM_STATES = {2: "CRITICAL", 1: "WARNING"}  # the generator's expected exit status


@needs_chromium
def test_each_certificate_problem_is_on_its_row_in_the_list_the_json_and_the_log(
    demo: Demo, dom: Element
) -> None:
    """Every fixture file gives exactly its problems (no_private_key ... legacy_unreadable):
    in its leaf row's Problems cell, as a certificate_problem item of the page's list, in
    /status.json (the file and its problem) and as one certificate_problem event of the log."""
    files = {f["path"]: f for f in demo.status["certificates"]}
    # the generator's files that demo.yml names (generated/certs/*.p12)
    cases = {k: c for k, c in demo.manifest["files"].items() if c["path"] in files}
    expected = {(c["path"], p) for c in cases.values() for p in c["problems"]}
    assert {p for _, p in expected} == {
        "no_private_key",
        "key_mismatch",
        "not_apple_issued",
        "sandbox_only",
        "topic_mismatch",
        "legacy_unreadable",
    }
    paths = {c["path"] for c in cases.values()}
    problems = [p for p in demo.status["problems"] if p["event"] == "certificate_problem"]
    found = {(p["facts"]["path"], p["facts"]["problem"]) for p in problems}
    assert {f for f in found if f[0] in paths} == expected  # these and no others
    section = next(dom.find_all("section", id="certificates"))
    items = list(dom.find_all("li", data_event="certificate_problem"))
    events = [e for e in demo.events() if e["event"] == "certificate_problem"]
    for case in cases.values():
        path, want = case["path"], case["problems"]
        assert files[path]["problems"] == want, path
        (leaf,) = [
            r
            for r in section.find_all("tr", data_path=path)
            if "leaf" in r.classes() or "unreadable" in r.classes()
        ]
        cell = next(leaf.find_all("td", data_label="Problems")).text.strip()
        assert cell == (", ".join(want) or files[path]["reason"] or "-"), path
        for name in want:
            state = PROBLEM_STATES[case["status"]]
            (problem,) = [
                p for p in problems if (p["facts"]["path"], p["facts"]["problem"]) == (path, name)
            ]
            assert problem["state"] == state, (path, name)
            short = files[path]["short_path"]
            shown = [
                li
                for li in items
                if f"{short}: {name}:" in " ".join(li.text.split())
                and li.attrs["data-state"] == state
            ]
            assert len(shown) == 1, (path, name)
            logged = [e for e in events if (e.get("path"), e.get("problem")) == (path, name)]
            assert len(logged) == 1, (path, name)
            assert logged[0]["state"] == state
            assert logged[0]["level"] == ("error" if state == "CRITICAL" else "warning")


@needs_chromium
def test_trust_stores_with_and_without_the_root_and_unreadable(demo: Demo, dom: Element) -> None:
    """Each trust store is a row (short path, full path on hover, node, trusts APNs roots yes/no,
    read or why not), in /status.json, and a problem on the page and in the log when it lacks
    the roots (truststore_without_apns_root, CRITICAL) or cannot be read (truststore_unreadable,
    UNKNOWN)."""
    section = next(dom.find_all("section", id="truststores"))
    stores = {t["path"]: t for t in demo.status["truststores"]}
    built = {case["path"]: case for case in demo.manifest["truststores"].values()}
    broken = str(demo.broken_truststore)
    assert set(stores) == {*built, broken}
    assert {c["trusts_apns"] for c in built.values()} == {0, 1}  # both kinds are in the fixture
    problems = {(p["event"], p["facts"].get("path")): p for p in demo.status["problems"]}
    items = {(li.attrs["data-event"], " ".join(li.text.split())) for li in dom.find_all("li")}
    logged = {(e["event"], e.get("path")): e for e in demo.events()}
    rows = [r for r in section.find_all("tr") if "data-path" in r.attrs]
    assert [r.attrs["data-path"] for r in rows] == list(stores), "rows not in the JSON's order"
    assert [STATE_RANK[t["state"]] for t in stores.values()] == sorted(
        STATE_RANK[t["state"]] for t in stores.values()
    )
    for path, case in built.items():
        (row,) = [r for r in rows if r.attrs["data-path"] == path]
        trusts = bool(case["trusts_apns"])
        state = "OK" if trusts else "CRITICAL"
        assert (stores[path]["trusts_apns"], stores[path]["state"]) == (trusts, state)
        assert (row.attrs["data-trusts-apns"], row.attrs["data-state"]) == (
            "yes" if trusts else "no",
            state,
        )
        answer = next(row.find_all("td", data_label="Trusts APNs roots")).text
        assert answer.startswith("yes: " if trusts else "no: "), answer
        assert next(row.find_all("td", data_label="Read")).text == "read"
        assert next(row.find_all("td", data_label="Node")).text == (case["node"] or "-")
        (span,) = row.find_all("span", class_="path")
        assert span.attrs["title"] == path and span.text == stores[path]["short_path"]
        assert len(span.text) < len(path)
        event = ("truststore_without_apns_root", path)
        if trusts:
            assert event not in problems and event not in logged
            continue
        problem = problems[event]
        assert problem["state"] == "CRITICAL"
        text = " ".join(problem["text"].split())
        assert sum(ev == event[0] and text in shown for ev, shown in items) == 1, text
        assert logged[event]["level"] == "error"
        assert logged[event]["message"] == problem["text"]
        assert logged[event]["node"] == case["node"]
    # the store that cannot be read: UNKNOWN with its reason, its HTML path kept as text
    (row,) = [r for r in rows if r.attrs["data-path"] == broken]
    assert row.attrs["data-state"] == "UNKNOWN" and row.attrs["data-trusts-apns"] == "unknown"
    assert "cannot read: corrupt" in " ".join(row.text.split())
    (span,) = row.find_all("span", class_="path")
    assert span.attrs["title"] == broken and HOSTILE in span.attrs["title"]
    assert not list(row.find_all("img"))
    assert (stores[broken]["read_ok"], stores[broken]["trusts_apns"]) == (False, None)
    event = ("truststore_unreadable", broken)
    assert problems[event]["state"] == "UNKNOWN"
    assert problems[event]["facts"]["reason"] == "corrupt"
    text = " ".join(problems[event]["text"].split())
    assert sum(ev == event[0] and text in shown for ev, shown in items) == 1, text
    assert logged[event]["reason"] == "corrupt"
    assert logged[event]["message"] == problems[event]["text"]


@needs_chromium
def test_cells_servers_and_readers_are_shown(demo: Demo, dom: Element) -> None:
    """The forgotten node, the live server's failures of the last hour, the missing log."""
    cells = next(dom.find_all("section", id="cells"))
    node3 = [r for r in cells.find_all("tr") if "stproxyNode3" in r.text]
    assert node3 and node3[0].attrs["data-state"] == "CRITICAL"
    assert "no apns-prod.pkcs12" in node3[0].text
    servers = next(dom.find_all("section", id="servers"))
    (live,) = [r for r in servers.find_all("tr") if HOSTILE_SERVER in r.text]
    assert live.attrs["data-state"] == "CRITICAL"
    assert next(live.find_all("td", data_label="Last hour")).text == "1"
    readers = next(dom.find_all("section", id="readers"))
    missing = [r for r in readers.find_all("tr") if "/missing/" in r.attrs.get("data-path", "")]
    assert missing and "missing" in next(missing[0].find_all("td", data_label="File")).text
    directory = [
        r for r in readers.find_all("tr") if r.attrs.get("data-path", "").endswith("a-directory")
    ]
    assert "a directory" in directory[0].text


@needs_chromium
def test_untrusted_values_are_text_not_markup(demo: Demo, dom: Element) -> None:
    """A certificate CN, a server name and a log path made of HTML stay text: no element."""
    assert not list(dom.find_all("script"))
    assert not list(dom.find_all("img"))
    page_text = dom.text
    assert HOSTILE in page_text
    assert HOSTILE_SERVER in page_text
    titles = [e.attrs.get("title", "") for e in dom.find_all()]
    assert any(HOSTILE in title for title in titles)


@needs_chromium
@pytest.mark.parametrize(
    ("name", "size"), [("status-1280.png", "1280,900"), ("status-phone.png", "390,844")]
)
def test_screenshots_show_the_state_at_the_top(demo: Demo, name: str, size: str) -> None:
    """Screenshots kept as artifacts; the banner's colour fills the top of the first screen."""
    path = artifacts() / name
    path.unlink(missing_ok=True)
    chromium(f"--screenshot={path}", f"--window-size={size}", f"http://127.0.0.1:{demo.port}/")
    width, height, edge = png_left_edge(path)
    assert (width, height) == tuple(int(v) for v in size.split(","))
    red = BANNER_RGB["CRITICAL"]
    for y in (2, 40, 100):
        assert edge[y][3:6] == red, f"row {y} of {name} is not the CRITICAL banner"
    assert edge[height - 5][3:6] != red, "the banner fills the whole first screen"


@pytest.fixture(autouse=True)
def _attach_daemon_log(request: pytest.FixtureRequest) -> None:
    """A failing test shows the daemon's log."""
    if "demo" in request.fixturenames:
        demo = request.getfixturevalue("demo")
        request.node.stash.setdefault(ATTACHED_FILES, []).append(demo.stderr)


def test_a_missing_log_and_a_directory_are_metrics_and_ready_keeps_its_meaning(demo: Demo) -> None:
    """/-/ready is 200 with a missing log (read once: nothing there); the metrics say which."""
    missing = str(demo.workdir / "missing" / "STProxyServer" / "SystemOut.log")
    directory = str(demo.workdir / "a-directory")
    with HTTP.open(f"http://127.0.0.1:{demo.port}/-/ready", timeout=10) as response:
        assert response.status == 200
    samples = scrape(demo.port)
    assert samples[key("stproxy_monitor_file_present", path=missing)] == 0
    assert samples[key("stproxy_monitor_path_is_directory", path=directory)] == 1
    assert samples[key("stproxy_monitor_file_present", path=directory)] == 0
    assert samples[key("stproxy_monitor_read_errors_total", path=directory)] == 0
    logged = {(e["event"], e.get("path")) for e in demo.events()}
    assert ("log_missing", missing) in logged
    assert ("log_is_directory", directory) in logged
