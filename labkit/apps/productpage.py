"""istio/examples-bookinfo-productpage-v1: the Bookinfo front page (a Flask app).

It calls details once and reviews up to twice, each with a 3 s timeout, exactly like the
original: Istio's fault-injection and timeout tasks are built on those numbers. A failed
backend (refused, reset, timed out, or any non-200 such as "RBAC: access denied") turns
into the "Sorry, ... currently unavailable" text while the page itself stays 200.
"""
from __future__ import annotations

import json
import os
from urllib.parse import quote

from labkit.apps import net
from labkit.apps.common import App, Request, Response, html_response, json_response, redirect
from labkit.apps.productpage_html import index_page, product_page

TIMEOUT_S = 3.0
REVIEWS_ATTEMPTS = 2  # the original's deliberate double call, kept for the fault-injection task
PRODUCTS = [{
    "id": 0,
    "title": "The Comedy of Errors",
    "descriptionHtml": '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: '
                       "The Comedy of Errors is one of <b>William Shakespeare's</b> early plays. It is his "
                       "shortest and one of his most farcical comedies, with a major part of the humour "
                       "coming from slapstick and mistaken identity, in addition to puns and word play.",
}]
# Beyond tracing, the original forwards these so that routing and authorization rules can
# match on the end user (VirtualService "end-user: jason", JWT policies).
FORWARDED = (*net.TRACE_HEADERS, "user-agent", "cookie", "authorization", "jwt")
UNAVAILABLE = "Sorry, product {} are currently unavailable for this book."


def service_url(name: str) -> str:
    domain = os.environ.get("SERVICES_DOMAIN")
    host = (os.environ.get(f"{name.upper()}_HOSTNAME") or name) + (f".{domain}" if domain else "")
    return f"http://{host}:9080"


def fetch(url: str, headers: dict[str, str], what: str, attempts: int = 1) -> tuple[int, dict]:
    """(status, JSON) from a backend, or (its status or 500, {"error": ...}) when it fails."""
    status = 500
    for _ in range(attempts):
        try:
            status, _, body = net.http_get(url, TIMEOUT_S, headers)
        except net.NetError:
            status = 500
            continue
        if status == 200:
            try:
                return 200, _json_object(body)
            except ValueError:
                status = 500
    return status, {"error": UNAVAILABLE.format(what)}


def _json_object(body: bytes) -> dict:
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def build_app() -> App:
    app = App("productpage", server_header="Werkzeug/3.0.6 Python/3.12.7")
    details_url, reviews_url, ratings_url = (service_url(n) for n in ("details", "reviews", "ratings"))

    def forward(request: Request) -> dict[str, str]:
        headers = net.forward_headers(request.headers, FORWARDED)
        user = request.cookie("user")
        if user:
            headers["end-user"] = user
        return headers

    def details(request: Request, product_id: str) -> tuple[int, dict]:
        return fetch(f"{details_url}/details/{product_id}", forward(request), "details")

    def reviews(request: Request, product_id: str) -> tuple[int, dict]:
        return fetch(f"{reviews_url}/reviews/{product_id}", forward(request), "reviews", REVIEWS_ATTEMPTS)

    def ratings(request: Request, product_id: str) -> tuple[int, dict]:
        return fetch(f"{ratings_url}/ratings/{product_id}", forward(request), "ratings")

    @app.route("/(?:index\\.html)?")
    def index(request: Request):
        return html_response(index_page([("details", details_url), ("reviews", reviews_url),
                                         ("ratings", ratings_url)]))

    @app.route("/health")
    def health(request: Request):
        return Response("Product page is healthy", content_type="text/html; charset=utf-8")

    @app.route("/login", methods=("POST",))
    def login(request: Request):
        user = (request.form().get("username") or [""])[0]
        cookie = f"user={quote(user)}; Path=/"
        return redirect(request.headers.get("Referer") or "/productpage", [("Set-Cookie", cookie)])

    @app.route("/logout")
    def logout(request: Request):
        expired = "user=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"
        return redirect(request.headers.get("Referer") or "/productpage", [("Set-Cookie", expired)])

    @app.route("/productpage")
    def front(request: Request):
        product = PRODUCTS[0]
        details_status, details_json = details(request, "0")
        reviews_status, reviews_json = reviews(request, "0")
        page = product_page(product, details_status, details_json, reviews_status, reviews_json,
                            request.cookie("user") or "")
        return html_response(page)

    @app.route("/api/v1/products")
    def products(request: Request):
        return json_response(PRODUCTS)

    for suffix, call in (("", details), ("/reviews", reviews), ("/ratings", ratings)):
        app.route(f"/api/v1/products/([^/]+){suffix}")(_api(call))

    return app


def _api(call):
    def handler(request: Request, product_id: str) -> Response:
        status, body = call(request, product_id)
        return json_response(body, status)
    return handler


def main() -> None:
    build_app().serve()


if __name__ == "__main__":
    main()
