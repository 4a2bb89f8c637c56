"""tetratelabs/customers: the Tetrate course's backend, a JSON list of customers on GET /.

Tag 1.0.0 (variant v1) returns names only; tag 2.0.0 (v2) adds each customer's city, which
is how the traffic-shifting lab tells the versions apart (two columns in web-frontend).
"""
from __future__ import annotations

from labkit.apps.common import App, Request, express_not_found, json_response, variant

# Names as the real image returns them. The real v2 cities were not available to copy;
# these are stand-ins in the same faker style.
CUSTOMERS = (
    ("Jewel Schaefer", "Lake Aureliaton"),
    ("Raleigh Larson", "Port Kennithfort"),
    ("Eloise Senger", "South Ethylburgh"),
    ("Moshe Zieme", "West Orvalshire"),
    ("Filiberto Lubowitz", "New Aliyaview"),
    ("Ms.Kadin Kling", "East Deshawnmouth"),
    ("Jennyfer Bergstrom", "North Idellside"),
    ("Candelario Rutherford", "Lake Kieraberg"),
    ("Kenyatta Flatley", "Port Eudoraland"),
    ("Gianni Pouros", "Schowalterstad"),
)


def customer_list(version: str) -> list[dict[str, str]]:
    if version == "v2":
        return [{"name": name, "city": city} for name, city in CUSTOMERS]
    return [{"name": name} for name, _ in CUSTOMERS]


def build_app(version: str) -> App:
    app = App("customers", not_found=express_not_found)
    body = customer_list(version)

    @app.route("/")
    def index(request: Request):
        return json_response(body, content_type="application/json; charset=utf-8")

    return app


def main() -> None:
    version = variant("v1")
    build_app(version).serve(version)


if __name__ == "__main__":
    main()
