"""Windows: open a log with FILE_SHARE_DELETE so that WebSphere can rename it while we read."""

from __future__ import annotations

import sys
from typing import BinaryIO

if sys.platform == "win32":  # pragma: no cover - Windows only
    import ctypes
    import msvcrt
    import os
    from ctypes import wintypes

    _GENERIC_READ = 0x80000000
    _SHARE_ALL = 0x00000001 | 0x00000002 | 0x00000004  # READ | WRITE | DELETE
    _OPEN_EXISTING = 3
    _NORMAL = 0x80
    _INVALID = wintypes.HANDLE(-1).value
    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.CreateFileW.restype = wintypes.HANDLE
    _kernel32.CreateFileW.argtypes = [
        wintypes.LPCWSTR,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.LPVOID,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.HANDLE,
    ]

    def open_share_delete(path: str) -> BinaryIO:
        """Open `path` for binary reading; renaming or deleting it stays possible."""
        handle = _kernel32.CreateFileW(
            path, _GENERIC_READ, _SHARE_ALL, None, _OPEN_EXISTING, _NORMAL, None
        )
        if handle == _INVALID:
            code = ctypes.get_last_error()
            raise ctypes.WinError(code)  # FileNotFoundError / PermissionError by winerror
        fd = msvcrt.open_osfhandle(handle, os.O_RDONLY | os.O_BINARY)
        return os.fdopen(fd, "rb")
