"""Client certificates judged after the handshake, the way nginx does it.

nginx asks for a client certificate with `SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, ngx_ssl_verify_callback)`,
and its callback always returns 1 (src/event/ngx_event_openssl.c): the handshake completes whatever the
client sent. Only when a request arrives does ngx_http_process_request (src/http/ngx_http_request.c) read
`SSL_get_verify_result()`: a certificate that did not verify is NGX_HTTPS_CERT_ERROR (495), no certificate
under `ssl_verify_client on` is NGX_HTTPS_NO_CERT (496), both answered as `400 Bad Request` with their own
page (src/http/ngx_http_special_response.c).

Python's `ssl` module has no verify callback, so this module sets one through OpenSSL itself (ctypes, on the
libssl that Python's `_ssl` uses): the `SSL_CTX *` and `SSL *` are the first fields after the object
header of CPython's `_ssl._SSLContext` and `_ssl._SSLSocket` (Modules/_ssl.c, unchanged since 3.7). Each
pointer is checked against OpenSSL before use (`SSL_get_SSL_CTX` must give back the context's pointer);
where the check fails the context keeps Python's own verification, so an untrusted certificate then fails
the handshake instead, and the app logs that it could not do better.
"""
from __future__ import annotations

import _ssl
import ctypes
import ssl

SSL_VERIFY_PEER = 0x01
X509_V_OK = 0

_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept_any(_preverify_ok: int, _store: int) -> int:
    return 1   # ngx_ssl_verify_callback: the result is kept, the handshake goes on


_ACCEPT_ANY = _VerifyCallback(_accept_any)   # module-level: OpenSSL keeps the pointer for the context's life


def _libssl() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(_ssl.__file__)     # dlsym on it searches libssl, which _ssl links against
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_get_verify_result.argtypes = [ctypes.c_void_p]
        lib.SSL_get_verify_result.restype = ctypes.c_long
        lib.SSL_get_SSL_CTX.argtypes = [ctypes.c_void_p]
        lib.SSL_get_SSL_CTX.restype = ctypes.c_void_p
        lib.X509_verify_cert_error_string.argtypes = [ctypes.c_long]
        lib.X509_verify_cert_error_string.restype = ctypes.c_char_p
        return lib
    except (OSError, AttributeError):
        return None


_LIB = _libssl()


def _first_pointer(obj: object) -> int | None:
    """The first C pointer after the Python object header (SSL_CTX* in _SSLContext; in _SSLSocket the
    second one, after the weakref to the socket, is the SSL*)."""
    return ctypes.c_void_p.from_address(id(obj) + object.__basicsize__).value


def _context_pointer(ctx: ssl.SSLContext) -> int | None:
    return _first_pointer(ctx)


def _ssl_pointer(sock: ssl.SSLSocket) -> int | None:
    sslobj = getattr(sock, "_sslobj", None)   # the _ssl._SSLSocket behind an ssl.SSLSocket
    if sslobj is None or _LIB is None:
        return None
    pointer = ctypes.c_void_p.from_address(id(sslobj) + object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)).value
    # The layout check: OpenSSL must name the context this socket uses.
    if not pointer or _LIB.SSL_get_SSL_CTX(pointer) != _context_pointer(sock.context):
        return None
    return pointer


def accept_any_client_certificate(ctx: ssl.SSLContext) -> bool:
    """Ask for a client certificate and finish the handshake whatever it is (nginx's ssl_verify_client).
    False when this Python cannot do that (the context then verifies in the handshake, as Python does)."""
    if _LIB is None:
        return False
    ctx.verify_mode = ssl.CERT_OPTIONAL        # Python's own bookkeeping; OpenSSL gets the callback below
    pointer = _context_pointer(ctx)
    if not pointer:
        return False
    _LIB.SSL_CTX_set_verify(pointer, SSL_VERIFY_PEER, _ACCEPT_ANY)
    return True


def verify_error(sock: ssl.SSLSocket) -> str | None:
    """Why the client's certificate did not verify, in OpenSSL's words ("20:unable to get local issuer
    certificate", as nginx logs it), or None when it verified, was not sent, or cannot be known."""
    pointer = _ssl_pointer(sock)
    if pointer is None or _LIB is None:
        return None
    result = _LIB.SSL_get_verify_result(pointer)
    if result == X509_V_OK:
        return None
    return f"{result}:{(_LIB.X509_verify_cert_error_string(result) or b'').decode()}"
