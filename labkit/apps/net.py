"""Outbound HTTP for the sample apps, as if cluster DNS and kube-proxy were there.

A URL keeps its real host (it is the Host header, the TLS server name and what the error
texts mention) but the TCP connection goes to the loopback address the runtime maps it to
in LABKIT_RESOLVE_FILE. Failures raise :class:`NetError`, worded the way Node.js words them
(``read ECONNRESET``, ``connect ECONNREFUSED 127.0.0.1:80``), because that is what the
course's web-frontend shows and what learners search for.
"""
from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time
from email.message import Message
from typing import Iterable
from urllib.parse import urlsplit

RESOLVE_FILE_ENV = "LABKIT_RESOLVE_FILE"
_RACY_WINDOW_S = 2.0

# Headers Istio needs an app to copy from its inbound request to its outbound ones so that
# the sidecars' spans join into one trace (istio.io "trace context propagation").
TRACE_HEADERS = (
    "x-request-id",
    "x-ot-span-context",
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "traceparent",
    "tracestate",
    "x-cloud-trace-context",
    "grpc-trace-bin",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "sw8",
)


class NetError(OSError):
    """A failed outbound call: `code` is the Node.js error code, str() its message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class _ResolveMap:
    """The runtime's host map, re-read whenever the file is replaced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._hosts: dict[str, str] = {}

    def hosts(self, path: str) -> dict[str, str]:
        try:
            st = os.stat(path)
        except OSError:
            return {}  # not written yet, or removed: every name is unknown
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        # File times tick coarsely (milliseconds) and a freed inode number can come back, so
        # two quick same-size rewrites may share a stamp; a file that young is re-read anyway.
        racy = time.time() - st.st_mtime < _RACY_WINDOW_S
        with self._lock:
            if racy or (path, stamp) != (self._path, self._stamp):
                self._load(path, stamp)
            return self._hosts

    def _load(self, path: str, stamp: tuple[int, int, int]) -> None:
        try:
            with open(path, encoding="utf-8") as f:
                hosts = json.load(f).get("hosts", {})
        except (OSError, ValueError, AttributeError) as err:
            # Keep the last good map: the runtime replaces the file atomically, so a bad
            # read is transient or a runtime bug, and either way old answers beat none.
            sys.stderr.write(f"labkit: cannot read {path}: {err}\n")
            return
        self._hosts = {str(k).lower(): str(v) for k, v in hosts.items()}
        self._path, self._stamp = path, stamp


_map = _ResolveMap()


def _split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(host: str, port: int) -> tuple[str, int]:
    """Where to connect for `host:port` as written in a URL.

    With no LABKIT_RESOLVE_FILE set (an app run by hand) the name goes to the system
    resolver unchanged. IP literals need no lookup, as in a real pod.
    """
    path = os.environ.get(RESOLVE_FILE_ENV)
    name = host.lower().rstrip(".")
    if path:
        target = _map.hosts(path).get(f"{name}:{port}")
        if target:
            return _split_hostport(target)
    if not path or _is_ip(name):
        return host, port
    raise NetError("ENOTFOUND", f"getaddrinfo ENOTFOUND {host}")


def forward_headers(incoming: Message, names: Iterable[str] = TRACE_HEADERS) -> dict[str, str]:
    """The subset of an inbound request's headers to copy onto an outbound call."""
    return {name: incoming[name] for name in names if incoming.get(name) is not None}


_client_tls: ssl.SSLContext | None = None


def _client_tls_context() -> ssl.SSLContext:
    global _client_tls
    if _client_tls is None:
        _client_tls = ssl.create_default_context()
        _client_tls.set_alpn_protocols(["http/1.1"])
    return _client_tls


def http_get(url: str, timeout: float = 10.0, headers: dict[str, str] | None = None
             ) -> tuple[int, Message, bytes]:
    """GET `url`; returns (status, headers, body). Any status is a result, not an error.

    `timeout` bounds the connect and each read, like requests' timeout.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    https = scheme == "https"
    port = parts.port or (443 if https else 80)
    ip, target_port = resolve(parts.hostname, port)

    sock = _connect(ip, target_port, timeout)
    if https:
        sock = _handshake(sock, parts.hostname)
    # The connection object is built for the real host and port, so the Host header is
    # what the URL says; handing it our socket means it never connects by itself.
    conn_class = http.client.HTTPSConnection if https else http.client.HTTPConnection
    conn = conn_class(parts.hostname, port, timeout=timeout)
    conn.sock = sock
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            conn.request("GET", target, headers=headers or {})
        except (OSError, http.client.HTTPException) as err:
            raise _translate("write", err) from err
        try:
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as err:
            raise _translate("read", err) from err
    finally:
        conn.close()
    return response.status, response.msg, body


def _connect(ip: str, port: int, timeout: float) -> socket.socket:
    address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    try:
        return socket.create_connection((ip, port), timeout=timeout)
    except socket.gaierror as err:  # only reachable for hand-run apps using system DNS
        raise NetError("ENOTFOUND", f"getaddrinfo ENOTFOUND {ip}") from err
    except OSError as err:
        raise _translate("connect", err, address) from err


def _handshake(sock: socket.socket, server_name: str) -> ssl.SSLSocket:
    try:
        return _client_tls_context().wrap_socket(sock, server_hostname=server_name)
    except ssl.SSLCertVerificationError as err:
        sock.close()
        raise NetError("CERT_VERIFY_FAILED", err.verify_message or str(err)) from err
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError) as err:
        sock.close()
        raise NetError("ECONNRESET", "Client network socket disconnected before secure TLS "
                                     "connection was established") from err
    except OSError as err:
        sock.close()
        raise _translate("read", err) from err


def _translate(syscall: str, err: BaseException, address: str | None = None) -> NetError:
    """Name a socket failure the way Node.js does: '<syscall> <CODE>[ <address>]'."""
    if isinstance(err, http.client.RemoteDisconnected):
        # Closed (FIN, not RST) before any response byte: Node's "socket hang up".
        return NetError("ECONNRESET", "socket hang up")
    if isinstance(err, http.client.IncompleteRead):
        return NetError("ECONNRESET", "aborted")
    if isinstance(err, http.client.HTTPException):
        return NetError("HPE_INVALID_CONSTANT", "Parse Error: Expected HTTP/")
    if isinstance(err, ssl.SSLError):  # its errno is an OpenSSL code, not a POSIX one
        return NetError("EPROTO", f"{syscall} EPROTO {err.reason or err}")
    if isinstance(err, TimeoutError) and not err.errno:  # socket.timeout carries no errno
        code = "ETIMEDOUT"
    else:
        code = errno.errorcode.get(getattr(err, "errno", None) or errno.EIO, "EIO")
    return NetError(code, f"{syscall} {code}" + (f" {address}" if address else ""))
