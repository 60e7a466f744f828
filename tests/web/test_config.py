"""Validation of the exporter-toolkit web config: every key and every problem message."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from stproxy_monitor.errors import ConfigError
from stproxy_monitor.web.config import (
    CIPHER_SUITES,
    DEFAULT_AUTH_EXCLUDED_PATHS,
    TLSServerConfig,
    WebConfig,
    load_web_config,
    parse_web_config,
    relative_to,
)

HASH = "$2b$04$9I5nBn9xY5V2rG3r5yb0f.3o0m0bSg5yH8HcM7j1V2GqJzTzQk3yK"
TLS = {"cert_file": "server.pem", "key_file": "server-key.pem"}


def problems(data: Any) -> list[str]:
    """The problems parse_web_config reports for a document (it must report some)."""
    with pytest.raises(ConfigError) as info:
        parse_web_config(data, source="web.yml")
    return info.value.problems


def tls_problems(**keys: Any) -> list[str]:
    """The problems of a tls_server_config made of the valid base plus `keys`."""
    return problems({"tls_server_config": {**TLS, **keys}})


def test_empty_document_is_plain_http_without_auth() -> None:
    """An empty web config serves plain HTTP, no auth, /-/healthy excluded, HTTP/2 allowed."""
    config = parse_web_config({}, source="web.yml")
    assert config == WebConfig(source="web.yml")
    assert config.tls is None
    assert config.users == ()
    assert config.headers == ()
    assert config.http2 is True
    assert config.auth_excluded_paths == DEFAULT_AUTH_EXCLUDED_PATHS == {"/-/healthy"}
    assert config.files == ()


def test_every_key_is_read() -> None:
    """A config using every supported key comes back with each value in place."""
    config = parse_web_config(
        {
            "tls_server_config": {
                **TLS,
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": "ca.pem",
                "client_allowed_sans": ["prometheus.example.com", "10.0.0.1"],
                "min_version": "TLS13",
                "max_version": "TLS13",
                "cipher_suites": [
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_AES_128_GCM_SHA256",
                ],
                "curve_preferences": ["CurveP384"],
                "prefer_server_cipher_suites": False,
            },
            "basic_auth_users": {"prometheus": HASH, "grafana": HASH.replace("$2b$", "$2y$")},
            "http_server_config": {
                "http2": False,
                "headers": {
                    "X-Frame-Options": "deny",
                    "X-Content-Type-Options": "nosniff",
                    "Strict-Transport-Security": "max-age=31536000",
                    "X-XSS-Protection": "0",
                    "Content-Security-Policy": "default-src 'none'",
                },
            },
            "auth_excluded_paths": ["/-/healthy", "/-/ready"],
        },
        source="web.yml",
    )
    assert config.tls == TLSServerConfig(
        cert_file="server.pem",
        key_file="server-key.pem",
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file="ca.pem",
        client_allowed_sans=("prometheus.example.com", "10.0.0.1"),
        min_version="TLS13",
        max_version="TLS13",
        cipher_suites=("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        curve_preferences=("CurveP384",),
        prefer_server_cipher_suites=False,
    )
    assert config.tls.openssl_ciphers == "ECDHE-RSA-AES128-GCM-SHA256"
    assert config.files == ("server.pem", "server-key.pem", "ca.pem")
    assert config.users == (
        ("prometheus", HASH.encode()),
        ("grafana", HASH.replace("$2b$", "$2y$").encode()),
    )
    assert config.http2 is False
    assert dict(config.headers) == {
        "X-Frame-Options": "deny",
        "X-Content-Type-Options": "nosniff",
        "Strict-Transport-Security": "max-age=31536000",
        "X-XSS-Protection": "0",
        "Content-Security-Policy": "default-src 'none'",
    }
    assert config.auth_excluded_paths == {"/-/healthy", "/-/ready"}


def test_tls_defaults_follow_exporter_toolkit() -> None:
    """cert_file and key_file alone give TLS 1.2-1.3, no client certificate, server preference."""
    tls = parse_web_config({"tls_server_config": TLS}).tls
    assert tls is not None
    assert (tls.min_version, tls.max_version) == ("TLS12", "TLS13")
    assert tls.client_auth_type == "NoClientCert"
    assert tls.prefer_server_cipher_suites is True
    assert tls.openssl_ciphers is None
    assert tls.cipher_suites == tls.curve_preferences == tls.client_allowed_sans == ()


def test_tls_section_without_files_means_plain_http() -> None:
    """As in exporter-toolkit, a tls_server_config naming no file and no client auth is no TLS."""
    assert parse_web_config({"tls_server_config": {"min_version": "TLS13"}}).tls is None
    assert parse_web_config({"tls_server_config": None}).tls is None


def test_inline_client_ca_is_accepted() -> None:
    """client_ca (inline PEM) stands in for client_ca_file."""
    pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    tls = parse_web_config(
        {
            "tls_server_config": {
                **TLS,
                "client_auth_type": "VerifyClientCertIfGiven",
                "client_ca": pem,
            }
        }
    ).tls
    assert tls is not None
    assert tls.client_ca == pem
    assert tls.files == ("server.pem", "server-key.pem")


def test_request_client_cert_is_accepted() -> None:
    """RequestClientCert is valid (its certificate is never checked, in Go or here)."""
    tls = parse_web_config(
        {"tls_server_config": {**TLS, "client_auth_type": "RequestClientCert"}}
    ).tls
    assert tls is not None
    assert tls.client_auth_type == "RequestClientCert"


def test_every_go_cipher_name_maps_to_an_available_openssl_cipher() -> None:
    """Each TLS 1.2 Go name maps to a cipher this Python's OpenSSL has; TLS 1.3 names to None."""
    tls13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
    for go_name, openssl_name in CIPHER_SUITES.items():
        if go_name in tls13:
            assert openssl_name is None
            continue
        assert openssl_name is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_ciphers(openssl_name)
        tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
        assert tls12 == [openssl_name], go_name


