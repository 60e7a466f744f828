"""The config's probe: section: defaults, every key checked, interval under 300 s refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from stproxy_monitor.config import load_config
from stproxy_monitor.errors import ConfigError
from stproxy_monitor.probe_config import ProbeConfig, parse_endpoint, parse_probe
from stproxy_monitor.validation import Checker


def Problems() -> Checker:  # noqa: N802 - reads like the class it makes
    """The config's own checker, for a file called config.yml."""
    return Checker("config.yml")


def test_an_empty_section_means_every_default() -> None:
    """`probe:` alone turns the probe on: hourly, production, 10 s, the rest from elsewhere."""
    problems = Problems()
    assert parse_probe(None, problems) == ProbeConfig()
    assert parse_probe({}, problems) == ProbeConfig(interval=3600, timeout=10)
    assert ProbeConfig().endpoint == "api.push.apple.com:443"
    assert problems.problems == []


def test_every_key() -> None:
    """Each key of the contract is read."""
    section = {
        "interval": 900,
        "endpoint": "api.sandbox.push.apple.com:2197",
        "certificate": "/etc/stproxy-monitor/apns-prod.pkcs12",
        "password_file": "/etc/stproxy-monitor/apns.pass",
        "topic": "com.ibm.lotus.sametime",
        "proxy": "http://proxy.example.com:3128",
        "ca_file": "/etc/ssl/certs/ca-certificates.crt",
        "timeout": 5,
    }
    problems = Problems()
    probe = parse_probe(section, problems)
    assert problems.problems == []
    assert probe == ProbeConfig(**section)  # type: ignore[arg-type]
    assert "proxy.example.com" not in repr(probe)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"interval": 299}, "probe.interval: must be at least 300 seconds"),
        ({"interval": 60}, "Apple treats frequent connections as abuse"),
        ({"interval": "hourly"}, "probe.interval: must be a number (got str 'hourly')"),
        ({"interval": True}, "probe.interval: must be a number"),
        ({"interval": float("inf")}, "probe.interval: must be a finite number"),
        ({"interval": 10**400}, "probe.interval: must be a finite number"),
        ({"timeout": 0}, "probe.timeout: must be greater than 0"),
        ({"timeout": 301}, "probe.timeout: must be at most 300 seconds"),
        ({"endpoint": "api.push.apple.com"}, "probe.endpoint: must be HOST:PORT"),
        ({"endpoint": "api.push.apple.com:0"}, "probe.endpoint: the port must be from 1"),
        ({"endpoint": 443}, "probe.endpoint: must be a non-empty string"),
        ({"certificate": ""}, "probe.certificate: must be a non-empty string"),
        ({"password_file": "/a", "password_env": "B"}, "probe: give password_file or"),
        ({"proxy": "socks5://p:1080"}, "probe.proxy: must be an http:// proxy"),
        ({"intervall": 3600}, "probe.intervall: unknown key"),
        ([1, 2], "probe: must be a mapping"),
    ],
)
def test_problems(section: object, problem: str) -> None:
    """Each wrong value is one problem naming the place and the rule; the section is refused."""
    problems = Problems()
    assert parse_probe(section, problems) is None
    assert len(problems.problems) == 1
    assert problem in problems.problems[0]


def test_proxy_password_is_not_shown() -> None:
    """A refused proxy URL is not repeated in the message: it may hold a password."""
    problems = Problems()
    parse_probe({"proxy": "https://user:s3cret@proxy:3128"}, problems)
    assert "s3cret" not in " ".join(problems.problems)


def test_all_problems_at_once() -> None:
    """Three wrong keys give three problems."""
    problems = Problems()
    parse_probe({"interval": 5, "timeout": -1, "endpoint": "x"}, problems)
    assert len(problems.problems) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api.push.apple.com:443", ("api.push.apple.com", 443)),
        ("localhost:2197", ("localhost", 2197)),
        ("[::1]:443", ("::1", 443)),
        (" 127.0.0.1:8443 ", ("127.0.0.1", 8443)),
    ],
)
def test_parse_endpoint(text: str, expected: tuple[str, int]) -> None:
    """host:port and [v6]:port."""
    assert parse_endpoint(text) == expected


def test_the_config_holds_the_section(tmp_path: Path) -> None:
    """load_config: no probe key, no probe; its paths relative to the config file's directory."""
    plain = tmp_path / "plain.yml"
    plain.write_text("certificates: [a.p12]\n")
    assert load_config(plain).probe is None
    config = tmp_path / "probe.yml"
    config.write_text(
        "probe:\n  certificate: apns.p12\n  password_file: pass\n  ca_file: ca.pem\n"
        "  interval: 600\n"
    )
    probe = load_config(config).probe
    assert probe is not None and probe.interval == 600
    assert probe.certificate == str(tmp_path / "apns.p12")
    assert probe.password_file == str(tmp_path / "pass")
    assert probe.ca_file == str(tmp_path / "ca.pem")


def test_the_configs_problems_name_the_file(tmp_path: Path) -> None:
    """A short interval in a config file is a ConfigError naming the file and the key."""
    config = tmp_path / "bad.yml"
    config.write_text("probe:\n  interval: 30\n  timeout: nope\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert len(caught.value.problems) == 2
    assert caught.value.problems[0].startswith(f"{config}: probe.interval: must be at least 300")
