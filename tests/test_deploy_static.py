"""Checks of the files under deploy/ with the real promtool, amtool and systemd-analyze."""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
RULES = PROM / "rules" / "stproxy-monitor.rules.yml"
RULE_TESTS = PROM / "tests" / "stproxy-monitor.rules.test.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "stproxy-monitor-dashboard.json"
UNIT = DEPLOY / "systemd" / "stproxy-monitor.service"
WIN = DEPLOY / "windows"

RUNBOOK = "https://github.com/stproxy-monitor/stproxy-monitor/blob/main/README.md#runbook-"

# Every metric the daemon exposes (CONTRACT.md plus the self-metrics of issue 4), and `up`.
KNOWN_METRICS = frozenset(
    {
        "up",
        "stproxy_monitor_build_info",
        "stproxy_monitor_file_present",
        "stproxy_monitor_last_read_timestamp_seconds",
        "stproxy_monitor_last_record_timestamp_seconds",
        "stproxy_monitor_read_errors_total",
        "stproxy_monitor_unparsed_timestamps_total",
        "stproxy_monitor_config_last_reload_successful",
        "stproxy_monitor_hpel_detected",
        "stproxy_apns_connection_failures_total",
        "stproxy_apns_last_connection_failure_timestamp_seconds",
        "stproxy_server_start_timestamp_seconds",
        "stproxy_log_messages_total",
        "stproxy_apns_certificate_not_after_timestamp_seconds",
        "stproxy_apns_certificate_not_before_timestamp_seconds",
        "stproxy_apns_certificate_expiry_days",
        "stproxy_apns_certificate_info",
        "stproxy_apns_certificate_read_ok",
        "stproxy_apns_certificate_read_errors_total",
        "stproxy_apns_certificate_distinct",
        "stproxy_apns_certificate_missing",
        "stproxy_apns_certificate_sync_pending",
        "stproxy_apns_certificate_restart_pending",
        "stproxy_apns_certificate_problem",
        "stproxy_apns_truststore_trusts_apns",
        "stproxy_apns_truststore_read_ok",
        "stproxy_websphere_ssl_handshake_failures_total",
        "stproxy_apns_legacy_endpoint",
        "stproxy_apns_probe_result",
        "stproxy_apns_probe_result_streak",
        "stproxy_apns_probe_last_run_timestamp_seconds",
        "stproxy_apns_probe_interval_seconds",
        "stproxy_apns_probe_server_certificate_not_after_timestamp_seconds",
        "stproxy_apns_probes_total",
        "stproxy_apns_probe_duration_seconds",
    }
)
KNOWN_LABELS = frozenset(
    {
        "instance",
        "job",
        "version",
        "path",
        "server",
        "reason",
        "severity",
        "cell",
        "node",
        "source",
        "serial",
        "subject",
        "issuer",
        "sha256",
        "environment",
        "topic",
        "problem",
        "target",
        "endpoint",
        "result",
    }
)
EXPECTED_ALERTS = frozenset(
    {
        "ApnsCertificateExpiringSoon",
        "ApnsCertificateExpiringCritical",
        "ApnsCertificateExpired",
        "ApnsCertificateUnreadable",
        "ApnsCertificateNodeForgotten",
        "ApnsCertificateMissingOnNode",
        "ApnsCertificateSyncPending",
        "ApnsCertificateRestartPending",
        "ApnsConnectionFailuresSustained",
        "ApnsConnectionFailing",
        "StproxyLogStale",
        "StproxyLogMissing",
        "StproxyHpelEnabled",
        "StproxyMonitorDown",
        "StproxyMonitorConfigReloadFailed",
        "ApnsCertificateProblem",
        "ApnsCertificateLegacyUnreadable",
        "ApnsTruststoreWithoutRoot",
        "ApnsTruststoreUnreadable",
        "ApnsServerUntrusted",
        "ApnsLegacyEndpoint",
        "ApnsProbeCertificateRejected",
        "ApnsProbeServerUntrusted",
        "ApnsProbeUnreachable",
        "ApnsProbeInconclusive",
        "ApnsProbeNotRunning",
        "ApnsServerCertificateExpiringSoon",
    }
)
# Informational only: Apple renews its own server certificate (issue 15).
INFO_ALERTS = frozenset({"ApnsServerCertificateExpiringSoon"})
_PROMQL_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


# ----------------------------------------------------------------------------- helpers