def test_document_must_be_a_mapping() -> None:
    """A list at the top is refused with its kind."""
    assert problems(["a"]) == ["web.yml: must be a mapping of keys (got list ['a'])"]


def test_unknown_top_keys() -> None:
    """An unknown key is named."""
    assert problems({"tls": {}}) == ["web.yml: tls: unknown key"]


def test_rate_limit_as_exporter_toolkit() -> None:
    """interval (a Prometheus duration, 0 for none) and burst; interval 0 means no limit."""
    assert parse_web_config({"rate_limit": {"interval": "1s", "burst": 20}}).rate_limit == (
        1.0,
        20,
    )
    assert parse_web_config({"rate_limit": {"interval": "1m30s"}}).rate_limit == (90.0, 0)
    assert parse_web_config({"rate_limit": {"interval": "250ms", "burst": 0}}).rate_limit == (
        0.25,
        0,
    )
    assert parse_web_config({"rate_limit": {"interval": 0, "burst": 0}}).rate_limit is None
    assert parse_web_config({"rate_limit": {"burst": 1}}).rate_limit is None
    assert problems({"rate_limit": {"interval": "fast", "burst": -1, "every": 1}}) == [
        "web.yml: rate_limit.every: unknown key",
        'web.yml: rate_limit.interval: must be a duration such as "1s", "500ms" or 0 '
        "(got str 'fast')",
        "web.yml: rate_limit.burst: must be a whole number, 0 or more (got int -1)",
    ]
    assert problems({"rate_limit": "1s"}) == [
        "web.yml: rate_limit: must be a mapping (got str '1s')"
    ]


def test_tls_section_problems() -> None:
    """Wrong shapes, unknown keys, and a file and an inline PEM for the same thing."""
    assert problems({"tls_server_config": ["x"]}) == [
        "web.yml: tls_server_config: must be a mapping (got list ['x'])"
    ]
    assert tls_problems(cert="PEM", key="PEM", bogus=1) == [
        "web.yml: tls_server_config.bogus: unknown key",
        "web.yml: tls_server_config: give cert_file or cert, not both (got str 'both')",
        "web.yml: tls_server_config: give key_file or key, not both (got str 'both')",
    ]


def test_inline_cert_and_key_are_accepted() -> None:
    """cert and key (inline PEM) stand in for cert_file and key_file, and are no files."""
    tls = parse_web_config({"tls_server_config": {"cert": "CERT PEM", "key": "KEY PEM"}}).tls
    assert tls is not None
    assert (tls.cert, tls.key, tls.files) == ("CERT PEM", "KEY PEM", ())
    assert "KEY PEM" not in repr(tls)


