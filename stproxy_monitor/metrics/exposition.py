"""The /metrics body: rendered by sections, each reused while the inputs it was made from stay.

A scrape's families come in sections (``Section``). A section whose ``key`` is the very object
(``is``) the previous scrape gave is not rendered again: its bytes, in every format asked for, and
its deflated bytes are reused. Whoever makes a key must give a new object whenever what the
families are made from changes (``State.snapshot()`` parts, the certificate cache's snapshot,
tuples of frozen rows). Sections keyed None are rendered on every scrape. A keyed section may
also give ``values``, its sample values in order, computed at every scrape (certificate expiry
days move with the clock): its rendering is then kept as a template, each sample line up to its
value, and the scrape only formats the values (with prometheus_client's own float formatting).

Both text formats render family by family, so the body is the sections' renderings in order
followed by the format's trailer (OpenMetrics' ``# EOF``): byte for byte what prometheus_client
renders from the whole registry. The gzip body is one gzip member whose deflate stream is the
sections' deflate streams, each compressed alone and ended on a byte boundary (Z_SYNC_FLUSH),
then an empty final block, as pigz joins the blocks it compresses in parallel.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

Encoder = Callable[[Collector], bytes]
T = TypeVar("T")

# Gzip member head: deflate, no flags, no mtime, no extra flags, unknown OS (RFC 1952).
_GZIP_HEAD = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_FINAL_BLOCK = b"\x03\x00"  # an empty final block with fixed Huffman codes
_FORMATS_KEPT = 4  # content types with cached renderings (Accept is the client's to choose)
# How both text formats write a sample value (untyped in prometheus_client).
_format_value: Callable[[float], str] = floatToGoString


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """Families rendered together; ``key`` None means rendered on every scrape.

    ``name`` is unique among one scrape's sections. ``families`` is called only when the section
    has to be rendered. ``values``, with a key: this scrape's value of every sample, in the order
    the families list them (their samples must carry no timestamp and no exemplar); the families
    may be built with any values.
    """

    name: str
    key: object | None
    families: Callable[[], Iterable[Metric]]
    values: Callable[[], Sequence[float]] | None = None


def same_if_equal(last: T | None, new: T) -> T:
    """`last` when `new` equals it, else `new`: a key that stays the same object while equal.

    Only for values whose equality means the same rendering (frozen rows, tuples of ints and
    strings), not for Counters (a zero count equals a missing one) or dict order.
    """
    return last if last is not None and new == last else new


class SectionRegistry(CollectorRegistry):
    """A CollectorRegistry that also lists its collectors' sections, in registration order.

    A collector with a ``sections() -> list[Section]`` method gives its families in keyed
    sections (its collect() must yield the same families); any other is one section rendered on
    every scrape. ``collect()`` is CollectorRegistry's: the uncached rendering to reproduce.
    """

    def __init__(self, *, auto_describe: bool = False) -> None:
        super().__init__(auto_describe=auto_describe)
        self._order: list[tuple[Collector, Callable[[], list[Section]]]] = []
        self._order_lock = threading.Lock()

    def register(self, collector: Collector) -> None:
        """Register as CollectorRegistry does, and remember the order."""
        super().register(collector)
        sections = getattr(collector, "sections", None)
        if not callable(sections):
            name = f"{type(collector).__name__}@{id(collector):x}"
            sections = _whole(name, collector)
        with self._order_lock:
            self._order.append((collector, sections))

    def unregister(self, collector: Collector) -> None:
        """Unregister as CollectorRegistry does."""
        super().unregister(collector)
        with self._order_lock:
            self._order = [entry for entry in self._order if entry[0] is not collector]

    def sections(self) -> list[Section]:
        """Every collector's sections, in registration order."""
        with self._order_lock:
            order = list(self._order)
        return [section for _, sections in order for section in sections()]


def _whole(name: str, collector: Collector) -> Callable[[], list[Section]]:
    """The sections of a collector without any: all of it, rendered on every scrape."""
    section = Section(name=name, key=None, families=collector.collect)
    return lambda: [section]


