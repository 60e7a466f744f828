"""Basic auth with its cache, TLS contexts from files, and the reloading web config watcher."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import bcrypt
import pytest
import trustme
from cryptography import x509
from prometheus_client.registry import CollectorRegistry
from structlog.testing import capture_logs
from tls_helpers import (
    PASSWORD,
    PASSWORD_HASH,
    USER,
    make_tls_files,
    web_config_text,
    write_changed,
)

from stproxy_monitor.errors import ConfigError
from stproxy_monitor.web.config import TLSServerConfig, load_web_config
from stproxy_monitor.web.security import (
    DUMMY_HASH,
    BasicAuth,
    WebConfigWatcher,
    WebSecurity,
    build_ssl_context,
    parse_basic,
)

HASH = PASSWORD_HASH.encode()


def basic(user: str | bytes, password: str | bytes) -> str:
    """An Authorization header value for HTTP basic auth."""
    raw = (user if isinstance(user, bytes) else user.encode()) + b":"
    raw += password if isinstance(password, bytes) else password.encode()
    return "Basic " + base64.b64encode(raw).decode()


class RecordingCheck:
    """A fake bcrypt.checkpw that records the hashes it was asked about."""

    def __init__(self, result: bool) -> None:
        self.result = result
        self.hashes: list[bytes] = []

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.hashes.append(hashed)
        return self.result


def test_right_credentials_pass_and_wrong_ones_fail() -> None:
    """Only the configured user with its password passes, compared with real bcrypt."""
    auth = BasicAuth([(USER, HASH)])
    assert auth.check(basic(USER, PASSWORD)) is True
    assert auth.check(basic(USER, "wrong")) is False
    assert auth.check(basic("grafana", PASSWORD)) is False
    assert auth.check(basic(USER.upper(), PASSWORD)) is False
    assert auth.check(basic(USER, PASSWORD + " ")) is False
    assert auth.check(None) is False


def test_malformed_headers_fail_without_bcrypt() -> None:
    """Other schemes, bad base64, a missing colon and huge headers fail before any bcrypt."""
    auth = BasicAuth([(USER, HASH)])
    for header in (
        "",
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        basic(USER, "x" * 2000),
    ):
        assert auth.check(header) is False, header
    assert auth.bcrypt_runs == 0


def test_parse_basic_splits_at_the_first_colon() -> None:
    """The scheme is case-insensitive and the password may hold colons."""
    assert parse_basic("basic " + base64.b64encode(b"u:p:q").decode()) == (b"u", b"p:q")
    assert parse_basic("Basic " + base64.b64encode(b":").decode()) == (b"", b"")


def test_results_are_cached_so_repeated_scrapes_cost_one_bcrypt() -> None:
    """The same right (or wrong) credentials run bcrypt once, however often they come."""
    auth = BasicAuth([(USER, HASH)])
    for _ in range(5):
        assert auth.check(basic(USER, PASSWORD)) is True
        assert auth.check(basic(USER, "wrong")) is False
    assert auth.bcrypt_runs == 2


def test_cache_is_bounded_least_recently_used_first() -> None:
    """With room for two results, a third evicts the least recently used one."""
    check = RecordingCheck(result=False)
    auth = BasicAuth([(USER, HASH)], cache_size=2, checkpw=check)
    for password in ("a", "b", "a", "c", "a", "b"):
        auth.check(basic(USER, password))
    assert auth.bcrypt_runs == 4  # a, b, c, then b again (evicted by c); a stayed recent


def test_unknown_user_runs_bcrypt_against_the_fixed_cost_10_hash_and_fails() -> None:
    """An unknown user costs one bcrypt on a fixed cost-10 hash (never the configured ones,
    however expensive) and never passes, even if that bcrypt said yes."""
    cheap = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4))
    dear = bcrypt.hashpw(b"y", bcrypt.gensalt(rounds=18))
    check = RecordingCheck(result=True)
    auth = BasicAuth([("a", cheap), ("b", dear)], checkpw=check)
    assert auth.check(basic("nobody", "y")) is False
    assert check.hashes == [DUMMY_HASH]
    assert DUMMY_HASH.startswith(b"$2b$10$")
    assert auth.check(basic("a", "x")) is True
    assert check.hashes == [DUMMY_HASH, cheap]


def test_lookup_answers_from_the_caches_only() -> None:
    """lookup: False for malformed, the cached result, None where bcrypt is needed."""
    auth = BasicAuth([(USER, HASH)])
    assert auth.lookup("Bearer x") is False
    assert auth.lookup(basic(USER, PASSWORD)) is None
    assert auth.check(basic(USER, PASSWORD)) is True
    assert auth.lookup(basic(USER, PASSWORD)) is True
    assert auth.bcrypt_runs == 1
    assert auth.known_user(basic(USER, "x")) is True
    assert auth.known_user(basic("nobody", "x")) is False


def test_a_storm_of_wrong_credentials_keeps_the_right_ones_cached() -> None:
    """Wrong answers are cached apart: many made-up users never evict a right password."""
    check = RecordingCheck(result=True)
    auth = BasicAuth([(USER, HASH)], cache_size=4, checkpw=check)
    assert auth.check(basic(USER, PASSWORD)) is True
    for n in range(50):
        assert auth.check(basic(f"nobody{n}", "x")) is False
    assert auth.lookup(basic(USER, PASSWORD)) is True
    assert auth.bcrypt_runs == 51


def test_passwords_over_72_bytes_are_wrong_not_errors() -> None:
    """bcrypt 5 refuses passwords over 72 bytes: that is a failed login, not a crash."""
    auth = BasicAuth([(USER, HASH)])
    assert auth.check(basic(USER, PASSWORD + "x" * 80)) is False
    assert auth.check(basic(USER, b"\xff\xfe" + PASSWORD.encode())) is False


def test_no_users_lets_nobody_in() -> None:
    """A BasicAuth without users refuses everyone and runs no bcrypt."""
    auth = BasicAuth([])
    assert auth.check(basic(USER, PASSWORD)) is False
    assert auth.bcrypt_runs == 0


def test_excluded_paths_skip_authentication() -> None:
    """auth_excluded_paths pass without credentials; others need them; no users, no auth."""
    security = WebSecurity(auth=BasicAuth([(USER, HASH)]), auth_excluded_paths=frozenset({"/x"}))
    assert security.authorized("/x", None) is True
    assert security.authorized("/metrics", None) is False
    assert security.authorized("/metrics", basic(USER, PASSWORD)) is True
    assert WebSecurity().authorized("/metrics", None) is True


def tls_config(tmp_path: Path, **keys: object) -> TLSServerConfig:
    """A TLSServerConfig over fresh files in tmp_path, with `keys` changed."""
    files = make_tls_files(tmp_path)
    base: dict[str, object] = {"cert_file": str(files.cert), "key_file": str(files.key)}
    if "client_auth_type" in keys:
        base["client_ca_file"] = str(files.ca_file)
    return TLSServerConfig(**{**base, **keys})  # type: ignore[arg-type]


def build_problems(tls: TLSServerConfig) -> list[str]:
    """The problems build_ssl_context reports."""
    with pytest.raises(ConfigError) as info:
        build_ssl_context(tls, source="web.yml")
    return info.value.problems


def test_context_follows_the_config(tmp_path: Path) -> None:
    """Versions, client verification and cipher suites reach the SSLContext."""
    tls = tls_config(
        tmp_path,
        client_auth_type="RequireAndVerifyClientCert",
        min_version="TLS12",
        max_version="TLS12",
        cipher_suites=("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",),
    )
    context, not_after = build_ssl_context(tls, source="web.yml")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_2
    tls12 = [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert tls12 == ["ECDHE-RSA-AES256-GCM-SHA384"]
    leaf = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    assert not_after == leaf.not_valid_after_utc.timestamp()


@pytest.mark.parametrize(
    ("client_auth", "mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("RequestClientCert", ssl.CERT_NONE),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_types_map_to_verify_modes(
    tmp_path: Path, client_auth: str, mode: ssl.VerifyMode
) -> None:
    """Each client_auth_type gives its verify mode."""
    context, _ = build_ssl_context(tls_config(tmp_path, client_auth_type=client_auth), source="w")
    assert context.verify_mode == mode


def test_file_problems_name_the_cert_but_never_the_key_path(tmp_path: Path) -> None:
    """A missing certificate is named with its path; a missing key only by its key."""
    tls = TLSServerConfig(cert_file=str(tmp_path / "nope.pem"), key_file=str(tmp_path / "k.pem"))
    assert build_problems(tls) == [
        f"web.yml: tls_server_config.cert_file: cannot read: No such file or directory "
        f"(got {tmp_path / 'nope.pem'})",
        "web.yml: tls_server_config.key_file: cannot read: No such file or directory",
    ]


def test_combined_pem_path_is_never_shown(tmp_path: Path) -> None:
    """When cert_file is also the key_file, its path is a key path and stays out of messages."""
    combined = str(tmp_path / "combined.pem")
    assert build_problems(TLSServerConfig(cert_file=combined, key_file=combined)) == [
        "web.yml: tls_server_config.cert_file: cannot read: No such file or directory",
        "web.yml: tls_server_config.key_file: cannot read: No such file or directory",
    ]
    files = make_tls_files(tmp_path)
    (tmp_path / "both.pem").write_text(files.cert.read_text() + files.key.read_text())
    both = str(tmp_path / "both.pem")
    context, _ = build_ssl_context(TLSServerConfig(cert_file=both, key_file=both), source="w")
    assert context.verify_mode == ssl.CERT_NONE


def test_unusable_files_are_explained(tmp_path: Path) -> None:
    """A certificate file without a certificate, a foreign key and a non-key are each explained."""
    files = make_tls_files(tmp_path)
    other = trustme.CA().issue_cert("x")
    other.private_key_pem.write_to_path(str(tmp_path / "other-key.pem"))
    mismatch = TLSServerConfig(cert_file=str(files.cert), key_file=str(tmp_path / "other-key.pem"))
    assert build_problems(mismatch) == [
        "web.yml: tls_server_config.key_file: does not belong to the certificate in cert_file"
    ]
    not_a_key = TLSServerConfig(cert_file=str(files.cert), key_file=str(files.ca_file))
    assert build_problems(not_a_key) == [
        "web.yml: tls_server_config.key_file: is not a usable private key: it must be an "
        "unencrypted PEM key"
    ]
    not_a_cert = TLSServerConfig(cert_file=str(files.ca_file.with_name("x.pem")), key_file="k")
    files.key.rename(files.ca_file.with_name("x.pem"))
    assert build_problems(not_a_cert)[0] == (
        "web.yml: tls_server_config.cert_file: holds no PEM certificate "
        f"(got {files.ca_file.with_name('x.pem')})"
    )


def test_encrypted_key_fails_instead_of_prompting(tmp_path: Path) -> None:
    """An encrypted key is refused at once (no terminal prompt for its password)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    files = make_tls_files(tmp_path)
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    (tmp_path / "enc-key.pem").write_bytes(encrypted)
    tls = TLSServerConfig(cert_file=str(files.cert), key_file=str(tmp_path / "enc-key.pem"))
    (problem,) = build_problems(tls)
    assert problem.startswith("web.yml: tls_server_config.key_file: is not a usable private key")