def test_cert_and_key_are_required_and_the_key_path_never_shown() -> None:
    """Missing files are required; a bad key_file value is not echoed."""
    assert problems({"tls_server_config": {"client_auth_type": "NoClientCert"}}) == [
        "web.yml: tls_server_config.cert_file: is required to serve TLS",
        "web.yml: tls_server_config.key_file: is required to serve TLS",
    ]
    assert tls_problems(cert_file=42, key_file=["/secret/key.pem"]) == [
        "web.yml: tls_server_config.cert_file: must be a non-empty string (got int 42)",
        "web.yml: tls_server_config.key_file: must be a non-empty string (value not shown)",
    ]


def test_client_auth_type_problems() -> None:
    """Unknown types, the unverified Go types, and their consistency with the client CA."""
    assert tls_problems(client_auth_type="Always") == [
        "web.yml: tls_server_config.client_auth_type: must be one of NoClientCert, "
        "RequestClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert "
        "(got str 'Always')"
    ]
    for name in ("RequireAnyClientCert", "RequireClientCert"):
        assert tls_problems(client_auth_type=name, client_ca_file="ca.pem") == [
            "web.yml: tls_server_config.client_auth_type: is not supported: Python's ssl module "
            "verifies every client certificate it asks for; use RequireAndVerifyClientCert with "
            f"client_ca_file (got str '{name}')"
        ]
    assert tls_problems(client_ca_file="ca.pem") == [
        "web.yml: tls_server_config.client_ca_file: client CAs are configured without a "
        "client_auth_type that asks for a certificate (got str 'NoClientCert')"
    ]
    for name in ("RequireAndVerifyClientCert", "VerifyClientCertIfGiven"):  # system roots
        tls = parse_web_config({"tls_server_config": {**TLS, "client_auth_type": name}}).tls
        assert tls is not None
        assert (tls.client_auth_type, tls.client_ca_file, tls.client_ca) == (name, None, None)
    assert tls_problems(
        client_auth_type="VerifyClientCertIfGiven", client_ca_file="a.pem", client_ca="PEM"
    ) == ["web.yml: tls_server_config: give client_ca_file or client_ca, not both (got str 'both')"]


def test_client_allowed_sans_problems() -> None:
    """SANs need RequireAndVerifyClientCert and must be a list of strings."""
    assert tls_problems(
        client_auth_type="VerifyClientCertIfGiven",
        client_ca_file="ca.pem",
        client_allowed_sans=["a"],
    ) == [
        "web.yml: tls_server_config.client_allowed_sans: needs client_auth_type "
        "RequireAndVerifyClientCert (got str 'VerifyClientCertIfGiven')"
    ]
    verify = {"client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": "ca.pem"}
    assert tls_problems(**verify, client_allowed_sans="a") == [
        "web.yml: tls_server_config.client_allowed_sans: must be a list of strings (got str 'a')"
    ]
    assert tls_problems(**verify, client_allowed_sans=["ok", 7, ""]) == [
        "web.yml: tls_server_config.client_allowed_sans[1]: must be a non-empty string (got int 7)",
        "web.yml: tls_server_config.client_allowed_sans[2]: must be a non-empty string "
        "(got str '')",
    ]


def test_tls_version_problems() -> None:
    """Unknown versions, TLS 1.0/1.1, and a minimum above the maximum."""
    assert tls_problems(min_version="TLS10", max_version="SSL3") == [
        "web.yml: tls_server_config.min_version: TLS 1.0 and 1.1 are not accepted (deprecated, "
        "RFC 8996) (got str 'TLS10')",
        "web.yml: tls_server_config.max_version: must be one of TLS12, TLS13 (got str 'SSL3')",
    ]
    assert tls_problems(min_version="TLS11") == [
        "web.yml: tls_server_config.min_version: TLS 1.0 and 1.1 are not accepted (deprecated, "
        "RFC 8996) (got str 'TLS11')"
    ]
    assert tls_problems(min_version="TLS13", max_version="TLS12") == [
        "web.yml: tls_server_config.min_version: must not be above max_version "
        "(got str 'TLS13 > TLS12')"
    ]


def test_cipher_suite_problems() -> None:
    """Go's insecure suites and unknown names are refused, each with its index."""
    assert tls_problems(
        cipher_suites=["TLS_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-AES128-GCM-SHA256", 5]
    ) == [
        "web.yml: tls_server_config.cipher_suites[2]: must be a non-empty string (got int 5)",
        "web.yml: tls_server_config.cipher_suites[0]: is an insecure cipher suite and not "
        "accepted (got str 'TLS_RSA_WITH_RC4_128_SHA')",
        "web.yml: tls_server_config.cipher_suites[1]: must be a Go cipher suite name such as "
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (got str 'ECDHE-RSA-AES128-GCM-SHA256')",
    ]


