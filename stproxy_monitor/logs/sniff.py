"""Whether bytes can be the start of a WebSphere log (pure): scan refuses what cannot."""

from __future__ import annotations

import re

from stproxy_monitor.logs.recordformat import RECORD_HEADER

# How much of a file is looked at: a record header appears in the first lines of any log.
SNIFF_BYTES = 1 << 20
_START_BANNER = b"************ Start Display Current Environment ************"
# CurrentStatus.log has no records: its certificate block is what it is read for.
_CERTIFICATE_BLOCK = re.compile(rb"^\s*(?:IssuerDN|SubjectDN)\s*:", re.MULTILINE)
_LINE_START_HEADER = re.compile(rb"(?:^|\n)" + RECORD_HEADER.pattern)


def not_a_log(head: bytes) -> str:
    """Why ``head`` (a file's first bytes) cannot be a WebSphere log, or "" when it can be.

    An empty file, a record header at a line start ("[time] threadId shortName T "), the
    environment banner or an IBM certificate-status block each make it one.
    """
    if not head.strip():
        return ""
    if b"\x00" in head:
        return "binary data (NUL bytes), not a text log"
    if _LINE_START_HEADER.search(head) or _START_BANNER in head or _CERTIFICATE_BLOCK.search(head):
        return ""
    return f'no record header ("[time] threadId shortName T ...") in the first {len(head)} bytes'
