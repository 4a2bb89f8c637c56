"""What every sample app shares: the env contract, access logs, TLS, and the serving loop.

Apps built on :class:`App` use only the standard library so a pod is ready a few tens of
milliseconds after the runtime starts it; httpbin (a Flask app) reuses :func:`bind_addresses`,
:func:`server_tls_context`, :func:`enable_tls` and :func:`serve_until_terminated`.

An app serves TLS only when its image's own configuration asks for it (go-httpbin's flags, nginx's
nginx.conf), with files the YAML mounted into the container (:func:`in_container`).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from email.message import Message
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, NoReturn
from urllib.parse import parse_qs, unquote, urlsplit

from labkit.apps import client_verify

_log_lock = threading.Lock()


def log(line: str) -> None:
    """One line to stdout, flushed at once: the runtime tails the file while the app runs."""
    with _log_lock:  # print() writes text and newline separately; threads would interleave them
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log_error(line: str) -> None:
    with _log_lock:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def access_line(client: str, request_line: str, status: int | str) -> str:
    return f'{client} "{request_line}" {status}'


# --- the environment contract -------------------------------------------------------------

def variant(default: str = "v1") -> str:
    return os.environ.get("LABKIT_APP_VARIANT") or default


def pod_name() -> str:
    # Kubernetes sets HOSTNAME to the pod name; our processes share the host's, so the
    # runtime passes POD_NAME instead.
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


def bind_addresses() -> list[tuple[str, int]]:
    """LABKIT_BIND as (host, port) pairs; "[::1]:8080" style IPv6 is accepted too."""
    raw = os.environ.get("LABKIT_BIND", "")
    addresses = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise SystemExit(f"LABKIT_BIND: {item!r} is not ip:port")
        addresses.append((host.strip("[]"), int(port)))
    if not addresses:
        raise SystemExit("LABKIT_BIND is not set: give the ip:port list to listen on, e.g. 127.0.0.1:8080")
    return addresses


# --- what the container was given: its filesystem and command line ----------------------

def in_container(path: str) -> str:
    """Where a path inside the container lives on this host: the runtime builds each container's
    filesystem (the image's files plus the YAML's volume mounts) under LABKIT_ROOT."""
    root = os.environ.get("LABKIT_ROOT")
    if not root or not path.startswith("/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def command_line(default_args: list[str]) -> list[str]:
    """The arguments the image's entrypoint gets: the YAML's `args`, else the image's defaults.

    (A `command` replaces the entrypoint; an emulated image keeps its own program, so only the
    arguments after it matter: `command: [/bin/go-httpbin, -port, "9000"]` gives ["-port", "9000"].)"""
    command = json.loads(os.environ.get("LABKIT_COMMAND") or "null")
    args = json.loads(os.environ.get("LABKIT_ARGS") or "null")
    if command is not None:
        return list(command[1:]) + list(args or [])
    return list(args) if args is not None else list(default_args)


def pod_address() -> str:
    """The address the pod's containers listen on (behind the sidecar, or the pod IP without one)."""
    return os.environ.get("LABKIT_POD_IP") or bind_addresses()[0][0]


