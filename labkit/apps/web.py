"""nginx, driven by the nginx.conf in its container (the image's own, or one the YAML mounts).

The stock image serves its welcome page on port 80 over plain HTTP; HTTPS exists only where a
`listen ... ssl` server names its `ssl_certificate`/`ssl_certificate_key` files (which the YAML must
mount). Errors and the Server header read "nginx" without a version, as with `server_tokens off`.

With `ssl_verify_client on|optional`, as in nginx, the handshake completes whatever certificate the
client sends (client_verify.py); the request then gets nginx's `400 Bad Request` page "The SSL certificate
error" for a certificate that did not verify, or, under `on`, "No required SSL certificate was sent" for
none, and the connection is closed (ngx_http_special_response_handler turns keepalive off for both).
"""
from __future__ import annotations

import glob
import os
import posixpath
import ssl
import sys
from datetime import datetime, timezone
from typing import Any

from labkit.apps import client_verify
from labkit.apps.common import (
    App, Request, Response, AppRequestHandler, enable_tls, in_container, log, log_error, pod_address,
    serve_until_terminated, server_tls_context,
)
from labkit.apps import nginx_conf
from labkit.model.addressing import real_port


def error_page(status: int, reason: str, detail: str = "") -> Response:
    extra = f"<center>{detail}</center>\r\n" if detail else ""
    title = f"{status} {detail}" if detail else f"{status} {reason}"
    body = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n{extra}<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    return Response(body, status, "text/html")


def nginx_plaintext_reply(head: bytes) -> bytes:
    """nginx answers plain HTTP on an ssl port (ngx_http_ssl_handshake) with this page, then closes."""
    page = error_page(400, "Bad Request", "The plain HTTP request was sent to HTTPS port").encoded()
    return (b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
            b"Content-Length: " + str(len(page)).encode() + b"\r\nConnection: close\r\n\r\n" + page)


def _closing(response: Response) -> Response:
    response.headers.append(("Connection", "close"))
    return response


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 403: "Forbidden", 404: "Not Found",
            405: "Not Allowed", 500: "Internal Server Error"}


