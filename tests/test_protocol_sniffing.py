"""Protocol sniffing on real Envoy (issue 13): Service ports without a protocol in their name get Istio's
automatic protocol detection, so HTTP over them is still HTTP (routing, AuthorizationPolicy paths, the
X-Forwarded-Client-Cert of an mTLS HTTP chain) and the app's own TLS (istio.io's SNI passthrough nginx,
applied verbatim with its unnamed port) still passes, under PERMISSIVE and STRICT alike."""
from __future__ import annotations

import subprocess
import time
from urllib.parse import urlsplit

import pytest

from labkit import certs
from labkit.contract import ExecResult
from labkit.labs import in_namespace
from labkit.samples import sample

pytestmark = pytest.mark.envoy

NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: sniff, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: outside}
"""
# go-httpbin behind a Service port with no name at all: Istio sniffs it.
HTTPBIN = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: sniff}
spec:
  selector: {app: httpbin}
  ports: [{port: 8000, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: sniff}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      serviceAccountName: httpbin
      containers: [{name: httpbin, image: docker.io/mccutchen/go-httpbin:v2.15.0, ports: [{containerPort: 8080}]}]
"""
CURL = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: %s}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec:
      containers: [{name: curl, image: curlimages/curl, command: ["/bin/sleep", "infinity"]}]
"""
STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: sniff}
spec: {mtls: {mode: STRICT}}
"""
ONLY_HEADERS = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-headers, namespace: sniff}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: ALLOW
  rules: [{to: [{operation: {paths: [/headers]}}]}]
"""


@pytest.fixture(scope="module")
def mesh(lab, tmp_path_factory):
    lab.apply(NAMESPACES)
    ca = certs.make_ca("example.com")
    backend = certs.make_server_cert(ca, "nginx.example.com", org="some organization")
    lab.apply(certs.tls_secret("nginx-server-certs", "sniff", backend))
    lab.apply(HTTPBIN + "---" + CURL % "sniff" + "---" + CURL % "outside")
    lab.apply(in_namespace(sample("nginx-ssl"), "sniff"))   # istio.io's YAML: the Service port has no name
    lab.wait_ready("sniff", timeout=60)
    lab.wait_ready("outside", timeout=60)
    lab.ca_file = certs.write_pem(ca, tmp_path_factory.mktemp("sniff-certs"), "sniff-ca")["cert"]
    yield lab
    lab.delete(STRICT, ignore_missing=True)
    lab.delete(ONLY_HEADERS, ignore_missing=True)


def curl(mesh, namespace: str, *args: str) -> ExecResult:
    return mesh.exec(namespace, "curl", ["curl", "-sS", "--max-time", "5", *args])


def test_the_unnamed_ports_are_sniffed(mesh):
    model = mesh.mesh_access().model()
    ports = {s.name: s.ports[0].protocol for s in model.services if s.namespace == "sniff"}
    assert ports == {"httpbin": "AUTO", "my-nginx": "AUTO"}


def test_http_over_an_unnamed_port_is_http_end_to_end(mesh):
    out = curl(mesh, "sniff", "http://httpbin.sniff:8000/headers")
    assert out.exit_code == 0, out.stderr
    # The server's sidecar took the mTLS *HTTP* chain (the client sent istio-http/1.1): only an HTTP
    # connection manager adds X-Forwarded-Client-Cert with the caller's identity.
    assert "spiffe://cluster.local/ns/sniff/sa/default" in out.stdout and "X-Forwarded-Client-Cert" in out.stdout
    # The client's sidecar routed it as HTTP too: its outbound HCM answers an unknown path of an HTTP route.
    verbose = curl(mesh, "sniff", "-i", "http://httpbin.sniff:8000/status/418")
    assert "418" in verbose.stdout.splitlines()[0] and "x-envoy-upstream-service-time" in verbose.stdout.lower()
    # HTTP telemetry on both sides: Istio's TEXT access log has the request line, not a "- - -" TCP line.
    assert logged(mesh, "curl", '"GET /status/418 HTTP/1.1" 418', "outbound|8000||httpbin.sniff.svc.cluster.local")
    assert logged(mesh, "httpbin", '"GET /status/418 HTTP/1.1" 418', "inbound|8080||")


def logged(mesh, workload: str, *parts: str, timeout: float = 3.0) -> bool:
    """Whether one line of the workload's istio-proxy log has all `parts` (Envoy flushes its log every 200 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = mesh.logs("sniff", workload, container="istio-proxy").splitlines()
        if any(all(part in line for part in parts) for line in lines):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_plaintext_http_from_outside_the_mesh_is_detected_as_http(mesh):
    out = curl(mesh, "outside", "-i", "http://httpbin.sniff:8000/headers")
    assert out.exit_code == 0 and "X-Forwarded-Client-Cert" not in out.stdout    # plaintext: no peer identity
    # The server's sidecar answered through its plaintext *HTTP* chain: its HCM names itself istio-envoy
    # (bytes through a TCP chain would keep go-httpbin's headers, which have no Server header).
    assert "server: istio-envoy" in out.stdout.lower()