def test_bad_client_ca_is_explained(tmp_path: Path) -> None:
    """A client CA file without certificates, or an inline one, is refused with the reason."""
    files = make_tls_files(tmp_path)
    tls = TLSServerConfig(
        cert_file=str(files.cert),
        key_file=str(files.key),
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(files.key),
    )
    assert build_problems(tls) == [
        "web.yml: tls_server_config.client_ca_file: holds no usable PEM CA certificate "
        "(NO_CERTIFICATE_OR_CRL_FOUND)"
    ]
    inline = TLSServerConfig(
        cert_file=str(files.cert),
        key_file=str(files.key),
        client_auth_type="VerifyClientCertIfGiven",
        client_ca="not a certificate",
    )
    (problem,) = build_problems(inline)
    assert problem.startswith("web.yml: tls_server_config.client_ca: holds no usable PEM CA")
    files.ca.cert_pem.write_to_path(str(tmp_path / "ca2.pem"))
    good = TLSServerConfig(
        cert_file=str(files.cert),
        key_file=str(files.key),
        client_auth_type="VerifyClientCertIfGiven",
        client_ca=(tmp_path / "ca2.pem").read_text(),
    )
    assert build_ssl_context(good, source="w")[0].verify_mode == ssl.CERT_OPTIONAL


