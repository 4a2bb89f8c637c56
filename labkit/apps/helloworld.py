"""istio/examples-helloworld-v1/-v2: the Istio helloworld sample (Flask under gunicorn).

The version comes from SERVICE_VERSION like the real image (whose Dockerfile sets it),
falling back to the image variant; the instance is the pod name.
"""
from __future__ import annotations

import os

from labkit.apps.common import App, Request, Response, html_response, pod_name, variant

FLASK_NOT_FOUND = """<!doctype html>
<html lang=en>
<title>404 Not Found</title>
<h1>Not Found</h1>
<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>
"""


def build_app(version: str, instance: str) -> App:
    app = App("helloworld", server_header="gunicorn", not_found=lambda request: html_response(FLASK_NOT_FOUND, 404))
    # The real /hello burns ~1M square roots of CPU for autoscaling demos; the labs here
    # do not autoscale, so it answers at once.
    greeting = f"Hello version: {version}, instance: {instance}\n"

    @app.route("/hello")
    def hello(request: Request):
        return Response(greeting, content_type="text/html; charset=utf-8")

    @app.route("/health")
    def health(request: Request):
        return Response("Helloworld is healthy", content_type="text/html; charset=utf-8")

    return app


def main() -> None:
    version = os.environ.get("SERVICE_VERSION") or variant("v1")
    build_app(version, pod_name()).serve(version)


if __name__ == "__main__":
    main()
