"""`stproxy-monitor probe` against the local APNs stand-in: every result of the contract's
table, its exit status and JSON fields, the step lines, and the CONNECT proxy in front."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from apns_standin import P12_PASSWORD, TOPIC, ApnsStandIn, ConnectProxy, ProbeWorld, loopback_only

from stproxy_monitor.cli import main
from stproxy_monitor.commands.probe import ProbeDefaults, ProbeFlags, build_spec


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these tests connects beyond 127.0.0.1."""
    loopback_only(monkeypatch)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeWorld]:
    """The stand-ins, started once for the module."""
    built = ProbeWorld(tmp_path_factory.mktemp("probe"))
    yield built
    built.close()


def probe(
    world: ProbeWorld,
    server: str = "apns",
    *extra: str,
    cert: str = "good",
    host: str = "localhost",
    environ: dict[str, str] | None = None,
    json_output: bool = True,
) -> tuple[int, Any, str]:
    """Run the command in-process: (exit status, the JSON object or text, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "probe",
        "--endpoint",
        f"{host}:{world.port(server)}",
        "--ca-file",
        str(world.server_ca_file),
        "--password-file",
        str(world.password_file),
        "--timeout",
        "3",
        *(["--json"] if json_output else []),
        *extra,
        str(world.p12[cert]),
    ]
    status = main(argv, stdout=out, stderr=err, environ=environ or {})
    text = out.getvalue()
    assert P12_PASSWORD not in text + err.getvalue()
    return status, json.loads(text) if json_output and text else text, err.getvalue()


class Case(NamedTuple):
    """One row: the server, extra flags and certificate; the result, exit status and fields."""

    server: str
    extra: tuple[str, ...]
    cert: str
    result: str
    exit_status: int
    status: int | None = None
    reason: str | None = None
    alert: str | None = None


CASES = {
    "400-bad-device-token": Case("apns", (), "good", "accepted", 0, 400, "BadDeviceToken"),
    "200": Case("apns", ("--topic", "case.ok200"), "good", "accepted", 0, 200),
    "403-bad-certificate": Case(
        "apns", ("--topic", "case.bad-certificate"), "good", "certificate_rejected", 2, 403,
        "BadCertificate",
    ),
    "alert-unknown-ca": Case(
        "apns", (), "foreign", "certificate_rejected", 2, alert="unknown_ca"
    ),
    "alert-expired-tls13": Case(
        "apns", (), "expired", "certificate_rejected", 2, alert="certificate_expired"
    ),
    "alert-expired-tls12": Case(
        "apns12", (), "expired", "certificate_rejected", 2, alert="certificate_expired"
    ),
    "403-environment": Case(
        "apns", ("--topic", "case.environment"), "good", "wrong_environment", 2, 403,
        "BadCertificateEnvironment",
    ),
    "goaway-environment": Case(
        "apns", ("--topic", "case.goaway"), "good", "wrong_environment", 2, None,
        "BadCertificateEnvironment",
    ),
    "400-topic": Case(
        "apns", ("--topic", "case.topic"), "good", "topic_rejected", 2, 400, "TopicDisallowed"
    ),
    "untrusted-ca": Case("untrusted", (), "good", "server_untrusted", 2),
    "untrusted-name": Case("wrong_name", (), "good", "server_untrusted", 2),
    "closed-port": Case("closed", (), "good", "unreachable", 3),
    "silent": Case("silent", ("--timeout", "1"), "good", "timed_out", 3),
    "503-shutdown": Case(
        "apns", ("--topic", "case.shutdown"), "good", "apns_unavailable", 3, 503, "Shutdown"
    ),
    "no-h2": Case("no_h2", (), "good", "other", 3),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_result(world: ProbeWorld, case: Case) -> None:
    """Each case gives its result, exit status and the contract's JSON fields."""
    code, report, _ = probe(world, case.server, *case.extra, cert=case.cert)
    assert (report["result"], code) == (case.result, case.exit_status), report["message"]
    assert report["endpoint"] == f"localhost:{world.port(case.server)}"
    fields = (report["status"], report["apns_reason"], report["tls_alert"])
    assert fields == (case.status, case.reason, case.alert)
    assert 0 < report["duration_seconds"] < 30
    assert report["message"]
    assert report["exit_status"] == case.exit_status