def server_tls_context(cert_file: str, key_file: str, client_ca_file: str | None = None,
                       client_optional: bool = False) -> ssl.SSLContext:
    """Server TLS from files inside the container (paths as the app's configuration names them)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(in_container(cert_file), in_container(key_file))
    if client_ca_file:
        ctx.load_verify_locations(in_container(client_ca_file))
        ctx.verify_mode = ssl.CERT_OPTIONAL if client_optional else ssl.CERT_REQUIRED
    # We speak HTTP/1.1 only; without this a client offering h2 could pick nothing sensible.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


TLS_HANDSHAKE_RECORD = 0x16
SSL2_HELLO = 0x80
PlaintextReply = Callable[[bytes], "bytes | None"]


def go_plaintext_reply(head: bytes) -> bytes | None:
    """Go's net/http TLS server (tlsRecordHeaderLooksLikeHTTP in net/http/server.go): a first record
    that starts like an HTTP request gets this bare reply; any other plaintext is just closed."""
    if head[:5] in (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"):
        return b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    return None


def _peek(connection: socket.socket, size: int) -> bytes:
    """The first `size` bytes the client sent (fewer if it hung up), left unread for the handshake."""
    head = b""
    deadline = time.monotonic() + 10
    while len(head) < size and time.monotonic() < deadline:
        chunk = connection.recv(size, socket.MSG_PEEK)
        if len(chunk) <= len(head):
            if not chunk:
                return b""
            if len(chunk) == len(head):
                time.sleep(0.005)  # a client writing byte by byte; peek again
        head = chunk
    return head


def start_tls(connection: socket.socket, ctx: ssl.SSLContext, client: str,
              plaintext_reply: PlaintextReply | None) -> socket.socket | None:
    """The server side of a TLS handshake on an accepted connection, in its own thread (so a silent
    client, a TCP readiness probe say, stalls nobody). Plaintext gets the product's own answer."""
    try:
        head = _peek(connection, 5)
    except OSError:
        return None
    if not head or head[0] not in (TLS_HANDSHAKE_RECORD, SSL2_HELLO):
        reply = plaintext_reply(head) if (plaintext_reply and head) else None
        log_error(f"{client} TLS handshake error: "
                  + ("client sent an HTTP request to an HTTPS server" if reply
                     else "first record does not look like a TLS handshake"))
        try:
            if reply:
                connection.sendall(reply)
        except OSError:
            pass
        return None
    try:
        return ctx.wrap_socket(connection, server_side=True)
    except (ssl.SSLError, OSError) as err:
        log_error(f"{client} TLS handshake failed: {err}")
        return None


def enable_tls(server: socketserver.TCPServer, ctx: ssl.SSLContext | None,
               plaintext_reply: PlaintextReply | None = None) -> None:
    """Serve TLS on an already bound server when the app's configuration asked for it (ctx)."""
    if ctx is None:
        return
    plain_finish = server.finish_request

    def finish_request(request, client_address):
        secured = start_tls(request, ctx, client_address[0], plaintext_reply)
        if secured is None:
            return
        try:
            plain_finish(secured, client_address)
        finally:
            try:
                secured.close()
            except OSError:
                pass
    server.finish_request = finish_request  # type: ignore[method-assign]


STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def hold_stop_signals() -> None:
    """Queue SIGTERM/SIGINT for :func:`wait_for_termination` instead of dying mid-setup.

    Call it before starting threads (they inherit the mask) so that sigwait in the main
    thread is the one place the signals are taken: no handler races, and exit is immediate.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def wait_for_termination() -> None:
    hold_stop_signals()
    signal.sigwait(STOP_SIGNALS)


def serve_until_terminated(servers: Iterable[socketserver.BaseServer], banner: str) -> NoReturn:
    """Run every server in a thread; on SIGTERM/SIGINT exit the process (status 0) at once."""
    hold_stop_signals()
    for server in servers:
        threading.Thread(target=server.serve_forever, name=f"serve-{server.server_address}", daemon=True).start()
    log(banner)
    wait_for_termination()
    _exit_now()


def _exit_now() -> NoReturn:
    # os._exit rather than sys.exit: handler threads may be writing to stdout, and a normal
    # interpreter shutdown with daemon threads holding the stdout lock can abort with
    # "could not acquire lock ... at interpreter shutdown".
    with _log_lock:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def listen_urls(addresses: Iterable[tuple[str, int]], tls: bool) -> str:
    scheme = "https" if tls else "http"
    return ", ".join(f"{scheme}://[{h}]:{p}" if ":" in h else f"{scheme}://{h}:{p}" for h, p in addresses)


# --- a tiny routing layer over http.server ------------------------------------------------

@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    client: str
    client_cert: bool = False   # the client presented a certificate in the TLS handshake
    # Why that certificate did not verify, when the server accepted it anyway (client_verify.py)
    client_cert_error: str | None = None

    def cookie(self, name: str) -> str | None:
        for header in self.headers.get_all("Cookie") or ():
            for pair in header.split(";"):
                key, sep, value = pair.strip().partition("=")
                if sep and key == name:
                    return unquote(value)
        return None

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8", "replace"))


@dataclass
class Response:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encoded(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


def json_response(obj, status: int = 200, *, content_type: str = "application/json") -> Response:
    # Compact, as JSON.stringify and Ruby's to_json write it.
    return Response(json.dumps(obj, separators=(",", ":")), status, content_type)


def html_response(text: str, status: int = 200) -> Response:
    return Response(text, status, "text/html; charset=utf-8")


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(b"", 302, headers=[("Location", location), *(headers or [])])


def express_not_found(request: Request) -> Response:
    """The 404 page of an Express (Node.js) app, which is what the Tetrate images are."""
    text = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
            f'</head>\n<body>\n<pre>Cannot {request.method} {escape(request.path)}</pre>\n</body>\n</html>\n')
    return html_response(text, 404)


def plain_not_found(request: Request) -> Response:
    return Response("Not Found\n", 404)


Handler = Callable[..., Response]


class App:
    """Routes (regex over the path, full match; groups become arguments) plus serving."""

    def __init__(self, name: str, *, server_header: str | None = None,
                 not_found: Callable[[Request], Response] = plain_not_found):
        self.name = name
        self.server_header = server_header
        self.not_found = not_found
        self._routes: list[tuple[re.Pattern[str], frozenset[str], Handler]] = []

    def route(self, pattern: str, methods: Iterable[str] = ("GET",)) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            self._routes.append((re.compile(pattern), frozenset(m.upper() for m in methods), func))
            return func
        return register

    def dispatch(self, request: Request) -> Response:
        # HEAD is GET without the body; the body is dropped when sending.
        method = "GET" if request.method == "HEAD" else request.method
        allowed: set[str] = set()
        for pattern, methods, func in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method in methods:
                return func(request, *match.groups())
            allowed |= methods
        if allowed:
            return Response("Method Not Allowed\n", 405, headers=[("Allow", ", ".join(sorted(allowed)))])
        return self.not_found(request)

    def serve(self, banner_detail: str = "") -> NoReturn:
        """Plain HTTP on the container's ports: these images have no TLS setting of their own."""
        addresses = bind_addresses()
        servers = [self.server(host, port) for host, port in addresses]
        detail = f" {banner_detail}" if banner_detail else ""
        serve_until_terminated(servers, f"{self.name}{detail} listening on {listen_urls(addresses, False)}")

    def server(self, host: str, port: int, handler_base: type | None = None) -> socketserver.TCPServer:
        handler = type(f"{self.name}Handler", (handler_base or AppRequestHandler,), {"app": self})
        return _make_server(host, port, handler)


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # sidecars open bursts of connections; the default 5 drops them


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


def _make_server(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> _ThreadingServer:
    cls = _ThreadingServer6 if ":" in host else _ThreadingServer
    try:
        return cls((host, port), handler)
    except OSError as err:
        raise SystemExit(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


class AppRequestHandler(BaseHTTPRequestHandler):
    # Keep-alive: Envoy pools upstream connections, and HTTP/1.0 would cost one per request.
    protocol_version = "HTTP/1.1"
    app: App

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:
            pass  # the client went away mid-request; nothing to answer

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(url.path) or "/",
            query=parse_qs(url.query, keep_blank_values=True),
            headers=self.headers,
            body=self._read_body(),
            client=self.client_address[0],
            client_cert=isinstance(self.connection, ssl.SSLSocket) and bool(self.connection.getpeercert(True)),
            client_cert_error=(client_verify.verify_error(self.connection)
                               if isinstance(self.connection, ssl.SSLSocket) else None),
        )
        try:
            response = self.app.dispatch(request)
        except Exception:
            log_error(traceback.format_exc().rstrip())
            response = Response("Internal Server Error\n", 500)
        self._send(response)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        return self.rfile.read(int(length)) if length and length.isdigit() else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        body = response.encoded()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_response(self, code: int, message: str | None = None) -> None:
        # Like the base class, but the Server header is the emulated product's (or none:
        # Express sends none), not "BaseHTTP/0.6 Python/3.x".
        self.log_request(code)
        self.send_response_only(code, message)
        if self.app.server_header:
            self.send_header("Server", self.app.server_header)
        self.send_header("Date", self.date_time_string())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log(access_line(self.client_address[0], self.requestline, getattr(code, "value", code)))

    def log_message(self, format: str, *args) -> None:
        log_error(f"{self.client_address[0]} {format % args}")
