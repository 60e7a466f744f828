"""Types of the optional C kernel (stproxy_monitor/logs/_lineindex.c)."""

def index(
    data: bytes | bytearray, begin: int, end: int, want_lines: bool, /
) -> tuple[int, int, bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]: ...