class _Families(Collector):
    """Some families, as the collector an encoder renders."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        """The families."""
        yield from self._families


@dataclass(slots=True)
class _Part:
    """One section rendered in one format, and its deflate stream once asked for.

    ``lines``: for a section with values, its text cut before each sample value (the last
    piece is what follows the last value); None when the text could not be cut that way.
    """

    key: object | None
    text: bytes
    deflated: bytes | None = None
    lines: list[bytes] | None = None

    def deflate(self, level: int) -> bytes:
        """The text as raw deflate blocks ending on a byte boundary (b"" for no text)."""
        if self.deflated is None:
            compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
            deflated = compressor.compress(self.text) + compressor.flush(zlib.Z_SYNC_FLUSH)
            self.deflated = deflated if self.text else b""
        return self.deflated


class _Format:
    """The renderings of one content type: the format's trailer and each section's last part."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.trailer = _Part(key=None, text=encoder(_Families(())))
        self.parts: dict[str, _Part] = {}

    def render(self, sections: list[Section]) -> list[_Part]:
        """Each section's part: the cached one while its key is the same object, else new."""
        parts = []
        kept: dict[str, _Part] = {}
        for section in sections:
            cached = self.parts.get(section.name)
            if section.key is None or cached is None or cached.key is not section.key:
                part = cached = self._part(section)  # rendered now, with this scrape's values
            elif section.values is None:
                part = cached
            else:
                part = self._filled(section, cached)
            if section.key is not None:
                kept[section.name] = cached
            parts.append(part)
        self.parts = kept
        return parts

    def _filled(self, section: Section, template: _Part) -> _Part:
        """The section with this scrape's values; rendered in full if the template cannot be."""
        values = section.values() if section.values is not None else ()
        if template.lines is None or len(values) != len(template.lines) - 1:
            return self._part(section)
        return _Part(key=section.key, text=_fill(template.lines, values))

    def _part(self, section: Section) -> _Part:
        """The section rendered, cut into a template when it has values."""
        if section.values is None:
            return _Part(key=section.key, text=self._text(section))
        values = section.values()  # before the families: they may be built with the same now
        text = self._text(section)
        return _Part(key=section.key, text=text, lines=_template(text, values))

    def _text(self, section: Section) -> bytes:
        """The section's families in this format, without the format's trailer."""
        text = self.encoder(_Families(section.families()))
        end = len(text) - len(self.trailer.text)
        if text[end:] != self.trailer.text:
            raise AssertionError(f"section {section.name}: rendering does not end as expected")
        return text[:end]


class Exposition:
    """Renders a registry for /metrics in the format (and compression) a scraper asks for.

    A SectionRegistry is rendered section by section with reuse; any other registry is rendered
    whole on every scrape. Thread-safe: concurrent scrapes render one after the other.
    """

    def __init__(self, registry: CollectorRegistry, *, compresslevel: int = 6) -> None:
        self._registry = registry
        self._level = compresslevel
        self._lock = threading.Lock()
        self._formats: OrderedDict[str, _Format] = OrderedDict()

    def render(self, accept: str, *, gzip: bool) -> tuple[bytes, str]:
        """The body and its content type for an Accept header; gzip-compressed if asked."""
        encoder, content_type = choose_encoder(accept)
        with self._lock:
            sections = self._sections()
            fmt = self._format(content_type, encoder)
            parts = [*fmt.render(sections), fmt.trailer]
            body = b"".join(part.text for part in parts)
            if gzip:
                deflated = b"".join(part.deflate(self._level) for part in parts)
                footer = struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
                body = b"".join((_GZIP_HEAD, deflated, _FINAL_BLOCK, footer))
        return body, content_type

    def _sections(self) -> list[Section]:
        """This scrape's sections."""
        if isinstance(self._registry, SectionRegistry):
            return self._registry.sections()
        return [Section(name="registry", key=None, families=self._registry.collect)]

    def _format(self, content_type: str, encoder: Encoder) -> _Format:
        """The cache of a content type (a few kept, the least recently used dropped)."""
        fmt = self._formats.get(content_type)
        if fmt is None:
            fmt = self._formats[content_type] = _Format(encoder)
            while len(self._formats) > _FORMATS_KEPT:
                self._formats.popitem(last=False)
        self._formats.move_to_end(content_type)
        return fmt


def _template(text: bytes, values: Sequence[float]) -> list[bytes] | None:
    """`text` cut before the value of each sample line, if the values rebuild it exactly."""
    pieces, start = [], 0
    for line_end in _line_ends(text):
        line_start = text.rfind(b"\n", 0, line_end) + 1
        if text.startswith(b"#", line_start):
            continue  # HELP, TYPE, UNIT
        value_start = text.rfind(b" ", line_start, line_end) + 1
        pieces.append(text[start:value_start])
        start = line_end
    pieces.append(text[start:])
    if len(pieces) != len(values) + 1 or _fill(pieces, values) != text:
        return None  # not one plain sample per value: rendered in full every scrape
    return pieces


def _line_ends(text: bytes) -> Iterator[int]:
    """Offsets of the newlines of `text`."""
    end = text.find(b"\n")
    while end >= 0:
        yield end
        end = text.find(b"\n", end + 1)


def _fill(pieces: list[bytes], values: Sequence[float]) -> bytes:
    """The template's pieces with the values formatted between them."""
    out = [pieces[0]]
    for value, piece in zip(values, pieces[1:], strict=True):
        out.append(_format_value(value).encode())
        out.append(piece)
    return b"".join(out)
