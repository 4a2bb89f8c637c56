"""AuthorizationPolicy on real Envoy: Istio's authz-http task with Bookinfo, seed 000's STRICT service behind
the gateway, and policies that select the gateway itself."""
from __future__ import annotations

import subprocess
from urllib.parse import urlsplit

import pytest

from labkit.samples import sample
from mesh_scenarios import asset_management

pytestmark = pytest.mark.envoy

NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: assets, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
"""
# Seed 000: asset-management behind the gateway, STRICT, ISTIO_MUTUAL, only the gateway may call it.
ASSET_MANAGEMENT = asset_management()


def policy(name: str, spec: str, namespace: str = "default") -> str:
    return (f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
            f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}")


def viewer(app: str, principal: str | None = None) -> str:
    source = f"  - from: [{{source: {{principals: [\"{principal}\"]}}}}]\n    to" if principal else "  - to"
    return policy(f"{app}-viewer", f"  selector: {{matchLabels: {{app: {app}}}}}\n  action: ALLOW\n  rules:\n"
                                   f"{source}: [{{operation: {{methods: [\"GET\"]}}}}]\n")


ALLOW_NOTHING = policy("allow-nothing", "  {}\n")


@pytest.fixture(scope="module")
def mesh(lab):
    lab.apply(NAMESPACES)
    lab.apply(sample("bookinfo"), namespace="default")
    lab.apply(sample("bookinfo-gateway"), namespace="default")
    lab.apply(ASSET_MANAGEMENT)
    lab.apply(sample("curl"), namespace="assets")
    lab.apply(sample("curl"), namespace="legacy")
    lab.wait_ready(timeout=60)
    return lab


def via_gateway(lab, host: str, path: str, *args: str) -> tuple[str, str, str]:
    """(status, body, headers) of a real curl through the gateway's port 80."""
    port = urlsplit(lab.gateway_url(80)).port
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "-D", "/dev/stderr", "-w", "\n%{http_code}",
                          "--resolve", f"{host}:{port}:127.0.0.1", *args, f"http://{host}:{port}{path}"],
                         capture_output=True, text=True, timeout=30)
    body, _, status = out.stdout.rpartition("\n")
    return status, body, out.stderr.lower()


def product_pages(lab, count: int = 4) -> list[str]:
    """Several loads, so every reviews version (round-robin) shows up among them."""
    pages = []
    for _ in range(count):
        status, body, _ = via_gateway(lab, "bookinfo.example", "/productpage")
        assert status == "200", body[:300]
        pages.append(body)
    return pages


# ---- Istio's "Authorization for HTTP traffic" task (istio-semantics §7d) ---------------------------

def test_authz_http_task_with_bookinfo(mesh):
    pages = product_pages(mesh)
    assert not any("Error fetching" in p for p in pages) and any("glyphicon-star" in p for p in pages)
    mesh.apply(ALLOW_NOTHING)
    try:
        status, body, _ = via_gateway(mesh, "bookinfo.example", "/productpage")
        assert (status, body) == ("403", "RBAC: access denied")

        mesh.apply(viewer("productpage"))
        pages = product_pages(mesh)
        assert all("Error fetching product details" in p and "Error fetching product reviews" in p for p in pages)

        mesh.apply(viewer("details", "cluster.local/ns/default/sa/bookinfo-productpage"))
        mesh.apply(viewer("reviews", "cluster.local/ns/default/sa/bookinfo-productpage"))
        pages = product_pages(mesh)
        assert not any("Error fetching" in p for p in pages)
        assert any("Ratings service is currently unavailable" in p for p in pages)
        assert not any("glyphicon-star" in p for p in pages)

        mesh.apply(viewer("ratings", "cluster.local/ns/default/sa/bookinfo-reviews"))
        pages = product_pages(mesh)
        assert any("glyphicon-star" in p for p in pages)
        assert not any("currently unavailable" in p for p in pages)
    finally:
        for name in ("allow-nothing", "productpage-viewer", "details-viewer", "reviews-viewer", "ratings-viewer"):
            mesh.delete("AuthorizationPolicy", name, namespace="default", ignore_missing=True)
    assert not any("Error fetching" in p for p in product_pages(mesh, 1))


# ---- seed 000: gateway → STRICT service that only the gateway may call ---------------------------

def in_pod(lab, namespace: str, url: str) -> tuple[str, int, str]:
    out = lab.exec(namespace, "curl", ["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", url])
    body, _, status = out.stdout.rpartition("\n")
    return status, out.exit_code, body


