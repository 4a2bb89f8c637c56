"""istio/examples-bookinfo-details-v1: the book's details as JSON (a Ruby WEBrick app)."""
from __future__ import annotations

from labkit.apps.common import App, Request, json_response

BOOK = {
    "author": "William Shakespeare",
    "year": 1595,
    "type": "paperback",
    "pages": 200,
    "publisher": "PublisherA",
    "language": "English",
    "ISBN-10": "1234567890",
    "ISBN-13": "123-1234567890",
}


def build_app() -> App:
    app = App("details", server_header="WEBrick/1.8.1 (Ruby/3.3.0/2023-12-25)")

    @app.route("/health")
    def health(request: Request):
        return json_response({"status": "Details is healthy"})

    # WEBrick mounts /details as a prefix and takes the last path segment as the id.
    @app.route("/details(?:/.*)?")
    def details(request: Request):
        last = request.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            product_id = int(last)
        except ValueError:
            return json_response({"error": "please provide numeric product id"}, 400)
        return json_response({"id": product_id, **BOOK})

    return app


def main() -> None:
    build_app().serve()


if __name__ == "__main__":
    main()