def test_the_request_is_one_push_to_the_dummy_token(world: ProbeWorld) -> None:
    """POST /3/device/<64 zeros> with the certificate's UID as topic, SNI the endpoint's name."""
    standin = world.servers["apns"]
    assert isinstance(standin, ApnsStandIn)
    before = len(standin.requests)
    code, _, _ = probe(world)
    assert code == 0
    request = standin.requests[before]
    assert request.sni == "localhost"
    assert request.headers[":path"] == "/3/device/" + "0" * 64
    assert request.headers[":method"] == "POST"
    assert request.headers["apns-topic"] == TOPIC
    assert request.headers["apns-push-type"] == "background"
    assert json.loads(request.body) == {"aps": {"content-available": 1}}
    assert len(standin.requests) == before + 1


def test_text_output_is_one_line_per_step(world: ProbeWorld) -> None:
    """connect, TLS, HTTP/2 and the verdict, each with what was seen."""
    code, text, _ = probe(world, json_output=False)
    lines = text.splitlines()
    port = world.port("apns")
    assert code == 0
    assert lines[0].startswith("client certificate ") and "topic com.ibm.lotus.sametime" in lines[0]
    assert lines[1].startswith(f"connect localhost:{port} (127.0.0.1) ... ok ")
    assert lines[2].startswith("TLS 1.3 ... ok, server certificate ")
    assert "valid until " in lines[2]
    assert lines[3].startswith(
        "HTTP/2 POST /3/device/000\N{HORIZONTAL ELLIPSIS} ... 400 BadDeviceToken"
    )
    assert lines[4].startswith("certificate accepted by APNs (topic com.ibm.lotus.sametime)")


def test_json_reports_the_server_certificate(world: ProbeWorld) -> None:
    """The server's chain and not-after are in the JSON object."""
    _, report, _ = probe(world)
    server = report["server_certificate"]
    assert server["not_after"].startswith("3000-01-01")  # trustme's leaf
    assert len(server["chain"]) == 2 and server["issuer"] == server["chain"][1]
    assert report["tls_version"] == "TLS 1.3"


def test_untrusted_server_says_what_it_presented(world: ProbeWorld) -> None:
    """A server certificate that does not verify is named in the words."""
    _, report, _ = probe(world, "untrusted")
    assert "unable to get local issuer certificate" in report["message"]
    assert "the server presented" in report["message"]


def test_no_h2_is_said_in_words(world: ProbeWorld) -> None:
    """An endpoint without h2 is `other`, and the words say it chose http/1.1."""
    _, report, _ = probe(world, "no_h2")
    assert "does not speak HTTP/2" in report["message"]
    assert "the server agreed on no ALPN protocol" in report["message"]


def test_unreadable_certificate_is_other(world: ProbeWorld, tmp_path: Path) -> None:
    """A wrong password is `other` (exit 3), said with the file's name; nothing is sent."""
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not-it\n")
    code, report, _ = probe(world, "apns", "--password-file", str(wrong))
    assert (report["result"], code) == ("other", 3)
    assert "the password given is wrong" in report["message"]


def test_https_proxy_from_the_environment(world: ProbeWorld) -> None:
    """HTTPS_PROXY sends the probe through the CONNECT proxy."""
    proxy = world.servers["proxy"]
    assert isinstance(proxy, ConnectProxy)
    before = len(proxy.tunnels)
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}"}
    code, report, _ = probe(world, environ=env)
    assert (code, report["result"]) == (0, "accepted")
    assert report["proxy"] == f"127.0.0.1:{proxy.port}"
    assert proxy.tunnels[before:] == [f"localhost:{world.port('apns')}"]
    assert [s["step"] for s in report["steps"]][:3] == ["certificate", "connect", "proxy"]


