"""Which servers a record names: the retired binary APNs API, the target of a CWPKI0022E (pure).

Apple switched the binary API (gateway.push.apple.com:2195, feedback.push.apple.com:2196 and
their .sandbox. names) off on 31 March 2021 (DOMAIN.md, "APNs today"): a proxy that still names
them cannot deliver, whatever its certificate. WebSphere's CWPKI0022E ("SSL HANDSHAKE FAILURE: A
signer with SubjectDN ... was sent from the target host ...") names the host whose certificate
it did not trust; under push.apple.com that is APNs.
"""

from __future__ import annotations

import re

from stproxy_monitor.logs.events import Event, LegacyEndpoint, SslHandshakeFailure
from stproxy_monitor.logs.lineindex import LineIndex
from stproxy_monitor.logs.recordformat import Buffer

HANDSHAKE_MESSAGE_ID = "CWPKI0022E"
HANDSHAKE_SEVERITY = "E"
_LEGACY_HOST = re.compile(
    r"(?<![\w.-])((?:gateway|feedback)(?:\.sandbox)?\.push\.apple\.com)(?![\w-])"
    r"|(?<![\w.-])([\w.-]*push\.apple\.com):219[56](?!\d)",
    re.IGNORECASE,
)
# WebSphere quotes the target: target host:port "api.push.apple.com:443" (or "null:null").
_TARGET_HOST = re.compile(r'target host(?::port)?\s*"([^":\s]*)', re.IGNORECASE)
_APNS_HOST = re.compile(r"(?<![\w-])(?:[\w-]+\.)*push\.apple\.com(?![\w-])", re.IGNORECASE)


def legacy_host(text: str) -> str | None:
    """The binary-API host named in ``text`` (lowercase), None when there is none."""
    if "push.apple.com" not in text.lower():
        return None
    found = _LEGACY_HOST.search(text)
    if found is None:
        return None
    return (found[1] or found[2]).lower()


def handshake_target(text: str) -> str:
    """``apns`` when the host a CWPKI0022E names is under push.apple.com, else ``other``.

    The quoted host after "target host" (or "target host:port") decides; where that is missing
    or unnamed ("null"), any push.apple.com host in the text (the signer's SubjectDN) does.
    """
    target = _TARGET_HOST.search(text)
    if target is not None and target[1].lower() not in ("", "null"):
        return "apns" if _APNS_HOST.fullmatch(target[1].rstrip(".")) else "other"
    return "apns" if _APNS_HOST.search(text) else "other"


def legacy_events(text: str) -> list[Event]:
    """A LegacyEndpoint event when a record's text names the retired binary API."""
    host = legacy_host(text)
    return [] if host is None else [LegacyEndpoint(host=host)]


def handshake_events(message: str) -> list[Event]:
    """The events of a CWPKI0022E record from its message: the legacy flag, the failure."""
    return [*legacy_events(message), SslHandshakeFailure(target=handshake_target(message))]


def handshake_record_starts(index: LineIndex, data: Buffer, end: int) -> list[int]:
    """Starts of the E records whose first line holds CWPKI0022E, in order.

    The kernels do not make them candidates; E records are few, and a search of the whole
    buffer would cost about as much as the kernel's own pass (measured: 2.4x the parse time).
    """
    types, starts = index.record_types, index.record_starts
    found = []
    at = types.find(_SEVERITY_LETTER)
    while at >= 0:
        start = starts[at]
        if data.find(_MESSAGE_ID_BYTES, start, data.find(b"\n", start, end)) >= 0:
            found.append(start)
        at = types.find(_SEVERITY_LETTER, at + 1)
    return found


_SEVERITY_LETTER = HANDSHAKE_SEVERITY.encode("ascii")
_MESSAGE_ID_BYTES = HANDSHAKE_MESSAGE_ID.encode("ascii")