def tool(name: str) -> str:
    """Return the path of a command-line tool, or skip the test when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (Debian: apt-get install prometheus "
            "prometheus-alertmanager systemd)"
        )
    return path


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command and return its result with stdout and stderr as text."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    """Fail with the tool's own output when it exited non-zero."""
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"


def load_yaml(path: Path) -> Any:
    """Load one YAML document."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    """All rules of the shipped rules file."""
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def dashboard() -> dict[str, Any]:
    """The shipped Grafana dashboard."""
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of the dashboard, including those nested in collapsed rows, but no rows."""
    found = []
    for p in dash["panels"]:
        if p["type"] == "row":
            found.extend(p.get("panels", []))
        else:
            found.append(p)
    return found


def dashboard_exprs(dash: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard's panels and annotations."""
    exprs = [t["expr"] for p in panels(dash) for t in p["targets"]]
    exprs += [a["expr"] for a in dash["annotations"]["list"] if "expr" in a]
    return exprs


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's variables so that the expression is plain PromQL."""
    for var, value in _GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)


def metric_names(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (identifiers that are not functions or labels)."""
    e = _strip_strings(expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\b\d+(\.\d+)?(ms|[smhdwy])?\b", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end() :].lstrip().startswith("(") or m.group().lower() in _PROMQL_KEYWORDS:
            continue
        names.add(m.group())
    return names


def label_names(expr: str) -> set[str]:
    """Label names used in matchers and in by/without/on/ignoring/group_* clauses."""
    e = _strip_strings(expr)
    names = set()
    for body in re.findall(r"\{([^}]*)\}", e):
        names |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body))
    for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", e):
        names |= {n.strip() for n in body.split(",") if n.strip()}
    return names


def all_promql() -> dict[str, str]:
    """Every PromQL expression shipped under deploy/, keyed by where it comes from."""
    exprs = {f"rule {r['alert']}": r["expr"] for r in rules()}
    dash = dashboard()
    for i, e in enumerate(dashboard_exprs(dash)):
        exprs[f"dashboard expr {i}"] = grafana_to_promql(e)
    return exprs


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Parse a systemd unit into {key: [values in order]} over all sections."""
    settings: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def make_tls_files(directory: Path) -> dict[str, Path]:
    """Write a self-signed CA, a server certificate and its key for web-config checks."""
    import datetime as dt  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stproxy1.example.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("stproxy1.example.com")]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    files = {
        "cert": directory / "server.pem",
        "key": directory / "server-key.pem",
        "ca": directory / "ca.pem",
    }
    files["cert"].write_bytes(pem)
    files["ca"].write_bytes(pem)
    files["key"].write_bytes(key_pem)
    return files


# ----------------------------------------------------------------------------- Prometheus


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-tls.yml"])
def test_prometheus_config_passes_promtool(name: str, tmp_path: Path) -> None:
    """promtool check config accepts each example config together with its rule file."""
    promtool = tool("promtool")
    shutil.copytree(PROM / "rules", tmp_path / "rules")
    text = (PROM / name).read_text(encoding="utf-8")
    # The TLS example names files under /etc/prometheus; promtool requires them to exist.
    for ref in sorted(set(re.findall(r"/etc/prometheus/stproxy-monitor/[\w.-]+", text))):
        local = tmp_path / Path(ref).name
        local.write_text("placeholder\n", encoding="utf-8")
        text = text.replace(ref, str(local))
    config = tmp_path / name
    config.write_text(text, encoding="utf-8")
    result = run(promtool, "check", "config", "--lint=all", "--lint-fatal", str(config))
    assert_ok(result)
    assert "1 rule files found" in result.stdout


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-tls.yml"])
def test_prometheus_config_scrapes_the_daemon(name: str) -> None:
    """Both example configs scrape job stproxy-monitor every 30s on port 10116 with the rules."""
    config = load_yaml(PROM / name)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "stproxy-monitor"]
    assert job["scrape_interval"] == "30s"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets and all(t.endswith(":10116") for t in targets)
    assert config["rule_files"] == ["rules/stproxy-monitor.rules.yml"]
    assert config["alerting"]["alertmanagers"]
    if name == "prometheus-tls.yml":
        assert job["scheme"] == "https"
        assert {"username", "password_file"} <= set(job["basic_auth"])
        assert {"ca_file", "cert_file", "key_file"} <= set(job["tls_config"])
        assert job["tls_config"].get("insecure_skip_verify") is False


