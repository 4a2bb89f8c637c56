"""istio/examples-bookinfo-ratings-v1: star ratings per product (a Node.js app).

Like the real one it keeps POSTed ratings in memory, and honours SERVICE_VERSION
"v-faulty" (half the answers are 503) and "v-delayed" (half wait 7 s), which Istio's
resilience tasks use.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time

from labkit.apps.common import App, Request, json_response

DEFAULT_RATINGS = {"Reviewer1": 5, "Reviewer2": 4}


def build_app(behaviour: str = "") -> App:
    app = App("ratings")
    added: dict[int, dict] = {}
    lock = threading.Lock()

    def parse_id(raw: str) -> int | None:
        return int(raw) if raw.isdigit() else None

    @app.route("/health")
    def health(request: Request):
        return json_response({"status": "Ratings is healthy"})

    @app.route("/ratings/([^/]*)")
    def get_ratings(request: Request, raw_id: str):
        product_id = parse_id(raw_id)
        if product_id is None:
            return json_response({"error": "please provide numeric product ID"}, 400)
        if behaviour == "v-faulty" and random.random() <= 0.5:
            return json_response({"error": "Service unavailable"}, 503)
        if behaviour == "v-delayed" and random.random() <= 0.5:
            time.sleep(7)
        with lock:
            stored = added.get(product_id)
        return json_response(stored or {"id": product_id, "ratings": DEFAULT_RATINGS})

    @app.route("/ratings/([^/]*)", methods=("POST",))
    def post_ratings(request: Request, raw_id: str):
        product_id = parse_id(raw_id)
        if product_id is None:
            return json_response({"error": "please provide numeric product ID"}, 400)
        try:
            ratings = json.loads(request.body or b"null")
        except ValueError:
            return json_response({"error": "please provide valid ratings JSON"}, 400)
        with lock:
            added[product_id] = {"id": product_id, "ratings": ratings}
            return json_response(added[product_id])

    return app


def main() -> None:
    build_app(os.environ.get("SERVICE_VERSION", "")).serve()


if __name__ == "__main__":
    main()
