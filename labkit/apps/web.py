"""nginx: the stock welcome page on / (and /index.html), nginx's own error pages elsewhere.

Errors and the Server header read "nginx" without a version, as with `server_tokens off`.
"""
from __future__ import annotations

from labkit.apps.common import App, Request, Response, html_response

WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

# Static files are served with validators; fixed ones keep responses byte-identical.
STATIC_HEADERS = [
    ("Last-Modified", "Tue, 16 Apr 2024 14:29:59 GMT"),
    ("ETag", '"661e8b67-267"'),
    ("Accept-Ranges", "bytes"),
]


def error_page(status: int, reason: str) -> Response:
    body = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    return html_response(body, status)


def build_app() -> App:
    app = App("nginx", server_header="nginx", not_found=lambda request: error_page(404, "Not Found"))

    @app.route("/(?:index\\.html)?", methods=("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
    def index(request: Request):
        if request.method not in ("GET", "HEAD"):
            return error_page(405, "Not Allowed")  # nginx's static handler takes GET/HEAD only
        return Response(WELCOME, 200, "text/html", list(STATIC_HEADERS))

    return app


def main() -> None:
    build_app().serve()


if __name__ == "__main__":
    main()
