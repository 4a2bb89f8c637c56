"""istio/examples-bookinfo-reviews-v1/-v2/-v3: two reviews of the book (a Java app).

v1 calls nobody and shows no stars; v2 (black stars) and v3 (red stars) call ratings.
The ratings timeouts are the real ones (10 s for black, 2.5 s for red): Istio's
fault-injection task depends on v2 outwaiting productpage's own 3 s timeout.
"""
from __future__ import annotations

import json
import os

from labkit.apps import net
from labkit.apps.common import App, Request, json_response, pod_name, variant

REVIEWS = (
    ("Reviewer1", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"),
    ("Reviewer2", "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."),
)
RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
FORWARDED = (*net.TRACE_HEADERS, "end-user", "user-agent")
# What each image bakes in as ENABLE_RATINGS / STAR_COLOR.
VARIANTS = {"v1": (False, "black"), "v2": (True, "black"), "v3": (True, "red")}


def ratings_url() -> str:
    domain = os.environ.get("SERVICES_DOMAIN")
    host = (os.environ.get("RATINGS_HOSTNAME") or "ratings") + (f".{domain}" if domain else "")
    return f"http://{host}:9080/ratings"


def fetch_ratings(url: str, timeout: float, headers: dict[str, str]) -> dict | None:
    """The reviewer -> stars map, or None when ratings cannot be had for any reason."""
    try:
        status, _, body = net.http_get(url, timeout, headers)
        if status != 200:
            return None
        ratings = json.loads(body).get("ratings")
    except (net.NetError, ValueError, AttributeError):
        return None
    return ratings if isinstance(ratings, dict) else None


def review_list(ratings_enabled: bool, ratings: dict | None, color: str) -> list[dict]:
    reviews = []
    for reviewer, text in REVIEWS:
        review: dict = {"reviewer": reviewer, "text": text}
        if ratings_enabled:
            stars = (ratings or {}).get(reviewer)
            review["rating"] = ({"stars": stars, "color": color} if isinstance(stars, int)
                                else {"error": RATINGS_UNAVAILABLE})
        reviews.append(review)
    return reviews


def build_app(version: str) -> App:
    enabled, color = VARIANTS.get(version, VARIANTS["v1"])
    if "ENABLE_RATINGS" in os.environ:
        enabled = os.environ["ENABLE_RATINGS"].lower() == "true"
    color = os.environ.get("STAR_COLOR") or color
    timeout = 10.0 if color == "black" else 2.5
    base_url = ratings_url()
    app = App("reviews")
    podname, cluster = pod_name(), os.environ.get("CLUSTER_NAME") or "null"

    @app.route("/health")
    def health(request: Request):
        return json_response({"status": "Reviews is healthy"})

    @app.route("/reviews/(\\d+)")
    def reviews(request: Request, product_id: str):
        ratings = None
        if enabled:
            headers = net.forward_headers(request.headers, FORWARDED)
            ratings = fetch_ratings(f"{base_url}/{int(product_id)}", timeout, headers)
        return json_response({
            "id": str(int(product_id)),
            "podname": podname,
            "clustername": cluster,
            "reviews": review_list(enabled, ratings, color),
        })

    return app


def main() -> None:
    version = variant("v1")
    build_app(version).serve(version)


if __name__ == "__main__":
    main()