def test_relabelling_turns_host_names_into_short_instances(tmp_path: Path) -> None:
    """The relabelling maps stproxy1.example.com:10116 to instance stproxy1 and keeps IPs whole."""
    promtool = tool("promtool")
    config = load_yaml(PROM / "prometheus.yml")
    config.pop("rule_files")
    job = config["scrape_configs"][0]
    job["static_configs"] = [
        {
            "targets": [
                "stproxy1.example.com:10116",
                "stproxy2:10116",
                "st-proxy3.corp.example.com:10116",
                "192.0.2.10:10116",
                "[2001:db8::1]:10116",
            ]
        }
    ]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    # Static targets are there at once; without --timeout promtool waits its default 30s.
    result = run(
        promtool, "check", "service-discovery", "--timeout=2s", str(path), "stproxy-monitor"
    )
    assert_ok(result)
    found = {t["labels"]["__address__"]: t["labels"]["instance"] for t in json.loads(result.stdout)}
    assert found == {
        "stproxy1.example.com:10116": "stproxy1",
        "stproxy2:10116": "stproxy2",
        "st-proxy3.corp.example.com:10116": "st-proxy3",
        "192.0.2.10:10116": "192.0.2.10:10116",
        "[2001:db8::1]:10116": "[2001:db8::1]:10116",
    }


