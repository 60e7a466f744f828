"""TLS contexts and basic auth built from the web config, re-read when its files change."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import bcrypt
import structlog
from cryptography import x509
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stproxy_monitor.errors import ConfigError
from stproxy_monitor.web.config import (
    CURVES,
    DEFAULT_AUTH_EXCLUDED_PATHS,
    TLSServerConfig,
    WebConfig,
    load_web_config,
)

log = structlog.get_logger("stproxy_monitor.web")

_CLIENT_AUTH_MODES = {
    # RequestClientCert: Go asks for a certificate and never checks it, so it carries no
    # authority; Python's ssl cannot ask without verifying, so it does not ask at all.
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
MAX_AUTHORIZATION_CHARS = 1024
# One bcrypt at a time in the whole process (as exporter-toolkit does): a storm of wrong
# passwords costs at most one core, and cached right answers never wait for it.
_BCRYPT_LOCK = threading.Lock()


class BasicAuth:
    """bcrypt basic auth with a bounded LRU of results so that repeated scrapes cost no bcrypt."""

    def __init__(
        self,
        users: Sequence[tuple[str, bytes]],
        *,
        cache_size: int = 1024,
        checkpw: Callable[[bytes, bytes], bool] = bcrypt.checkpw,
    ) -> None:
        self._users = [(name.encode("utf-8"), hashed) for name, hashed in users]
        # Unknown users are checked against the most expensive real hash, so that timing does
        # not tell whether a user name exists.
        self._decoy = max((h for _, h in self._users), key=lambda h: h[4:6], default=None)
        self._checkpw = checkpw
        self._key = os.urandom(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.bcrypt_runs = 0

    def check(self, authorization: str | None) -> bool:
        """Whether an Authorization header names a configured user with the right password."""
        credentials = parse_basic(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = None
        for name, candidate in self._users:  # no early exit: same work whichever user matches
            if hmac.compare_digest(name, user):
                hashed = candidate
        key = hmac.new(self._key, b"%d:%b:%b" % (len(user), user, password), "sha256").digest()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        decoy = hashed or self._decoy
        ok = decoy is not None and self._bcrypt(password, decoy) and hashed is not None
        with self._lock:
            self._cache[key] = ok
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return ok

    def _bcrypt(self, password: bytes, hashed: bytes) -> bool:
        """One bcrypt comparison, serialized; over-long passwords are simply wrong."""
        with _BCRYPT_LOCK:
            self.bcrypt_runs += 1
            try:
                return self._checkpw(password, hashed)
            except ValueError:  # bcrypt >= 5 refuses passwords over 72 bytes
                return False


def parse_basic(authorization: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) from `Basic base64(user:password)`, None if absent or malformed."""
    if not authorization or len(authorization) > MAX_AUTHORIZATION_CHARS:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebSecurity:
    """What the HTTP server enforces right now; replaced whole on a reload."""

    ssl_context: ssl.SSLContext | None = None
    auth: BasicAuth | None = None
    headers: tuple[tuple[str, str], ...] = ()
    auth_excluded_paths: frozenset[str] = DEFAULT_AUTH_EXCLUDED_PATHS
    client_allowed_sans: frozenset[str] = frozenset()
    certificate_not_after: float | None = None

    def authorized(self, path: str, authorization: str | None) -> bool:
        """Whether a request for `path` with this Authorization header may proceed."""
        if self.auth is None or path in self.auth_excluded_paths:
            return True
        return self.auth.check(authorization)


PLAIN_HTTP = WebSecurity()


def build_security(config: WebConfig) -> WebSecurity:
    """Everything the server needs from a validated web config; reads the TLS files."""
    context, not_after = None, None
    if config.tls is not None:
        context, not_after = build_ssl_context(config.tls, source=config.source)
    return WebSecurity(
        ssl_context=context,
        auth=BasicAuth(config.users) if config.users else None,
        headers=config.headers,
        auth_excluded_paths=config.auth_excluded_paths,
        client_allowed_sans=frozenset(config.tls.client_allowed_sans)
        if config.tls
        else frozenset(),
        certificate_not_after=not_after,
    )