def test_authorization_paths_apply_on_a_sniffed_port(mesh):
    mesh.apply(ONLY_HEADERS)
    try:
        assert curl(mesh, "sniff", "-o", "/dev/null", "-w", "%{http_code}", "http://httpbin.sniff:8000/headers").stdout \
            == "200"
        denied = curl(mesh, "sniff", "http://httpbin.sniff:8000/ip")
        assert denied.stdout == "RBAC: access denied"
    finally:
        mesh.delete(ONLY_HEADERS, ignore_missing=True)


def nginx_tls(mesh, namespace: str) -> ExecResult:
    # The client's own TLS, through its sidecar (if any) as bytes: the Service port has no name.
    return mesh.exec(namespace, "curl", ["curl", "-sS", "--max-time", "5", "-k", "-v",
                                         "https://my-nginx.sniff:443/"])


def test_tls_the_app_speaks_itself_passes_an_unnamed_port(mesh):
    for namespace in ("sniff", "outside"):
        out = nginx_tls(mesh, namespace)
        assert out.exit_code == 0 and "Welcome to nginx!" in out.stdout, (namespace, out.stderr)
        assert "CN=nginx.example.com" in out.stderr      # nginx's own certificate: nobody terminated TLS


def test_under_strict_both_still_work_and_plaintext_is_refused(mesh):
    mesh.apply(STRICT)
    try:
        out = curl(mesh, "sniff", "http://httpbin.sniff:8000/headers")
        assert out.exit_code == 0 and "spiffe://cluster.local/ns/sniff/sa/default" in out.stdout
        tls = nginx_tls(mesh, "sniff")
        assert tls.exit_code == 0 and "Welcome to nginx!" in tls.stdout, tls.stderr
        # No sidecar on the client: STRICT resets its plaintext (and its own TLS, which has no mesh certificate).
        assert curl(mesh, "outside", "http://httpbin.sniff:8000/headers").exit_code == 56
        assert nginx_tls(mesh, "outside").exit_code != 0
    finally:
        mesh.delete(STRICT, ignore_missing=True)


def test_gateway_passthrough_to_the_unnamed_nginx_port(mesh):
    """The SNI passthrough task as published: PASSTHROUGH Gateway, tls route, nginx's unnamed port."""
    gateway = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: sniff-gateway, namespace: sniff}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [nginx.example.com]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: sniff}
spec:
  hosts: [nginx.example.com]
  gateways: [sniff-gateway]
  tls:
  - match: [{port: 443, sniHosts: [nginx.example.com]}]
    route: [{destination: {host: my-nginx, port: {number: 443}}}]
"""
    mesh.apply(gateway)
    try:
        port = urlsplit(mesh.gateway_url(443)).port
        for policy in ("", STRICT):
            if policy:
                mesh.apply(policy)
            out = subprocess.run(["curl", "-sS", "--max-time", "5", "-v", "--cacert", str(mesh.ca_file),
                                  "--resolve", f"nginx.example.com:{port}:127.0.0.1",
                                  f"https://nginx.example.com:{port}/"], capture_output=True, text=True, timeout=20)
            assert out.returncode == 0 and "Welcome to nginx!" in out.stdout, (policy, out.stderr)
            assert "CN=nginx.example.com" in out.stderr
    finally:
        mesh.delete(STRICT, ignore_missing=True)
        mesh.delete(gateway, ignore_missing=True)
