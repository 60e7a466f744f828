"""The record format both lineindex kernels and the parser share: header, spans, result shape."""

from __future__ import annotations

import re

# A record line starts so (DOMAIN.md: "[time] threadId shortName T "): the time may not cross
# a line end. RECORD_START is its first part, before the 13-character short name; the whole
# header is RECORD_HEADER, and both kernels accept exactly what it accepts.
_TIME_AND_THREAD = rb"\[([^\]\r\n]+)\] [0-9a-fA-F]{8} "
RECORD_START = re.compile(_TIME_AND_THREAD)
RECORD_HEADER = re.compile(_TIME_AND_THREAD + rb"[^\r\n]{13} ([A-Z]) ")
HEADER_SPAN = 27  # bytes from "]" to the space after the type letter

Buffer = bytes | bytearray  # what is indexed: a read's bytes, or a reused read buffer
# lines, longest, then as bytes: line starts, record starts (native int64), their type
# letters, decided CLFRX record starts (int64), their severity letters, candidates (int64),
# and how many records and decided CLFRX records have each letter A-Z (26 native int64 each).
Kernel = tuple[int, int, bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]
LETTERS = 26  # type and severity letters are A-Z