def test_curve_problems() -> None:
    """Unknown curves, and more than one (Python's ssl cannot order them)."""
    assert tls_problems(curve_preferences=["P-256"]) == [
        "web.yml: tls_server_config.curve_preferences[0]: must be one of CurveP256, CurveP384, "
        "CurveP521, X25519 (got str 'P-256')"
    ]
    curves = ["CurveP384", "X25519", "CurveP256", "X25519"]
    tls = parse_web_config({"tls_server_config": {**TLS, "curve_preferences": curves}}).tls
    assert tls is not None
    assert tls.curve_preferences == ("CurveP384", "X25519", "CurveP256")


def test_prefer_server_cipher_suites_must_be_boolean() -> None:
    """prefer_server_cipher_suites takes true or false only."""
    assert tls_problems(prefer_server_cipher_suites="yes") == [
        "web.yml: tls_server_config.prefer_server_cipher_suites: must be true or false "
        "(got str 'yes')"
    ]


def test_user_problems_never_show_names_or_hashes() -> None:
    """Bad users are named by position only; neither the name nor the hash is echoed."""
    found = problems(
        {
            "basic_auth_users": {
                "ok": HASH,
                "a:b": HASH,
                "": HASH,
                7: HASH,
                "short": "$2b$04$tooshort",
                "plain": "hunter2-secret",
                "null": None,
                "md5": "$1$abcdefgh$0123456789012345678901",
            }
        }
    )
    assert found == [
        "web.yml: basic_auth_users (entry 2): the user name must not contain ':' "
        "(HTTP basic auth) (value not shown)",
        "web.yml: basic_auth_users (entry 3): the user name must be a non-empty string "
        "(value not shown)",
        "web.yml: basic_auth_users (entry 4): the user name must be a non-empty string "
        "(value not shown)",
        *(
            f"web.yml: basic_auth_users (entry {n}): must be a bcrypt hash ($2a$, $2b$ or $2y$, "
            "cost 04-31, 60 characters) (value not shown)"
            for n in (5, 6, 7, 8)
        ),
    ]
    assert not any("hunter2" in p or "tooshort" in p or "a:b" in p for p in found)
    assert problems({"basic_auth_users": ["prometheus"]}) == [
        "web.yml: basic_auth_users: must be a mapping (got list ['prometheus'])"
    ]


def test_bcrypt_cost_bounds() -> None:
    """Costs 04 to 31 are bcrypt hashes; 03 and 32 are not."""
    for cost, ok in (("04", True), ("31", True), ("03", False), ("32", False)):
        data = {"basic_auth_users": {"u": HASH.replace("$04$", f"${cost}$")}}
        if ok:
            assert parse_web_config(data).users[0][0] == "u"
        else:
            assert len(problems(data)) == 1


def test_http_server_config_problems() -> None:
    """Shape, unknown keys and http2 of http_server_config."""
    assert problems({"http_server_config": "x"}) == [
        "web.yml: http_server_config: must be a mapping (got str 'x')"
    ]
    assert problems({"http_server_config": {"http2": "no", "timeout": 1}}) == [
        "web.yml: http_server_config.timeout: unknown key",
        "web.yml: http_server_config.http2: must be true or false (got str 'no')",
    ]


def test_header_problems() -> None:
    """Only exporter-toolkit's headers, with their enumerated values, on one line."""
    assert problems(
        {
            "http_server_config": {
                "headers": {
                    "Server": "x",
                    "X-Frame-Options": "allow",
                    "X-Content-Type-Options": "NOSNIFF",
                    "Content-Security-Policy": "a\r\nSet-Cookie: x",
                    "X-XSS-Protection": None,
                }
            }
        }
    ) == [
        "web.yml: http_server_config.headers.Server: cannot be configured; allowed: "
        "Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, "
        "Content-Security-Policy",
        "web.yml: http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin "
        "(got str 'allow')",
        "web.yml: http_server_config.headers.X-Content-Type-Options: must be one of nosniff "
        "(got str 'NOSNIFF')",
        "web.yml: http_server_config.headers.Content-Security-Policy: must be a non-empty "
        "single-line string (got str 'a\\r\\nSet-Cookie: x')",
        "web.yml: http_server_config.headers.X-XSS-Protection: must be a non-empty single-line "
        "string (got NoneType None)",
    ]
    scalars = {"X-XSS-Protection": 1, "Strict-Transport-Security": True}
    config = parse_web_config({"http_server_config": {"headers": scalars}})
    assert config.headers == (("X-XSS-Protection", "1"), ("Strict-Transport-Security", "true"))
    assert problems({"http_server_config": {"headers": ["X-Frame-Options"]}}) == [
        "web.yml: http_server_config.headers: must be a mapping (got list ['X-Frame-Options'])"
    ]