def build_ssl_context(tls: TLSServerConfig, *, source: str) -> tuple[ssl.SSLContext, float]:
    """A server SSLContext and the leaf certificate's end of validity; ConfigError says why not.

    The private key goes straight from key_file into OpenSSL: it is never read into Python,
    never logged, and an encrypted key fails instead of prompting on a terminal.
    """
    where = f"{source}: tls_server_config"
    problems: list[str] = []
    # A combined PEM (cert_file == key_file) is named by its key only: its path is a key path.
    shown = "" if tls.cert_file == tls.key_file else f" (got {tls.cert_file})"
    not_after = _leaf_not_after(tls.cert_file, f"{where}.cert_file", shown, problems)
    try:
        with open(tls.key_file, "rb"):
            pass
    except OSError as exc:
        problems.append(f"{where}.key_file: cannot read: {exc.strerror or type(exc).__name__}")
    if problems:
        raise ConfigError(problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    context.maximum_version = _VERSIONS[tls.max_version]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.openssl_ciphers:
        try:
            context.set_ciphers(tls.openssl_ciphers)
        except ssl.SSLError:
            problems.append(f"{where}.cipher_suites: none is available in this Python's OpenSSL")
    for curve in tls.curve_preferences:
        context.set_ecdh_curve(CURVES[curve])
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except ssl.SSLError as exc:
        problems.append(f"{where}.key_file: {_key_problem(exc)}")
    context.verify_mode = _CLIENT_AUTH_MODES[tls.client_auth_type]
    if tls.client_auth_type != "NoClientCert" and (tls.client_ca_file or tls.client_ca):
        _load_client_cas(context, tls, where, problems)
    if problems:
        raise ConfigError(problems)
    return context, not_after or 0.0


def _no_password() -> bytes:
    """The key's password callback: keys must not be encrypted (as in exporter-toolkit)."""
    return b""


def _key_problem(exc: ssl.SSLError) -> str:
    """What went wrong loading the key (without its path or any of its content)."""
    if exc.reason == "KEY_VALUES_MISMATCH":
        return "does not belong to the certificate in cert_file"
    detail = f" (OpenSSL: {exc.reason})" if exc.reason else ""
    return f"is not a usable private key: it must be an unencrypted PEM key{detail}"


def _leaf_not_after(path: str, where: str, shown: str, problems: list[str]) -> float | None:
    """The first certificate's notAfter from a PEM file; problems say why not."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1024 * 1024)
    except OSError as exc:
        problems.append(f"{where}: cannot read: {exc.strerror or type(exc).__name__}{shown}")
        return None
    try:
        leaf = x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        problems.append(f"{where}: holds no PEM certificate{shown}")
        return None
    return leaf.not_valid_after_utc.timestamp()


def _load_client_cas(
    context: ssl.SSLContext, tls: TLSServerConfig, where: str, problems: list[str]
) -> None:
    """Trust anchors for client certificates, from client_ca_file or inline client_ca."""
    key = "client_ca_file" if tls.client_ca_file else "client_ca"
    try:
        if tls.client_ca_file:
            context.load_verify_locations(cafile=tls.client_ca_file)
        else:
            context.load_verify_locations(cadata=tls.client_ca)
    except FileNotFoundError as exc:
        problems.append(f"{where}.{key}: cannot read: {exc.strerror} (got {tls.client_ca_file})")
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or "unreadable"
        problems.append(f"{where}.{key}: holds no usable PEM CA certificate ({reason})")


def _fingerprint(paths: Sequence[str], stat: Callable[[str], os.stat_result]) -> tuple[object, ...]:
    """What identifies the current content of files: inode, size, mtime; or the error."""
    marks: list[object] = []
    for path in paths:
        try:
            st = stat(path)
        except OSError as exc:
            marks.append((path, type(exc).__name__))
            continue
        marks.append((path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(marks)


class WebConfigWatcher(Collector):
    """The current WebSecurity; re-reads the web config and its files when any of them changes.

    The first load raises ConfigError (exit 2 at start). Later, a broken file keeps the last good
    settings, logs why and sets stproxy_monitor_web_config_last_reload_successful to 0. Checks
    are stat-keyed and at most one per `interval` seconds, however many connections arrive.
    """

    def __init__(
        self,
        path: str,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        stat: Callable[[str], os.stat_result] = os.stat,
        loader: Callable[[str], WebConfig] = load_web_config,
        builder: Callable[[WebConfig], WebSecurity] = build_security,
    ) -> None:
        self._path = path
        self._interval = interval
        self._clock = clock
        self._monotonic = monotonic
        self._stat = stat
        self._loader = loader
        self._builder = builder
        self._lock = threading.Lock()
        before = _fingerprint([path], stat)
        config = loader(path)
        self._active = builder(config)
        self._files = config.files
        self._seen = before + _fingerprint(self._files, stat)
        self._checked = monotonic()
        self.last_ok = True
        self.last_success = clock()

    def current(self) -> WebSecurity:
        """The settings to apply now, after a (rate-limited, non-blocking) change check."""
        if self._monotonic() - self._checked >= self._interval:
            self.refresh(blocking=False)
        return self._active

    def refresh(self, *, blocking: bool = True) -> bool:
        """Reload if a watched file changed; True when new settings were taken."""
        if not self._lock.acquire(blocking=blocking):
            return False
        try:
            self._checked = self._monotonic()
            marks = _fingerprint([self._path, *self._files], self._stat)
            if marks == self._seen:
                return False
            return self._reload(marks)
        finally:
            self._lock.release()

    def _reload(self, marks: tuple[object, ...]) -> bool:
        """Build new settings from the changed files; keep the old ones if they are broken."""
        self._seen = marks
        try:
            config = self._loader(self._path)
            if config.files != self._files:
                self._files = config.files
                self._seen = marks[:1] + _fingerprint(self._files, self._stat)
            security = self._builder(config)
            _same_scheme(self._path, self._active, security)
        except ConfigError as exc:
            self.last_ok = False
            for problem in exc.problems:
                log.error("web_config_reload_failed", problem=problem)
            return False
        self._active = security
        self.last_ok = True
        self.last_success = self._clock()
        log.info(
            "web_config_reloaded",
            tls=security.ssl_context is not None,
            basic_auth=security.auth is not None,
        )
        return True

    def describe(self) -> Iterator[Metric]:
        """Nothing up front: the families are built per scrape."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        """Reload status of the web config and the served certificate's end of validity."""
        yield GaugeMetricFamily(
            "stproxy_monitor_web_config_last_reload_successful",
            "1 if the last reading of --web.config.file succeeded (else the previous one is used).",
            value=1.0 if self.last_ok else 0.0,
        )
        yield GaugeMetricFamily(
            "stproxy_monitor_web_config_last_reload_success_timestamp_seconds",
            "Time the web config (and its TLS files) were last read successfully.",
            value=self.last_success,
        )
        not_after = self._active.certificate_not_after
        if not_after is not None:
            yield GaugeMetricFamily(
                "stproxy_monitor_web_tls_certificate_not_after_timestamp_seconds",
                "End of validity of the certificate this daemon serves HTTPS with.",
                value=not_after,
            )


def _same_scheme(path: str, old: WebSecurity, new: WebSecurity) -> None:
    """A reload may rotate certificates but not turn TLS on or off (scrapers would break)."""
    if (old.ssl_context is None) != (new.ssl_context is None):
        raise ConfigError([f"{path}: tls_server_config: switching TLS on or off needs a restart"])