def test_gateway_reaches_strict_service_that_only_the_gateway_may_call(mesh):
    status, body, _ = via_gateway(mesh, "asset-management.example.com", "/get")
    assert status == "200" and '"url"' in body
    # A sidecar'd pod gets through mTLS, then the policy: not the gateway's principal, so Envoy's 403.
    assert in_pod(mesh, "assets", "http://asset-management.assets/get") == ("403", 0, "RBAC: access denied")
    # A pod without a sidecar speaks plaintext to a STRICT port: the connection is reset.
    status, code, _ = in_pod(mesh, "legacy", "http://asset-management.assets/get")
    assert (status, code) == ("000", 56)


def test_deny_wins_over_allow_and_paths_match_by_prefix(mesh):
    deny = policy("no-status", "  selector: {matchLabels: {app.kubernetes.io/name: asset-management}}\n"
                               "  action: DENY\n  rules:\n  - to: [{operation: {paths: [/status/*]}}]\n", "assets")
    mesh.apply(deny)
    try:
        assert via_gateway(mesh, "asset-management.example.com", "/status/200")[:2] == ("403", "RBAC: access denied")
        assert via_gateway(mesh, "asset-management.example.com", "/get")[0] == "200"
    finally:
        mesh.delete(deny)
    assert via_gateway(mesh, "asset-management.example.com", "/status/200")[0] == "200"


def test_policies_selecting_the_gateway_are_enforced_on_the_gateway(mesh):
    # istio-system is the root namespace: a selector there still picks the gateway (and only it).
    gateway_only = policy("ingress-allow-lan", "  selector: {matchLabels: {istio: ingressgateway}}\n"
                                               "  action: ALLOW\n  rules:\n"
                                               "  - from: [{source: {ipBlocks: [10.0.0.0/8]}}]\n"
                                               "  - to: [{operation: {hosts: [bookinfo.example*], "
                                               "methods: [GET]}}]\n", "istio-system")
    mesh.apply(gateway_only)
    try:
        status, body, headers = via_gateway(mesh, "asset-management.example.com", "/get")
        assert (status, body) == ("403", "RBAC: access denied")
        assert "x-envoy-upstream-service-time" not in headers  # the gateway answered, nothing upstream
        assert via_gateway(mesh, "bookinfo.example", "/productpage")[0] == "200"
        assert via_gateway(mesh, "bookinfo.example", "/productpage", "-X", "POST")[0] == "403"
    finally:
        mesh.delete(gateway_only)
    assert via_gateway(mesh, "asset-management.example.com", "/get")[0] == "200"


TCP_WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: tcp-web, namespace: assets}
spec:
  selector: {matchLabels: {app: tcp-web}}
  template:
    metadata: {labels: {app: tcp-web}}
    spec:
      containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]   # stock nginx listens on 80
---
apiVersion: v1
kind: Service
metadata: {name: tcp-web, namespace: assets}
spec:
  selector: {app: tcp-web}
  ports: [{name: tcp, port: 9000, targetPort: 80}]
"""


def test_tcp_traffic_is_authorized_by_connection(mesh):
    """On a TCP port a denied connection is closed; an ALLOW rule using HTTP-only fields cannot match TCP."""
    mesh.apply(TCP_WEB)
    mesh.wait_ready("assets", timeout=20)
    url = "http://tcp-web.assets:9000/"
    assert in_pod(mesh, "assets", url)[:2] == ("200", 0)
    def deny(namespace: str) -> str:
        return policy("no-ns", "  selector: {matchLabels: {app: tcp-web}}\n  action: DENY\n"
                               f"  rules: [{{from: [{{source: {{namespaces: [{namespace}]}}}}]}}]\n", "assets")
    allow_get = policy("get-only", "  selector: {matchLabels: {app: tcp-web}}\n"
                                   "  rules: [{to: [{operation: {methods: [GET]}}]}]\n", "assets")
    try:
        mesh.apply(deny("assets"))   # the caller's namespace comes from its mTLS certificate
        status, code, _ = in_pod(mesh, "assets", url)
        assert status == "000" and code in (52, 56)
        mesh.apply(deny("elsewhere"))
        assert in_pod(mesh, "assets", url)[:2] == ("200", 0)
        mesh.delete("AuthorizationPolicy", "no-ns", namespace="assets")
        mesh.apply(allow_get)
        status, code, _ = in_pod(mesh, "assets", url)
        assert status == "000" and code in (52, 56)
    finally:
        mesh.delete("AuthorizationPolicy", "no-ns", namespace="assets", ignore_missing=True)
        mesh.delete(allow_get, ignore_missing=True)
        mesh.delete(TCP_WEB)
