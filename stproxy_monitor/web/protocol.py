"""HTTP/1.x on bytes (pure): a request head parsed or refused with its status, a response built.

No I/O here: the server feeds what it has read and writes what these functions return.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

MAX_HEADERS = 100  # as http.client: more is 431
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/(\d+)\.(\d+)")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")
_LINE_END = re.compile(rb"\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class HeadError(Exception):
    """A request that is answered with `status` and then the connection closed."""

    def __init__(self, status: int, version: str = "HTTP/1.1") -> None:
        super().__init__(status)
        self.status = status
        self.version = version


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request head (the body, if any, is read separately)."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]

    def header(self, name: str, default: str = "") -> str:
        """The first value of a header (case-insensitive name)."""
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), default)

    def all(self, name: str) -> list[str]:
        """Every value of a header."""
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    @property
    def keep_alive(self) -> bool:
        """Whether the connection stays open after the answer (HTTP/1.1 unless close)."""
        tokens = {t.strip().lower() for v in self.all("Connection") for t in v.split(",")}
        if "close" in tokens:
            return False
        return self.version == "HTTP/1.1" or "keep-alive" in tokens


@dataclass(frozen=True, slots=True)
class Response:
    """A complete answer: status, body, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def text(cls, status: int, text: str, **headers: str) -> Response:
        """A plain-text answer (headers given with '_' for '-')."""
        extra = tuple((k.replace("_", "-"), v) for k, v in headers.items())
        return cls(status, text.encode(), headers=extra)


def head_end(buffer: bytes | bytearray, start: int = 0) -> int:
    """The offset just after the blank line that ends a head, or -1 if not there yet."""
    match = _HEAD_END.search(buffer, start)
    return -1 if match is None else match.end()


def check_request_line(buffer: bytes | bytearray, max_line: int) -> None:
    """Refuse a request line early: too long (414), or HTTP/0.9 (400, answered as 1.0)."""
    match = _LINE_END.search(buffer)
    if match is None:
        if len(buffer) > max_line:
            raise HeadError(414)
        return
    if match.start() > max_line:
        raise HeadError(414)
    if len(bytes(buffer[: match.start()]).split()) == 2:
        raise HeadError(400, "HTTP/1.0")


def parse_head(head: bytes) -> Request:
    """Parse a complete request head (up to and including its blank line); HeadError if bad."""
    lines = _LINE_END.split(head.rstrip(b"\r\n"))
    words = lines[0].split()
    if len(words) == 2:
        raise HeadError(400, "HTTP/1.0")
    if len(words) != 3:
        raise HeadError(400)
    method_b, target_b, version_b = words
    version = version_b.decode("latin-1")
    match = _VERSION.fullmatch(version)
    if not _TOKEN.fullmatch(method_b) or match is None:
        raise HeadError(400)
    if (int(match[1]), int(match[2])) >= (2, 0):
        raise HeadError(505)
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        version = "HTTP/1.1" if int(match[1]) == 1 else "HTTP/1.0"
    if len(lines) - 1 > MAX_HEADERS:
        raise HeadError(431, version)
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):  # also obsolete folding (leading space)
            raise HeadError(400, version)
        headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
    return Request(method_b.decode("ascii"), target_b.decode("latin-1"), version, tuple(headers))


def body_length(request: Request, max_body: int) -> int:
    """The Content-Length to read (0 if none); HeadError for chunked, bad or too large, and
    for HTTP/1.1 without exactly one Host."""
    if request.all("Transfer-Encoding"):
        raise HeadError(411, request.version)
    lengths = request.all("Content-Length") or ["0"]
    if len(lengths) > 1 or not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
        raise HeadError(400, request.version)
    length = int(lengths[0])
    if length > max_body:
        raise HeadError(413, request.version)
    hosts = request.all("Host")
    if len(hosts) > 1 or (request.version == "HTTP/1.1" and not hosts):
        raise HeadError(400, request.version)  # RFC 9112 3.2; checked after framing, as Go does
    return length


def serialize(
    response: Response,
    *,
    version: str,
    head_only: bool,
    close: bool,
    common: tuple[tuple[str, str], ...] = (),
    server: str = "stproxy-monitor",
    date: str | None = None,
) -> bytes:
    """The response's bytes, head and body together (one write, no wait for a delayed ACK)."""
    phrase = HTTPStatus(response.status).phrase
    lines = [
        f"{version} {response.status} {phrase}",
        f"Server: {server}",
        f"Date: {date or formatdate(usegmt=True)}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        *(f"{name}: {value}" for name, value in (*common, *response.headers)),
    ]
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


def error_response(status: int) -> Response:
    """The short plain-text answer to a refused request (never echoes the request)."""
    return Response.text(status, f"{HTTPStatus(status).phrase}\n")