class Clock:
    """A settable clock for monotonic time and wall time."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def watcher_for(
    path: Path, clock: Clock, **kwargs: object
) -> tuple[WebConfigWatcher, CollectorRegistry, list[str]]:
    """A watcher on `path` with a fake clock, its registry and a log of loader calls."""
    loads: list[str] = []

    def loader(name: str) -> object:
        loads.append(name)
        return load_web_config(name)

    watcher = WebConfigWatcher(
        str(path),
        clock=clock,
        monotonic=clock,
        loader=loader,
        **kwargs,  # type: ignore[arg-type]
    )
    registry = CollectorRegistry()
    registry.register(watcher)
    return watcher, registry, loads


def test_start_with_a_broken_file_raises(tmp_path: Path) -> None:
    """The first load is strict: a broken web config raises ConfigError (exit 2 at start)."""
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users:\n  u: not-a-hash\n")
    with pytest.raises(ConfigError) as info:
        WebConfigWatcher(str(path))
    assert info.value.problems == [
        f"{path}: basic_auth_users (entry 1): must be a bcrypt hash ($2a$, $2b$ or $2y$, "
        "cost 04-31, 60 characters) (value not shown)"
    ]


def test_changes_are_checked_at_most_once_per_interval(tmp_path: Path) -> None:
    """current() stats the files only when the interval has passed, and reloads on a change."""
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(None))
    clock = Clock()
    stats: list[str] = []

    def stat(name: str) -> object:
        stats.append(name)
        return Path(name).stat()

    watcher, _, loads = watcher_for(path, clock, stat=stat)
    first = watcher.current()
    write_changed(path, web_config_text(None, users={"grafana": PASSWORD_HASH}))
    clock.now += 0.5
    assert watcher.current() is first
    assert (len(stats), len(loads)) == (1, 1)
    clock.now += 0.5
    second = watcher.current()
    assert second is not first
    assert second.authorized("/metrics", basic("grafana", PASSWORD)) is True
    assert second.authorized("/metrics", basic(USER, PASSWORD)) is False
    assert (len(stats), len(loads)) == (2, 2)


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    """refresh() without a change in any stat reads nothing and keeps the settings."""
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(None))
    watcher, _, loads = watcher_for(path, Clock())
    before = watcher.current()
    assert watcher.refresh() is False
    assert watcher.current() is before
    assert loads == [str(path)]


def test_broken_change_keeps_the_old_settings_and_says_why(tmp_path: Path) -> None:
    """A broken file keeps the last good settings, logs each problem, sets the gauge to 0."""
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(None))
    clock = Clock(5000.0)
    watcher, registry, loads = watcher_for(path, clock)
    good = watcher.current()
    clock.now = 6000.0
    write_changed(path, f"basic_auth_users:\n  {USER}: {PASSWORD}\n")
    with capture_logs() as logs:
        assert watcher.refresh() is False
    assert watcher.current() is good
    assert logs == [
        {
            "event": "web_config_reload_failed",
            "log_level": "error",
            "problem": f"{path}: basic_auth_users (entry 1): must be a bcrypt hash ($2a$, $2b$ "
            "or $2y$, cost 04-31, 60 characters) (value not shown)",
        }
    ]
    assert registry.get_sample_value("stproxy_monitor_web_config_last_reload_successful") == 0.0
    assert (
        registry.get_sample_value(
            "stproxy_monitor_web_config_last_reload_success_timestamp_seconds"
        )
        == 5000.0
    )
    assert watcher.refresh() is False
    assert len(loads) == 2  # the same broken file is not read again
    write_changed(path, web_config_text(None))
    with capture_logs() as logs:
        assert watcher.refresh() is True
    assert logs == [
        {"event": "web_config_reloaded", "log_level": "info", "tls": False, "basic_auth": True}
    ]
    assert registry.get_sample_value("stproxy_monitor_web_config_last_reload_successful") == 1.0
    assert (
        registry.get_sample_value(
            "stproxy_monitor_web_config_last_reload_success_timestamp_seconds"
        )
        == 6000.0
    )


def test_certificate_rotation_is_picked_up(tmp_path: Path) -> None:
    """Replacing the certificate and key files (not the web config) builds a new context."""
    files = make_tls_files(tmp_path)
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(files))
    watcher, registry, _ = watcher_for(path, Clock())
    old = watcher.current().ssl_context
    old_not_after = registry.get_sample_value(
        "stproxy_monitor_web_tls_certificate_not_after_timestamp_seconds"
    )
    files.issue_server(trustme.CA())
    assert watcher.refresh() is True
    assert watcher.current().ssl_context is not old
    leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert (
        registry.get_sample_value("stproxy_monitor_web_tls_certificate_not_after_timestamp_seconds")
        == leaf.not_valid_after_utc.timestamp()
    )
    assert old_not_after is not None


def test_half_done_rotation_keeps_the_old_pair(tmp_path: Path) -> None:
    """A new certificate whose key is not there yet is refused until the key follows."""
    files = make_tls_files(tmp_path)
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(files))
    watcher, registry, _ = watcher_for(path, Clock())
    old = watcher.current().ssl_context
    fresh = trustme.CA().issue_cert("127.0.0.1")
    fresh.cert_chain_pems[0].write_to_path(str(files.cert))
    with capture_logs() as logs:
        assert watcher.refresh() is False
    assert watcher.current().ssl_context is old
    assert [entry["problem"] for entry in logs] == [
        f"{path}: tls_server_config.key_file: does not belong to the certificate in cert_file"
    ]
    assert str(files.key) not in repr(logs)
    fresh.private_key_pem.write_to_path(str(files.key))
    write_changed(files.key, files.key.read_text())
    assert watcher.refresh() is True
    assert registry.get_sample_value("stproxy_monitor_web_config_last_reload_successful") == 1.0


def test_tls_cannot_be_switched_off_by_a_reload(tmp_path: Path) -> None:
    """Dropping tls_server_config from a running HTTPS daemon is refused (needs a restart)."""
    files = make_tls_files(tmp_path)
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(files))
    watcher, _, _ = watcher_for(path, Clock())
    write_changed(path, web_config_text(None))
    with capture_logs() as logs:
        assert watcher.refresh() is False
    assert watcher.current().ssl_context is not None
    assert logs[0]["problem"] == (
        f"{path}: tls_server_config: switching TLS on or off needs a restart"
    )


def test_a_deleted_web_config_keeps_serving(tmp_path: Path) -> None:
    """Removing the file while running is a failed reload, not an outage."""
    path = tmp_path / "web.yml"
    path.write_text(web_config_text(None))
    watcher, registry, _ = watcher_for(path, Clock())
    before = watcher.current()
    path.unlink()
    with capture_logs():
        assert watcher.refresh() is False
    assert watcher.current() is before
    assert registry.get_sample_value("stproxy_monitor_web_config_last_reload_successful") == 0.0