def test_auth_excluded_paths() -> None:
    """An empty list protects everything; entries must be URL paths."""
    assert parse_web_config({"auth_excluded_paths": []}).auth_excluded_paths == frozenset()
    assert problems({"auth_excluded_paths": ["metrics", "/a?b"]}) == [
        "web.yml: auth_excluded_paths[0]: must be a URL path such as /-/healthy "
        "(got str 'metrics')",
        "web.yml: auth_excluded_paths[1]: must be a URL path such as /-/healthy (got str '/a?b')",
    ]
    assert problems({"auth_excluded_paths": "/-/healthy"}) == [
        "web.yml: auth_excluded_paths: must be a list of strings (got str '/-/healthy')"
    ]


def test_all_problems_are_reported_at_once() -> None:
    """Problems from every section come back together."""
    found = problems(
        {
            "tls_server_config": {**TLS, "min_version": "TLS9"},
            "basic_auth_users": {"u": "x"},
            "http_server_config": {"headers": {"Server": "x"}},
            "auth_excluded_paths": ["x"],
        }
    )
    assert [p.split(": ")[1].split(" ")[0] for p in found] == [
        "tls_server_config.min_version",
        "basic_auth_users",
        "http_server_config.headers.Server",
        "auth_excluded_paths[0]",
    ]


def test_repr_hides_hashes_and_key_path() -> None:
    """Neither a bcrypt hash nor the key path appears in the repr of a config."""
    config = parse_web_config(
        {
            "tls_server_config": {**TLS, "key_file": "/etc/secret-key.pem"},
            "basic_auth_users": {"u": HASH},
        }
    )
    text = repr(config)
    assert HASH not in text
    assert "secret-key" not in text
    assert "server.pem" in text


def test_load_resolves_relative_paths_against_the_file(tmp_path: Path) -> None:
    """cert_file, key_file and client_ca_file are relative to the web config's directory."""
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: tls/server.pem\n  key_file: /abs/key.pem\n"
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n"
    )
    config = load_web_config(str(path))
    assert config.source == str(path)
    assert config.files == (
        os.path.join(tmp_path, "tls/server.pem"),
        "/abs/key.pem",
        os.path.join(tmp_path, "ca.pem"),
    )
    assert relative_to(WebConfig(), "/x") == WebConfig()


def test_load_reports_unreadable_and_broken_files(tmp_path: Path) -> None:
    """Missing files, non-UTF-8 text and YAML syntax errors each get one clear message."""
    missing = tmp_path / "missing.yml"
    with pytest.raises(ConfigError) as info:
        load_web_config(str(missing))
    assert info.value.problems == [f"{missing}: cannot read: No such file or directory"]
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"basic_auth_users:\n  j\xe9r\xf4me: x\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(str(latin))
    assert info.value.problems == [f"{latin}: not UTF-8 text: invalid continuation byte"]
    broken = tmp_path / "broken.yml"
    broken.write_text("tls_server_config:\n  cert_file: [a\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(str(broken))
    assert info.value.problems == [
        f"{broken}: not valid YAML: expected ',' or ']', but got '<stream end>' (line 3, column 1)"
    ]


def test_load_of_an_empty_file_is_plain_http(tmp_path: Path) -> None:
    """An empty file is a valid web config that changes nothing."""
    path = tmp_path / "web.yml"
    path.write_text("# nothing yet\n")
    assert load_web_config(str(path)) == WebConfig(source=str(path))


def test_shipped_example_is_valid_for_the_daemon() -> None:
    """deploy/web-config.example.yml passes this validator, and its hash is of "change-me"."""
    example = Path(__file__).resolve().parents[2] / "deploy" / "web-config.example.yml"
    config = parse_web_config(yaml.safe_load(example.read_text(encoding="utf-8")))
    assert config.tls is not None
    assert config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert config.tls.min_version == "TLS12"
    ((user, hashed),) = config.users
    assert user == "prometheus"
    assert bcrypt.checkpw(b"change-me", hashed)
