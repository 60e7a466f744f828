"""The endpoint table: path -> methods and the function that answers (pure of sockets).

A route's handler takes the parsed Request and returns a Response; the server runs it on a
worker thread, after the request was read, authorized and rate-limited. Add a route with
`Endpoints(routes={...})` or by extending `endpoint_table`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from prometheus_client.registry import CollectorRegistry

from stproxy_monitor.metrics.exposition import Exposition
from stproxy_monitor.web.protocol import Request, Response
from stproxy_monitor.web.security import PLAIN_HTTP, WebSecurity

Handler = Callable[[Request], Response]
GET = ("GET", "HEAD")


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
    # More paths (or replacements of the ones below), e.g. a status page.
    routes: Mapping[str, Route] = field(default_factory=lambda: MappingProxyType({}))


def endpoint_table(endpoints: Endpoints, exposition: Exposition) -> dict[str, Route]:
    """The paths served: /metrics, /, /-/healthy, /-/ready, POST /-/reload, and the extra ones."""

    def metrics(request: Request) -> Response:
        gzip = "gzip" in request.header("Accept-Encoding")
        body, content_type = exposition.render(request.header("Accept"), gzip=gzip)
        return Response(200, body, content_type, (("Content-Encoding", "gzip"),) if gzip else ())

    def landing(_: Request) -> Response:
        return Response(200, endpoints.landing().encode(), "text/html; charset=utf-8")

    def ready(_: Request) -> Response:
        ok = endpoints.ready()
        return Response.text(200 if ok else 503, "Ready\n" if ok else "Not ready\n")

    def reload(_: Request) -> Response:
        ok, message = endpoints.reload()
        return Response.text(200 if ok else 500, message + "\n")

    table = {
        "/metrics": Route(GET, metrics),
        "/": Route(GET, landing),
        "/-/ready": Route(GET, ready),
        "/-/healthy": Route(GET, lambda _: Response.text(200, "Healthy\n")),
        "/-/reload": Route(("POST",), reload),
    }
    table.update(endpoints.routes)
    return table


def landing_page(rows: list[tuple[str, str, str, float]], version: str) -> str:
    """A small HTML page: each certificate's days left, and a link to /metrics."""
    body = (
        "".join(
            f"<tr><td>{html.escape(src)}</td><td>{html.escape(path)}</td><td>{html.escape(subject)}"
            f"</td><td>{days:.1f}</td></tr>"
            for src, path, subject, days in rows
        )
        or "<tr><td colspan=4>no certificate known yet</td></tr>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>stproxy-monitor</title></head>"
        f"<body><h1>stproxy-monitor {html.escape(version)}</h1>"
        "<p>Sametime Proxy APNS certificate and connection monitor.</p>"
        "<p><a href='/metrics'>Metrics</a></p><h2>APNS certificates</h2>"
        "<table border=1><tr><th>source</th><th>path</th><th>subject</th><th>days left</th></tr>"
        f"{body}</table></body></html>"
    )
