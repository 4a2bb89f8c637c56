"""tetratelabs/web-frontend: a page listing the customers fetched from CUSTOMER_SERVICE_URL.

The real app is Node.js, so a failed call shows Node's error text (``Error: read
ECONNRESET`` when a STRICT-mTLS sidecar resets a plaintext connection) with status 500.
It forwards the inbound user-agent, which the course's "route user-agent: debug to
customers v2" lab relies on, and the trace headers.
"""
from __future__ import annotations

import json
import os
from html import escape

from labkit.apps import net
from labkit.apps.common import App, Request, express_not_found, html_response

DEFAULT_CUSTOMER_SERVICE_URL = "http://customers.default.svc.cluster.local"
# Longer than any delay a fault-injection lab injects, so the page shows the delay, not us.
CALL_TIMEOUT_S = 30.0
FORWARDED = (*net.TRACE_HEADERS, "user-agent")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Customers</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 1em; text-align: left; }}
.error {{ color: #b00020; font-weight: bold; }}
</style>
</head>
<body>
<h1>Customers</h1>
{content}
</body>
</html>
"""


class CustomersUnavailable(Exception):
    """The customer list could not be fetched; str() is the text the page shows."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def fetch_customers(url: str, headers: dict[str, str]) -> list[dict]:
    try:
        status, _, body = net.http_get(url, CALL_TIMEOUT_S, headers)
    except net.NetError as err:
        raise CustomersUnavailable(f"Error: {err}") from err
    text = body.decode("utf-8", "replace")
    if not 200 <= status < 300:
        # axios' wording; the body (e.g. "RBAC: access denied") is what tells learners why.
        raise CustomersUnavailable(f"Error: Request failed with status code {status}", text[:500])
    try:
        customers = json.loads(text)
    except ValueError:
        raise CustomersUnavailable("Error: customers service did not return JSON", text[:500]) from None
    if not isinstance(customers, list):
        raise CustomersUnavailable("Error: customers service did not return a list", text[:500])
    return [c for c in customers if isinstance(c, dict)]


def render_table(customers: list[dict]) -> str:
    with_city = any("city" in c for c in customers)
    head = "<th>Name</th><th>City</th>" if with_city else "<th>Name</th>"
    rows = []
    for customer in customers:
        cells = f"<td>{escape(str(customer.get('name', '')))}</td>"
        if with_city:
            cells += f"<td>{escape(str(customer.get('city', '')))}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def render_error(err: CustomersUnavailable) -> str:
    detail = f"\n<pre>{escape(err.detail)}</pre>" if err.detail else ""
    return f'<p class="error">{escape(str(err))}</p>{detail}'


def build_app(customer_service_url: str) -> App:
    app = App("web-frontend", not_found=express_not_found)

    @app.route("/")
    def index(request: Request):
        try:
            customers = fetch_customers(customer_service_url, net.forward_headers(request.headers, FORWARDED))
        except CustomersUnavailable as err:
            return html_response(PAGE.format(content=render_error(err)), 500)
        return html_response(PAGE.format(content=render_table(customers)))

    return app


def main() -> None:
    url = os.environ.get("CUSTOMER_SERVICE_URL") or DEFAULT_CUSTOMER_SERVICE_URL
    build_app(url).serve(f"-> {url}")


if __name__ == "__main__":
    main()
