"""httpbin images (kennethreitz/httpbin, mccutchen/go-httpbin, ...): the real httpbin Flask app.

Served by werkzeug's threaded server. kennethreitz/httpbin and friends: plain HTTP on the
container's ports. mccutchen/go-httpbin (Istio's sample) as its image runs it (go-httpbin's README,
"Configuration"): `-port` / PORT (default 8080), HTTPS only when both `-https-cert-file` and
`-https-key-file` (or HTTPS_CERT_FILE / HTTPS_KEY_FILE) name files in the container; flags win over
env. With TLS on, plaintext gets Go's answer (see common.go_plaintext_reply).
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from labkit.apps.common import (
    access_line, bind_addresses, command_line, enable_tls, go_plaintext_reply, in_container, listen_urls, log,
    log_error, pod_address, serve_until_terminated, server_tls_context,
)
from labkit.apps.listen_ports import go_httpbin_settings
from labkit.model.addressing import real_port

# httpbin warns at import time that flasgger (the Swagger UI) is missing; the container
# image logs nothing like it, and the landing page works without it.
logging.getLogger("httpbin.core").setLevel(logging.ERROR)

from httpbin import app as httpbin_app  # noqa: E402  (after the logger is quietened)
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402


class _RequestHandler(WSGIRequestHandler):
    """werkzeug's handler with our access-log format and handshakes off the accept loop."""

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


def _go_httpbin(app) -> None:
    settings = go_httpbin_settings(command_line([]), dict(os.environ))
    cert, key = settings.get("https-cert-file"), settings.get("https-key-file")
    if bool(cert) != bool(key):
        log_error("error: https cert and key must both be provided")
        raise SystemExit(2)
    ctx = None
    if cert and key:
        for path in (cert, key):
            if not os.path.isfile(in_container(path)):
                log_error(f"error: open {path}: no such file or directory")
                raise SystemExit(1)
        ctx = server_tls_context(cert, key)
    address = (pod_address(), real_port(int(settings["port"])))
    server = make_server(*address, app, threaded=True, request_handler=_RequestHandler)
    enable_tls(server, ctx, go_plaintext_reply)
    server.ssl_context = ctx  # werkzeug decides http vs https for the WSGI environ from this attribute
    scheme = "https" if ctx else "http"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    serve_until_terminated([server], f'time={stamp} level=INFO msg="go-httpbin listening on '
                                     f'{scheme}://0.0.0.0:{settings["port"]}"')


def main() -> None:
    if os.environ.get("LABKIT_APP_VARIANT") == "go":
        _go_httpbin(_go_httpbin_teapot(httpbin_app))
        return
    addresses = bind_addresses()
    servers = [make_server(host, port, httpbin_app, threaded=True, request_handler=_RequestHandler)
               for host, port in addresses]
    serve_until_terminated(servers, f"httpbin listening on {listen_urls(addresses, False)}")


if __name__ == "__main__":
    main()