def test_rules_pass_promtool_check_rules() -> None:
    """promtool check rules with every linter accepts the rule file."""
    promtool = tool("promtool")
    result = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert_ok(result)
    assert f"{len(EXPECTED_ALERTS)} rules found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    """promtool test rules runs the shipped unit tests successfully."""
    promtool = tool("promtool")
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert_ok(result)
    assert "SUCCESS" in result.stdout


def test_rules_define_exactly_the_expected_alerts() -> None:
    """The rule file defines the alerts of issue 4 and of the probe (15), and nothing else."""
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_ALERTS


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    """Each alert carries a severity label, a summary, a templated description and its runbook."""
    for rule in rules():
        name = rule["alert"]
        allowed = {"info"} if name in INFO_ALERTS else {"warning", "critical"}
        assert rule["labels"]["severity"] in allowed, name
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url"}, name
        assert ann["runbook_url"] == RUNBOOK + name.lower(), name
        assert "$labels." in ann["summary"] + ann["description"], name
        assert len(ann["description"]) > 150, f"{name}: description too short to act on"


def test_expiry_descriptions_give_the_renewal_steps() -> None:
    """The expiry alerts tell the operator the whole renewal rollout from DOMAIN.md."""
    for rule in rules():
        if not rule["alert"].startswith(("ApnsCertificateExpir",)):
            continue
        text = " ".join(rule["annotations"]["description"].split())
        for step in (
            "apns-prod.pkcs12",
            "deployment manager profile",
            "every node",
            "full resynchronize",
            "node agent",
            "STProxyServer",
        ):
            assert step in text, f"{rule['alert']}: {step!r}"


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    """The promtool tests check every alert at least once firing and once not firing."""
    tests = load_yaml(RULE_TESTS)["tests"]
    firing, quiet = set(), set()
    for group in tests:
        for check in group.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == EXPECTED_ALERTS
    assert quiet == EXPECTED_ALERTS


def test_expiry_boundaries_are_unit_tested() -> None:
    """The unit tests hold series at 30, 29.9, 7, 6.9, 0 and -0.1 days left."""
    tests = load_yaml(RULE_TESTS)["tests"]
    values = {
        s["values"].split("x")[0]
        for group in tests
        for s in group["input_series"]
        if s["series"].startswith("stproxy_apns_certificate_expiry_days{")
    }
    assert {"30.0", "29.9", "7.0", "6.9", "0.0", "-0.1"} <= values


def test_promql_uses_only_known_metric_and_label_names() -> None:
    """Every metric and label name in the rules and the dashboard exists, so a typo fails here."""
    for where, expr in all_promql().items():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert names <= KNOWN_METRICS, f"{where}: unknown metric {names - KNOWN_METRICS}"
        labels = label_names(expr)
        assert labels <= KNOWN_LABELS, f"{where}: unknown label {labels - KNOWN_LABELS}"
    # Metric names quoted inside annotation templates and panel texts count as well.
    for path in (RULES, DASHBOARD):
        quoted = set(re.findall(r"\bstproxy_[a-z0-9_]+", path.read_text(encoding="utf-8")))
        assert quoted <= KNOWN_METRICS, f"{path.name}: unknown {quoted - KNOWN_METRICS}"


def test_metric_name_check_catches_a_typo() -> None:
    """The metric-name extraction finds a misspelt name and ignores functions and labels."""
    expr = (
        'sum by (reason) (rate(stproxy_apns_conection_failures_total{server=~"a"}[5m])) '
        "> 0 and on (instance) up == 1"
    )
    assert metric_names(expr) == {"stproxy_apns_conection_failures_total", "up"}
    assert label_names(expr) == {"reason", "server", "instance"}


# ----------------------------------------------------------------------------- Alertmanager


def test_alertmanager_config_passes_amtool() -> None:
    """amtool check-config accepts the Alertmanager example."""
    amtool = tool("amtool")
    result = run(amtool, "check-config", str(ALERTMANAGER))
    assert_ok(result)
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["severity=critical", "alertname=ApnsCertificateExpired", "instance=stproxy1"],
            "sametime-oncall",
        ),
        (["severity=warning", "alertname=ApnsCertificateExpiringSoon"], "sametime-admins"),
        (["alertname=SomethingElse"], "sametime-admins"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    """Critical alerts reach the on-call receiver and everything else the administrators."""
    amtool = tool("amtool")
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert_ok(result)


def test_alertmanager_groups_by_alertname_cell_instance() -> None:
    """The top route groups notifications by alertname, cell and instance."""
    route = load_yaml(ALERTMANAGER)["route"]
    assert route["group_by"] == ["alertname", "cell", "instance"]


def test_alertmanager_inhibits_warning_for_the_same_certificate(tmp_path: Path) -> None:
    """A running Alertmanager mutes the warning of a certificate that is critical, not others."""
    binary = shutil.which("prometheus-alertmanager") or tool("alertmanager")
    config = load_yaml(ALERTMANAGER)
    # Receivers without integrations: nothing is ever sent anywhere during the test.
    config["receivers"] = [{"name": r["name"]} for r in config["receivers"]]
    config["global"] = {"resolve_timeout": "5m"}
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v2/alerts"
    log = (tmp_path / "alertmanager.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        cert = {
            "instance": "stproxy1",
            "job": "stproxy-monitor",
            "source": "file",
            "path": "/etc/stproxy-monitor/apns-prod.pkcs12",
            "serial": "01",
        }
        other = {**cert, "serial": "02"}
        alerts = [
            {
                "labels": {
                    **cert,
                    "alertname": "ApnsCertificateExpiringCritical",
                    "severity": "critical",
                }
            },
            {"labels": {**cert, "alertname": "ApnsCertificateExpiringSoon", "severity": "warning"}},
            {
                "labels": {
                    **other,
                    "alertname": "ApnsCertificateExpiringSoon",
                    "severity": "warning",
                }
            },
            {
                "labels": {
                    "instance": "stproxy1",
                    "job": "stproxy-monitor",
                    "alertname": "StproxyMonitorConfigReloadFailed",
                    "severity": "warning",
                }
            },
        ]
        body = json.dumps(alerts).encode()
        deadline = time.monotonic() + 20
        while True:
            try:
                req = urllib.request.Request(
                    url, data=body, method="POST", headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail((tmp_path / "alertmanager.log").read_text(encoding="utf-8"))
                time.sleep(0.2)
        expected = {
            ("ApnsCertificateExpiringCritical", "01"): "active",
            ("ApnsCertificateExpiringSoon", "01"): "suppressed",
            ("ApnsCertificateExpiringSoon", "02"): "active",
            ("StproxyMonitorConfigReloadFailed", None): "active",
        }
        # The inhibitor takes in new alerts asynchronously: poll briefly until it has.
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(url, timeout=5) as resp:
                state = {
                    (a["labels"]["alertname"], a["labels"].get("serial")): a["status"]["state"]
                    for a in json.load(resp)
                }
            if state == expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    assert state == expected


# ----------------------------------------------------------------------------- Grafana


def test_dashboard_is_templated_on_datasource_instance_and_server() -> None:
    """The dashboard takes Prometheus from a datasource variable and filters instance and server."""
    dash = dashboard()
    assert dash["uid"] == "stproxy-monitor"
    assert dash["schemaVersion"] >= 36  # Grafana 10 and later
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "server"):
        var = variables[name]
        assert var["type"] == "query" and var["datasource"]["uid"] == "${datasource}"
        assert var["multi"] and var["includeAll"]
        metric = re.match(r"label_values\((\w+)", var["definition"])
        assert metric and metric.group(1) in KNOWN_METRICS


def test_dashboard_panels_have_queries() -> None:
    """Every panel uses the datasource variable and has targets with a non-empty expression."""
    dash = dashboard()
    ids = [p["id"] for p in dash["panels"]] + [
        q["id"] for p in dash["panels"] for q in p.get("panels", [])
    ]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels(dash):
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], title
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), title
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target["datasource"]["uid"] == "${datasource}", title
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, title


def test_dashboard_shows_everything_issue_4_asks_for() -> None:
    """The dashboard has panels for expiry, not-after, failures, rollout and reader health."""
    dash = dashboard()
    used = set().union(*(metric_names(grafana_to_promql(e)) for e in dashboard_exprs(dash)))
    assert used >= KNOWN_METRICS - {"stproxy_apns_certificate_not_before_timestamp_seconds"}
    (days,) = [p for p in panels(dash) if p["title"] == "Days left per certificate"]
    steps = [s["value"] for s in days["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert {7, 30} <= set(steps)
    assert any("rate(stproxy_apns_connection_failures_total" in e for e in dashboard_exprs(dash))


def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard expression, as a recording rule with variables filled in."""
    promtool = tool("promtool")
    dash = dashboard()
    group = {
        "name": "dashboard",
        "rules": [
            {"record": f"dashboard:expr_{i}", "expr": grafana_to_promql(e)}
            for i, e in enumerate(dashboard_exprs(dash))
        ],
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")
    assert_ok(run(promtool, "check", "rules", str(path)))


def test_grafana_provisioning_files() -> None:
    """The provisioning files load the dashboard from disk and add a Prometheus data source."""
    prov = DEPLOY / "grafana" / "provisioning"
    dashboards = load_yaml(prov / "dashboards" / "stproxy-monitor.yml")
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    sources = load_yaml(prov / "datasources" / "prometheus.yml")
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    scrape = load_yaml(PROM / "prometheus.yml")["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape


# ----------------------------------------------------------------------------- systemd


def test_systemd_unit_is_hardened() -> None:
    """The unit runs as its own user with the sandboxing options of issue 4."""
    s = unit_settings(UNIT)
    expected = {
        "User": "stproxy-monitor",
        "DynamicUser": "no",
        "ExecStart": "/usr/local/bin/stproxy-monitor run -c /etc/stproxy-monitor/config.yml",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "Restart": "on-failure",
        "StateDirectory": "stproxy-monitor",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes",
        "UMask": "0077",
        "LoadCredential": "apns.pass:/etc/stproxy-monitor/apns.pass",
    }
    for key, value in expected.items():
        assert s.get(key) == [value], f"{key}: {s.get(key)}"
    assert s["ReadOnlyPaths"][0].lstrip("-") == "/opt/IBM/WebSphere"
    assert s["SystemCallFilter"][0] == "@system-service"


def test_systemd_unit_matches_the_example_config() -> None:
    """The example config reads the unit's credential and keeps positions in its StateDirectory."""
    s = unit_settings(UNIT)
    credential = s["LoadCredential"][0].split(":")[0]
    config = load_yaml(DEPLOY / "config.example.yml")
    files = [c["password_file"] for c in config["certificates"] if "password_file" in c]
    assert f"/run/credentials/stproxy-monitor.service/{credential}" in files
    assert Path(config["positions_file"]).parent == Path("/var/lib") / s["StateDirectory"][0]


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd-analyze verify finds no problem in the unit (binary path pointed at a real file)."""
    analyze = tool("systemd-analyze")
    text = UNIT.read_text(encoding="utf-8").replace(
        "ExecStart=/usr/local/bin/stproxy-monitor ",
        f"ExecStart={sys.executable} -m stproxy_monitor ",
    )
    unit = tmp_path / UNIT.name
    unit.write_text(text, encoding="utf-8")
    result = run(analyze, "verify", str(unit))
    assert_ok(result)
    assert result.stderr.strip() == "", result.stderr


def test_systemd_unit_exposure_score_matches_the_comment() -> None:
    """systemd-analyze security rates the unit at or below the score recorded in its comment."""
    analyze = tool("systemd-analyze")
    result = run(analyze, "security", "--offline=true", "--no-pager", str(UNIT))
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert score, result.stdout + result.stderr
    recorded = re.search(r"Overall exposure level: (\d+\.\d+)", UNIT.read_text(encoding="utf-8"))
    assert recorded, "the unit's comment records no score"
    assert float(score.group(1)) <= float(recorded.group(1)) <= 2.0


_MDWE_PROBE = """
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3+)
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("a writable and executable mapping was allowed: the probe proves nothing")
except OSError:
    pass
import datetime, pathlib, tempfile, urllib.request
import bcrypt, prometheus_client, structlog, yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
blob = pkcs12.serialize_key_and_certificates(
    b"apns", key, cert, None, serialization.BestAvailableEncryption(b"pw"))
assert pkcs12.load_key_and_certificates(blob, b"pw")[1] == cert
assert bcrypt.checkpw(b"pw", bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)))
observer = Observer()
observer.schedule(FileSystemEventHandler(), tempfile.mkdtemp())
observer.start(); observer.stop(); observer.join()
server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1")
with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/metrics") as r:
    assert r.status == 200
