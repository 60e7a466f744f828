"""A record's message: its id, where the layouts put it, and what a lifecycle message names."""

from __future__ import annotations

import re

# Both lineindex kernels decide CLFRX ids exactly as message_id does, for the three layouts
# (tests/logs/test_lineindex.py holds a plain-Python mirror): change them together.
MESSAGE_ID = re.compile(r"(?P<id>[A-Z]{4,5}\d{4}(?P<sev>[A-Z]))(?::|\s|$)")
LIFECYCLE = {"WSVR0001I": "started", "WSVR0023I": "stopping", "WSVR0024I": "stopped"}


def message_id(rest: str, severity: str) -> str | None:
    """The message id of a record: first token, or the third after class and method names.

    System.out/err text (O, R) has no class and method: only its first token can be an id.
    """
    if rest.startswith("  "):
        token = rest.strip().split(" ", 1)[0]
    elif severity in ("O", "R"):
        token = rest.split(" ", 1)[0]
    else:
        parts = rest.split(" ", 3)
        token = parts[2] if len(parts) > 2 else ""
    m = MESSAGE_ID.match(token)
    return m["id"] if m else None


def server_word(rest: str) -> str:
    """The server name in 'WSVR0001I: Server X open for e-business' (informational only)."""
    m = re.search(r"Server (\S+) ", rest)
    return m[1] if m else ""
