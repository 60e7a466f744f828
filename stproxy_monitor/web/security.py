"""Basic auth, rate limit and TLS built from the web config, re-read when its files change."""

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
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stproxy_monitor.errors import ConfigError
from stproxy_monitor.paths import stat_key
from stproxy_monitor.web.config import DEFAULT_AUTH_EXCLUDED_PATHS, WebConfig, load_web_config
from stproxy_monitor.web.tls import build_ssl_context

__all__ = ["PLAIN_HTTP", "BasicAuth", "WebConfigWatcher", "WebSecurity", "build_ssl_context"]

log = structlog.get_logger(__name__)

MAX_AUTHORIZATION_CHARS = 1024
# Unknown users are checked against this fixed cost-10 hash (of a password nobody is given), as
# in exporter-toolkit: the answer takes about as long as for a real user, and an unknown name
# never costs more than cost 10, however expensive the configured hashes are.
DUMMY_HASH = b"$2b$10$/vxKYIvtZWT8jSSvrVWg6ect1MI5A/YN/a6niH.o8Y6cAc1R9MJra"


class BasicAuth:
    """bcrypt basic auth with bounded LRUs of results so that repeated scrapes cost no bcrypt.

    Right credentials and wrong ones are cached apart: a storm of made-up names cannot push
    the scraper's (right) entry out. `lookup` answers from the caches only, so that the HTTP
    server can run the bcrypt of a miss in its own bounded pool; `check` does both.
    """

    def __init__(
        self,
        users: Sequence[tuple[str, bytes]],
        *,
        cache_size: int = 1024,
        checkpw: Callable[[bytes, bytes], bool] = bcrypt.checkpw,
    ) -> None:
        self._users = [(name.encode("utf-8"), hashed) for name, hashed in users]
        self._checkpw = checkpw
        self._key = os.urandom(32)
        self._right: OrderedDict[bytes, bool] = OrderedDict()
        self._wrong: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.bcrypt_runs = 0

    def lookup(self, authorization: str | None) -> bool | None:
        """The answer without bcrypt (malformed: False; cached: its result), None if unknown."""
        credentials = parse_basic(authorization)
        if credentials is None or not self._users:
            return False
        key = self._cache_key(*credentials)
        with self._lock:
            for cache in (self._right, self._wrong):
                if key in cache:
                    cache.move_to_end(key)
                    return cache[key]
        return None

    def known_user(self, authorization: str | None) -> bool:
        """Whether the header names a configured user (for the server's queue of misses)."""
        credentials = parse_basic(authorization)
        return credentials is not None and self._hash_of(credentials[0]) is not None

    def check(self, authorization: str | None) -> bool:
        """Whether an Authorization header names a configured user with the right password."""
        cached = self.lookup(authorization)
        if cached is not None:
            return cached
        credentials = parse_basic(authorization)
        assert credentials is not None  # noqa: S101 - lookup answered False otherwise
        user, password = credentials
        hashed = self._hash_of(user)
        ok = self._bcrypt(password, hashed or DUMMY_HASH) and hashed is not None
        cache = self._right if ok else self._wrong
        with self._lock:
            cache[self._cache_key(user, password)] = ok
            while len(cache) > self._cache_size:
                cache.popitem(last=False)
        return ok

    def _hash_of(self, user: bytes) -> bytes | None:
        """The user's hash; every name is compared (no early exit, same work for any user)."""
        hashed = None
        for name, candidate in self._users:
            if hmac.compare_digest(name, user):
                hashed = candidate
        return hashed

    def _cache_key(self, user: bytes, password: bytes) -> bytes:
        """A keyed digest of the credentials (the cache never holds a password)."""
        return hmac.new(self._key, b"%d:%b:%b" % (len(user), user, password), "sha256").digest()

    def _bcrypt(self, password: bytes, hashed: bytes) -> bool:
        """One bcrypt comparison; over-long passwords are simply wrong."""
        with self._lock:
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
    rate_limit: RateLimiter | None = None

    def needs_auth(self, path: str) -> bool:
        """Whether a request for `path` must carry credentials."""
        return self.auth is not None and path not in self.auth_excluded_paths

    def authorized(self, path: str, authorization: str | None) -> bool:
        """Whether a request for `path` with this Authorization header may proceed."""
        if self.auth is None or path in self.auth_excluded_paths:
            return True
        return self.auth.check(authorization)


class RateLimiter:
    """exporter-toolkit's rate_limit: a token bucket of `burst` tokens, one more every
    `interval` seconds, shared by all requests (burst 0 refuses everything, as in Go)."""

    def __init__(
        self, interval: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Take a token if there is one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) / self._interval)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


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
        rate_limit=RateLimiter(*config.rate_limit) if config.rate_limit else None,
    )


def _fingerprint(paths: Sequence[str], stat: Callable[[str], os.stat_result]) -> tuple[object, ...]:
    """What identifies the current content of files: inode, size, mtime; or the error."""
    marks: list[object] = []
    for path in paths:
        try:
            st = stat(path)
        except OSError as exc:
            marks.append((path, type(exc).__name__))
            continue
        marks.append((path, *stat_key(st)))
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