def _read(path: str) -> str | None:
    try:
        with open(in_container(path), encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _glob(pattern: str) -> list[str]:
    root = in_container("/")
    found = sorted(glob.glob(in_container(pattern)))
    return ["/" + os.path.relpath(p, root) if root != "/" else p for p in found]


class NginxSite(App):
    """The servers of one listening port; `dispatch` picks a server by Host, then a location."""

    def __init__(self, port: int, servers: list[nginx_conf.Server], mime_types: dict[str, str]):
        super().__init__("nginx", server_header="nginx")
        self.port, self.servers, self.mime_types = port, servers, mime_types

    def server_for(self, host: str) -> nginx_conf.Server:
        host = host.split(":")[0].lower()
        for server in self.servers:
            if server.matches_name(host):
                return server
        return next((s for s in self.servers if any(lst.default and lst.port == self.port for lst in s.listens)),
                    self.servers[0])

    def dispatch(self, request: Request) -> Response:
        server = self.server_for(request.headers.get("Host", ""))
        verify = server.settings.get("ssl_verify_client", "off")
        # nginx logs both at level info, below the error_log levels its configs use: nothing is printed.
        if verify in ("on", "optional") and request.client_cert_error:
            return _closing(error_page(400, "Bad Request", "The SSL certificate error"))
        if verify == "on" and not request.client_cert:
            return _closing(error_page(400, "Bad Request", "No required SSL certificate was sent"))
        location = server.location_for(request.path)
        settings = location.settings if location else server.settings
        returns = (location.returns if location else None) or server.returns
        if returns is not None:
            response = self._returned(*returns, settings)
        else:
            response = self._static(request, settings)
        response.headers.extend(settings.get("add_header") or [])
        return response

    def _returned(self, code: int, text: str, settings: dict) -> Response:
        if code in (301, 302, 303, 307, 308):
            return Response(error_page(code, _REASONS.get(code, "")).body, code, "text/html", [("Location", text)])
        if text:
            return Response(text, code, settings.get("default_type", "text/plain"))
        return error_page(code, _REASONS.get(code, ""))

    def _static(self, request: Request, settings: dict) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_page(405, "Not Allowed")  # nginx's static handler takes GET/HEAD only
        root = settings.get("root", "html")
        if not root.startswith("/"):
            root = posixpath.join(nginx_conf.CONF_PREFIX, root)
        path = posixpath.normpath(request.path)
        if request.path.endswith("/"):
            for index in settings.get("index") or ["index.html"]:
                candidate = posixpath.join(root, path.lstrip("/"), index)
                if os.path.isfile(in_container(candidate)):
                    return self._file(candidate)
            return error_page(403 if os.path.isdir(in_container(posixpath.join(root, path.lstrip("/"))))
                              else 404, "Forbidden" if os.path.isdir(in_container(root)) else "Not Found")
        target = posixpath.join(root, path.lstrip("/"))
        if os.path.isdir(in_container(target)):
            return Response(error_page(301, "Moved Permanently").body, 301, "text/html",
                            [("Location", request.path + "/")])
        if os.path.isfile(in_container(target)):
            return self._file(target)
        return error_page(404, "Not Found")

    def _file(self, path: str) -> Response:
        with open(in_container(path), "rb") as f:
            data = f.read()
        ext = path.rsplit(".", 1)[-1] if "." in posixpath.basename(path) else ""
        mtime = datetime.fromtimestamp(os.path.getmtime(in_container(path)), timezone.utc)
        return Response(data, 200, self.mime_types.get(ext, "application/octet-stream"),
                        [("Last-Modified", mtime.strftime("%a, %d %b %Y %H:%M:%S GMT")),
                         ("ETag", f'"{int(mtime.timestamp()):x}-{len(data):x}"'), ("Accept-Ranges", "bytes")])


class _NginxHandler(AppRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        stamp = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000")
        agent = self.headers.get("User-Agent", "-") if self.headers else "-"
        referer = self.headers.get("Referer", "-") if self.headers else "-"
        forwarded = self.headers.get("X-Forwarded-For", "-") if self.headers else "-"
        log(f'{self.client_address[0]} - - [{stamp}] "{self.requestline}" {getattr(code, "value", code)} - '
            f'"{referer}" "{agent}" "{forwarded}"')


def _tls_for(servers: list[nginx_conf.Server]) -> ssl.SSLContext:
    """One context per server; SNI picks the server's certificate (the first server's by default).

    OpenSSL keeps the verify mode of the context a connection started with when SNI switches it (nginx
    sets it again in its servername callback), so every context of the port asks for a client certificate
    when any of its servers does; each server then judges the answer in `dispatch`."""
    asks = any(s.settings.get("ssl_verify_client", "off") in ("on", "optional") for s in servers)
    contexts = []
    for server in servers:
        s = server.settings
        verify = s.get("ssl_verify_client", "off")
        ca = s.get("ssl_client_certificate") if verify in ("on", "optional") else None
        ctx = server_tls_context(s["ssl_certificate"], s["ssl_certificate_key"], ca, client_optional=True)
        if asks and not client_verify.accept_any_client_certificate(ctx):
            log_error("nginx: [warn] this Python cannot accept an unverified client certificate in the "
                      "handshake; such a client fails the handshake instead of getting 400")
        contexts.append((server, ctx))
    default = contexts[0][1]

    def pick(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        for server, ctx in contexts:
            if name and server.matches_name(name.lower()):
                sock.context = ctx
                return
    default.sni_callback = pick
    return default


def main() -> None:
    try:
        config = nginx_conf.load(_read, _glob)
    except (nginx_conf.ConfError, OSError, ssl.SSLError) as err:
        log_error(f"nginx: [emerg] {err}")
        sys.exit(1)
    ports: dict[int, list[nginx_conf.Server]] = {}
    for conf_server in config.servers:
        for listen in conf_server.listens:
            if conf_server not in ports.setdefault(listen.port, []):
                ports[listen.port].append(conf_server)
    host = pod_address()
    servers: list = []
    for port, members in sorted(ports.items()):
        ssl_on = any(lst.ssl for s in members for lst in s.listens if lst.port == port)
        site = NginxSite(port, members, config.mime_types)
        server: Any = site.server(host, real_port(port), _NginxHandler)
        if ssl_on:
            try:
                enable_tls(server, _tls_for(members), nginx_plaintext_reply)
            except (OSError, ssl.SSLError) as err:
                log_error(f'nginx: [emerg] cannot load certificate: {err}')
                sys.exit(1)
        servers.append(server)
    serve_until_terminated(servers, "nginx: start worker processes")


if __name__ == "__main__":
    main()