def test_no_proxy_goes_direct(world: ProbeWorld) -> None:
    """NO_PROXY naming the endpoint's host bypasses the proxy, as curl does."""
    proxy = world.servers["proxy"]
    assert isinstance(proxy, ConnectProxy)
    before = len(proxy.tunnels)
    env = {"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "example.org,localhost"}
    code, report, _ = probe(world, environ=env)
    assert (code, report["proxy"]) == (0, None)
    assert len(proxy.tunnels) == before


def test_a_refusing_proxy_is_unreachable(world: ProbeWorld) -> None:
    """A proxy that answers 403 to CONNECT: unreachable, with the proxy's answer."""
    port = world.port("refusing_proxy")
    code, report, _ = probe(world, "apns", "--proxy", f"http://127.0.0.1:{port}")
    assert (report["result"], code) == ("unreachable", 3)
    assert "403 Forbidden" in report["message"]


def test_proxy_credentials_are_sent_and_never_shown(world: ProbeWorld) -> None:
    """user:password in the proxy URL become Proxy-Authorization, and appear nowhere."""
    port = world.port("auth_proxy")
    code, report, _ = probe(world, "apns", "--proxy", f"http://probe:s3cret@127.0.0.1:{port}")
    assert (report["result"], code) == ("accepted", 0)
    code, report, _ = probe(world, "apns", "--proxy", f"http://probe:wrong@127.0.0.1:{port}")
    assert (report["result"], code) == ("unreachable", 3)
    assert "407" in report["message"]
    assert "s3cret" not in json.dumps(report) and "wrong@" not in json.dumps(report)


def test_no_repr_on_the_way_to_the_probe_shows_the_proxy_url() -> None:
    """The flags, the config's defaults and the spec built from them hide the proxy URL (it may
    hold user:password), as ProbeConfig does."""
    url = "http://probe:s3cret@proxy.example.com:3128"
    flags = ProbeFlags(p12file="/x.p12", proxy=url)
    defaults = ProbeDefaults(proxy=url)
    for shown in (flags, defaults, build_spec(flags, defaults)):
        assert "s3cret" not in repr(shown) and "proxy.example.com" not in repr(shown), shown


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--sandbox", "--endpoint", "a:1"], "--sandbox and --endpoint"),
        (["--endpoint", "no-port"], "--endpoint: must be HOST:PORT"),
        (["--timeout", "0"], "--timeout: must be more than 0"),
        (["--proxy", "socks5://p:1"], "--proxy: only http://"),
    ],
)
def test_bad_flags_exit_2(world: ProbeWorld, flags: list[str], problem: str) -> None:
    """Bad flags: exit 2 with one line per problem, nothing probed."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["probe", *flags, str(world.p12["good"])], stdout=out, stderr=err, environ={})
    assert code == 2
    assert problem in err.getvalue()
    assert out.getvalue() == ""


def check_config(world: ProbeWorld, tmp_path: Path, *, topic: str | None = None) -> Path:
    """A config with one certificate and a probe: section against the stand-in."""
    config = tmp_path / "check.yml"
    lines = [
        "certificates:",
        f"  - path: {world.p12['good']}",
        f"    password_file: {world.password_file}",
        "probe:",
        f"  endpoint: localhost:{world.port('apns')}",
        f"  ca_file: {world.server_ca_file}",
        "  timeout: 3",
    ]
    config.write_text("\n".join([*lines, *([f"  topic: {topic}"] if topic else [])]) + "\n")
    return config


def test_check_gains_a_probe_line(world: ProbeWorld, tmp_path: Path) -> None:
    """check with probe: OK names the accepted probe and gives its duration as perfdata."""
    out = io.StringIO()
    code = main(["check", "-c", str(check_config(world, tmp_path))], stdout=out, environ={})
    text = out.getvalue()
    assert code == 0, text
    assert f"APNs accepted the certificate (localhost:{world.port('apns')})" in text
    assert "'probe_duration'=" in text


def test_check_probe_rejected_is_critical(world: ProbeWorld, tmp_path: Path) -> None:
    """A certificate result of the probe makes the check CRITICAL, with Apple's words."""
    out = io.StringIO()
    config = check_config(world, tmp_path, topic="case.bad-certificate")
    code = main(["check", "-c", str(config)], stdout=out, environ={})
    text = out.getvalue()
    assert code == 2, text
    assert text.startswith("STPROXY CRITICAL - ")
    assert f"APNs probe of localhost:{world.port('apns')}: certificate_rejected" in text


def test_probe_command_reads_the_config(world: ProbeWorld, tmp_path: Path) -> None:
    """probe -c takes endpoint, certificate, password, trust and topic from the config."""
    out = io.StringIO()
    config = check_config(world, tmp_path, topic="case.topic")
    code = main(["probe", "--json", "-c", str(config)], stdout=out, environ={})
    report = json.loads(out.getvalue())
    assert (code, report["result"], report["topic"]) == (2, "topic_rejected", "case.topic")
    out = io.StringIO()
    code = main(["probe", "--json", "-c", str(config), "--topic", "x.y"], stdout=out, environ={})
    assert (code, json.loads(out.getvalue())["topic"]) == (0, "x.y")  # a flag wins


def test_a_certificate_glob_in_the_config_probes_its_first_match(
    world: ProbeWorld, tmp_path: Path
) -> None:
    """certificates: a glob (as for every node's copy): probe -c uses its first match."""
    config = tmp_path / "glob.yml"
    config.write_text(
        f"certificates:\n  - path: {world.p12['good'].parent}/goo*.p12\n"
        f"    password_file: {world.password_file}\n"
        f"probe:\n  endpoint: localhost:{world.port('apns')}\n  ca_file: {world.server_ca_file}\n"
    )
    out = io.StringIO()
    code = main(["probe", "--json", "-c", str(config)], stdout=out, environ={})
    assert (code, json.loads(out.getvalue())["result"]) == (0, "accepted")
