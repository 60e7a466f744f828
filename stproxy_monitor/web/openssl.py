"""Two OpenSSL settings Python's ssl module does not expose, set on an SSLContext's SSL_CTX.

- the key-exchange group list (SSL_CTX_set1_groups_list): `set_ecdh_curve` names one curve,
  and leaves TLS 1.3's finite-field groups (ffdhe2048...) and X448 offered;
- a certificate verify callback, so that a client certificate naming none of the allowed SANs
  fails inside the handshake, where OpenSSL answers it with a bad_certificate alert (after the
  handshake, Python could only close the connection, and a scraper saw a bare EOF).

Both go through ctypes to the libssl that the `_ssl` module itself is linked with, on the
SSL_CTX pointer that `_ssl._SSLContext` keeps right after its object header. The pointer is
checked (the options OpenSSL reports must be the context's) before anything is set: on an
interpreter where it is not there, the functions return False and the callers refuse the
setting with the reason rather than guess.
"""

from __future__ import annotations

import _ssl
import ctypes
import ssl
from collections.abc import Callable

SSL_CTRL_SET_GROUPS_LIST = 92  # SSL_CTX_set1_groups_list is a macro over SSL_CTX_ctrl
X509_V_ERR_CERT_REJECTED = 28  # mapped by OpenSSL to the bad_certificate alert
VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _library() -> ctypes.CDLL | None:
    """libssl as linked into _ssl, with the prototypes used here; None if not loadable (e.g.
    on Windows, where _ssl does not export OpenSSL's symbols)."""
    try:
        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, VERIFY_CALLBACK]
        lib.X509_STORE_CTX_get_error_depth.restype = ctypes.c_int
        lib.X509_STORE_CTX_get_error_depth.argtypes = [ctypes.c_void_p]
        lib.X509_STORE_CTX_get_current_cert.restype = ctypes.c_void_p
        lib.X509_STORE_CTX_get_current_cert.argtypes = [ctypes.c_void_p]
        lib.X509_STORE_CTX_set_error.restype = None
        lib.X509_STORE_CTX_set_error.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.i2d_X509.restype = ctypes.c_int
        lib.i2d_X509.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


_LIB = _library()


def _ctx_pointer(context: ssl.SSLContext) -> int | None:
    """The SSL_CTX* of a context, verified against its options; None if it cannot be found."""
    if _LIB is None:
        return None
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer:
        return None
    probe = context.options
    if _LIB.SSL_CTX_get_options(pointer) != int(probe):
        return None
    return int(pointer)


def set_groups(context: ssl.SSLContext, groups: list[str]) -> bool:
    """Restrict the key-exchange groups (OpenSSL names, in preference order); False if not."""
    pointer = _ctx_pointer(context)
    if pointer is None or _LIB is None:
        return False
    return bool(_LIB.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_GROUPS_LIST, 0, ":".join(groups).encode()))


def set_leaf_check(context: ssl.SSLContext, check: Callable[[bytes], bool]) -> bool:
    """After OpenSSL verified the chain, `check(leaf DER)` must also accept the client
    certificate, or the handshake fails with a bad_certificate alert. Call after verify_mode
    is set (Python keeps the callback when the mode changes later); False if not possible."""
    pointer = _ctx_pointer(context)
    if pointer is None or _LIB is None:
        return False
    lib = _LIB

    def verify(preverify_ok: int, store: int) -> int:
        if not preverify_ok or lib.X509_STORE_CTX_get_error_depth(store) != 0:
            return preverify_ok
        try:
            cert = lib.X509_STORE_CTX_get_current_cert(store)
            size = lib.i2d_X509(cert, None)
            buffer = ctypes.create_string_buffer(size)
            cursor = ctypes.c_char_p(ctypes.addressof(buffer))
            lib.i2d_X509(cert, ctypes.byref(cursor))
            accepted = check(buffer.raw[:size])
        except Exception:
            accepted = False
        if not accepted:
            lib.X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED)
        return int(accepted)

    callback = VERIFY_CALLBACK(verify)
    # The callback must live as long as the context: kept on it.
    context._stproxy_verify_callback = callback  # type: ignore[attr-defined]
    lib.SSL_CTX_set_verify(pointer, lib.SSL_CTX_get_verify_mode(pointer), callback)
    return True