server.shutdown(); server.server_close()
yaml.safe_load("a: 1"); structlog.get_logger()
"""


def test_python_and_dependencies_run_without_writable_executable_memory() -> None:
    """CPython and the daemon's libraries run with W+X memory refused (MemoryDenyWriteExecute)."""
    if not hasattr(ctypes, "CDLL") or sys.platform != "linux":
        pytest.skip("Linux only")
    result = subprocess.run(
        [sys.executable, "-c", _MDWE_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode == 77:
        pytest.skip("the kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert_ok(result)


# ----------------------------------------------------------------------------- examples


CONFIG_KEYS = {
    "listen",
    "warn_days",
    "critical_days",
    "positions_file",
    "logs",
    "certificates",
    "profiles",
}


@pytest.mark.parametrize("path", [DEPLOY / "config.example.yml", WIN / "config.example.yml"])
def test_example_configs_use_the_contract_keys(path: Path) -> None:
    """Each example config uses every key of the contract and only those."""
    config = load_yaml(path)
    assert set(config) == CONFIG_KEYS
    assert config["warn_days"] == 30 and config["critical_days"] == 7
    for log in config["logs"]:
        assert "path" in log and set(log) <= {"path", "server", "encoding", "timezone"}
    for cert in config["certificates"] + config["profiles"]:
        assert "path" in cert and set(cert) <= {"path", "password_file", "password_env"}
        assert not {"password_file", "password_env"} <= set(cert), cert


@pytest.mark.parametrize("path", [DEPLOY / "config.example.yml", WIN / "config.example.yml"])
def test_example_configs_pass_the_daemons_validation(path: Path) -> None:
    """The daemon's own config validation accepts each example config without a problem."""
    from stproxy_monitor.config import parse_config  # noqa: PLC0415

    config = parse_config(load_yaml(path), source=path.name)
    assert len(config.logs) == 2 and config.certificates and config.profiles
    assert {p.password_file for p in config.profiles} == {config.certificates[0].password_file}


def test_windows_config_uses_windows_paths() -> None:
    """The Windows example points at the default WebSphere install under Program Files."""
    config = load_yaml(WIN / "config.example.yml")
    paths = [e["path"] for key in ("logs", "certificates", "profiles") for e in config[key]]
    assert all(
        p.startswith("C:\\Program Files\\IBM\\WebSphere\\AppServer\\profiles\\") for p in paths
    )


def test_winsw_service_definition() -> None:
    """The WinSW XML runs the daemon with the Windows config, restarts it and holds no password."""
    root = ET.parse(WIN / "stproxy-monitor-service.xml").getroot()  # noqa: S314 (our own file)
    assert root.tag == "service"
    assert root.findtext("id") == "stproxy-monitor"
    assert root.findtext("executable", "").endswith("\\python.exe")
    assert root.findtext("arguments", "").startswith(
        '-m stproxy_monitor run -c "C:\\ProgramData\\stproxy-monitor\\config.yml"'
    )
    assert {f.get("action") for f in root.findall("onfailure")} == {"restart"}
    assert root.findtext("startmode") == "Automatic"
    assert root.find(".//password") is None


def test_web_config_example_passes_promtool(tmp_path: Path) -> None:
    """promtool check web-config accepts the exporter-toolkit example once its files exist."""
    promtool = tool("promtool")
    files = make_tls_files(tmp_path)
    text = (DEPLOY / "web-config.example.yml").read_text(encoding="utf-8")
    text = text.replace("/etc/stproxy-monitor/tls/server.pem", str(files["cert"]))
    text = text.replace("/etc/stproxy-monitor/tls/server-key.pem", str(files["key"]))
    text = text.replace("/etc/stproxy-monitor/tls/prometheus-ca.pem", str(files["ca"]))
    config = tmp_path / "web-config.yml"
    config.write_text(text, encoding="utf-8")
    assert_ok(run(promtool, "check", "web-config", str(config)))
