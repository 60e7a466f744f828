"""The endpoint table: path -> methods and the function that answers (pure of sockets).

A route's handler takes the parsed Request and returns a Response; the server runs it on a
worker thread, after the request was read, authorized and rate-limited. Add a route with
`Endpoints(routes={...})` or by extending `endpoint_table`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client.registry import CollectorRegistry

from stproxy_monitor.metrics.exposition import Exposition
from stproxy_monitor.web.protocol import Request, Response
from stproxy_monitor.web.security import PLAIN_HTTP, WebSecurity

Handler = Callable[[Request], Response]
GET = ("GET", "HEAD")
# The status page needs its inline CSS and nothing else: no script, image, frame or form.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Route:
    """The methods a path allows (its Allow header on a 405) and its handler."""

    methods: tuple[str, ...]
    handler: Handler

    @property
    def allow(self) -> str:
        """The Allow header value."""
        return ", ".join(self.methods)


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """What the server serves; every collaborator injected."""

    registry: CollectorRegistry
    ready: Callable[[], bool]
    reload: Callable[[], tuple[bool, str]]
    landing: Callable[[], str]
    security: Callable[[], WebSecurity] = field(default=lambda: PLAIN_HTTP)
    status_json: Callable[[], str] | None = None  # /status.json (404 without it)
    # More paths (or replacements of the ones below), e.g. a status page.
    routes: Mapping[str, Route] = field(default_factory=lambda: MappingProxyType({}))


def endpoint_table(endpoints: Endpoints, exposition: Exposition) -> dict[str, Route]:
    """The paths served: /metrics, /, /status.json, /-/healthy, /-/ready, POST /-/reload, and
    the extra ones."""

    def metrics(request: Request) -> Response:
        gzip = "gzip" in request.header("Accept-Encoding")
        body, content_type = exposition.render(request.header("Accept"), gzip=gzip)
        return Response(200, body, content_type, (("Content-Encoding", "gzip"),) if gzip else ())

    def landing(_: Request) -> Response:
        page = endpoints.landing().encode()
        policy = (("Content-Security-Policy", PAGE_POLICY),)
        return Response(200, page, "text/html; charset=utf-8", policy)

    def status(_: Request) -> Response:
        if endpoints.status_json is None:
            return Response.text(404, "Not found\n")
        return Response(200, endpoints.status_json().encode(), "application/json")

    def ready(_: Request) -> Response:
        ok = endpoints.ready()
        return Response.text(200 if ok else 503, "Ready\n" if ok else "Not ready\n")

    def reload(_: Request) -> Response:
        ok, message = endpoints.reload()
        return Response.text(200 if ok else 500, message + "\n")

    table = {
        "/metrics": Route(GET, metrics),
        "/": Route(GET, landing),
        "/status.json": Route(GET, status),
        "/-/ready": Route(GET, ready),
        "/-/healthy": Route(GET, lambda _: Response.text(200, "Healthy\n")),
        "/-/reload": Route(("POST",), reload),
    }
    table.update(endpoints.routes)
    return table
