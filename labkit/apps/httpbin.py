"""httpbin images (kennethreitz/httpbin, mccutchen/go-httpbin, ...): the real httpbin Flask app.

Served by werkzeug's threaded server on every LABKIT_BIND address, with the app's own TLS
when the runtime gives it a certificate (gateway PASSTHROUGH labs).
"""
from __future__ import annotations

import logging
import os

from labkit.apps.common import (
    access_line, bind_addresses, listen_urls, log, log_error, serve_until_terminated, tls_context, tls_handshake,
    wrap_tls,
)

# httpbin warns at import time that flasgger (the Swagger UI) is missing; the container
# image logs nothing like it, and the landing page works without it.
logging.getLogger("httpbin.core").setLevel(logging.ERROR)

from httpbin import app as httpbin_app  # noqa: E402  (after the logger is quietened)
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler with our access-log format and handshakes off the accept loop."""

    def handle(self) -> None:
        if tls_handshake(self.connection, self.client_address[0]):
            super().handle()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log(access_line(self.client_address[0], self.requestline, getattr(code, "value", code)))

    def log(self, type: str, message: str, *args) -> None:
        log_error(f"{self.client_address[0]} {message % args if args else message}")


def _go_httpbin_teapot(app):
    """go-httpbin (Istio's sample since 1.24) answers /status/418 with a short text, not the ASCII art."""
    def wrapped(environ, start_response):
        if environ.get("PATH_INFO") == "/status/418":
            start_response("418 I'M A TEAPOT", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("X-More-Info", "http://tools.ietf.org/html/rfc2324")])
            return [b"I'm a teapot!"]
        return app(environ, start_response)
    return wrapped


def main() -> None:
    app = _go_httpbin_teapot(httpbin_app) if os.environ.get("LABKIT_APP_VARIANT") == "go" else httpbin_app
    ctx = tls_context()
    addresses = bind_addresses()
    servers = []
    for host, port in addresses:
        server = make_server(host, port, app, threaded=True, request_handler=_RequestHandler)
        wrap_tls(server, ctx)
        # werkzeug decides http vs https for the WSGI environ from this attribute.
        server.ssl_context = ctx
        servers.append(server)
    serve_until_terminated(servers, f"httpbin listening on {listen_urls(addresses, ctx is not None)}")


if __name__ == "__main__":
    main()
