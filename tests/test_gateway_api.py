"""Kubernetes Gateway API gateways against real Envoy and real curl (issue 18), on one mesh for the module.

Istio's own sample (samples/httpbin/gateway-api/httpbin-gateway.yaml) applies verbatim and serves; the
istio.io gateway-api tasks' shapes (HTTPS Terminate with certificateRefs, mutual TLS by the listener option
and by frontend validation, SNI passthrough with a TLSRoute) serve as on a cluster; a STRICT backend is
reached over ISTIO_MUTUAL; the status conditions say what istiod says.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labkit import certs
from labkit.labs import in_namespace
from labkit.samples import sample

pytestmark = pytest.mark.envoy

SAMPLE = Path(__file__).parent / "data" / "istio-samples" / "httpbin-gateway-api-httpbin-gateway.yaml"
NAMESPACES = """
apiVersion: v1
kind: Namespace
metadata: {name: gwapi, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
"""
HOST = "httpbin.example.com"
SECURE = f"""
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: secure, namespace: gwapi}}
spec:
  gatewayClassName: istio
  tls:
    frontend:
      perPort:
      - port: 10443
        tls: {{validation: {{caCertificateRefs: [{{group: "", kind: ConfigMap, name: client-ca}}]}}}}
  listeners:
  - name: https
    hostname: {HOST}
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs: [{{name: httpbin-credential}}]
  - name: mtls
    hostname: mtls.example.com
    port: 8443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs: [{{name: mtls-credential}}]
      options: {{gateway.istio.io/tls-terminate-mode: MUTUAL}}
  - name: frontend
    hostname: front.example.com
    port: 10443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs: [{{name: front-credential}}]
  - name: passthrough
    hostname: nginx.example.com
    port: 9443
    protocol: TLS
    tls: {{mode: Passthrough}}
    allowedRoutes: {{namespaces: {{from: All}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: secure-httpbin, namespace: gwapi}}
spec:
  parentRefs: [{{name: secure, sectionName: https}}, {{name: secure, sectionName: mtls}},
               {{name: secure, sectionName: frontend}}]
  hostnames: ["{HOST}", mtls.example.com, front.example.com]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /status}}}}, {{path: {{type: PathPrefix, value: /delay}}}}]
    backendRefs: [{{name: httpbin, port: 8000}}]
  - matches: [{{path: {{type: PathPrefix, value: /headers}}, headers: [{{name: x-team, value: blue}}]}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {{add: [{{name: x-added, value: by-gateway}}]}}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {{set: [{{name: x-answered, value: gateway-api}}]}}
    backendRefs: [{{name: httpbin, port: 8000}}]
  - matches: [{{path: {{type: Exact, value: /old}}}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {{path: {{type: ReplaceFullPath, replaceFullPath: /new}}, statusCode: 301}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {{name: nginx, namespace: apps}}
spec:
  parentRefs: [{{name: secure, namespace: gwapi, sectionName: passthrough}}]
  hostnames: [nginx.example.com]
  rules:
  - backendRefs: [{{name: my-nginx, port: 443}}]
"""


def curl(url: str, host: str, path: str, *args: str) -> subprocess.CompletedProcess:
    """A real curl to a gateway listener, keeping the URL's host name (`--resolve` as istio.io's tasks do)."""
    parts = urlsplit(url)
    return subprocess.run(["curl", "-sS", "--max-time", "5", "--resolve", f"{host}:{parts.port}:{parts.hostname}",
                           *args, f"{parts.scheme}://{host}:{parts.port}{path}"], capture_output=True, text=True)


def code(url: str, host: str, path: str, *args: str) -> str:
    return curl(url, host, path, "-o", "/dev/null", "-w", "%{http_code}", *args).stdout


def condition(obj: dict, kind: str) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


CA = certs.make_ca("example.com", org="example Inc.")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("gwapi-certs")
    client = certs.write_pem(certs.make_client_cert(CA, "client.example.com"), directory, "client")
    return {"ca": certs.write_pem(CA, directory, "ca")["cert"], "client-cert": client["cert"],
            "client-key": client["key"]}


@pytest.fixture(scope="module")
def mesh(lab):
    ca = CA
    lab.apply(NAMESPACES)
    lab.apply(sample("httpbin"), namespace="gwapi")
    lab.apply(in_namespace(sample("nginx-ssl"), "apps"))
    lab.apply([certs.tls_secret("httpbin-credential", "gwapi", certs.make_server_cert(ca, HOST)),
               certs.tls_secret("mtls-credential", "gwapi", certs.make_server_cert(ca, "mtls.example.com"),
                                ca_pem=ca.cert_pem),
               certs.tls_secret("front-credential", "gwapi", certs.make_server_cert(ca, "front.example.com")),
               certs.tls_secret("nginx-server-certs", "apps", certs.make_server_cert(ca, "nginx.example.com")),
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "client-ca", "namespace": "gwapi"},
                "data": {"ca.crt": ca.cert_pem.decode()}}])
    lab.apply(SAMPLE.read_text(), namespace="gwapi")   # Istio's sample, verbatim
    lab.apply(SECURE)
    lab.wait_ready(timeout=90)
    return lab


def test_istio_sample_serves_and_its_status_reads_as_istio_writes_it(mesh):
    url = mesh.gateway_url(80, gateway="gwapi/httpbin-gateway")
    assert code(url, "anything.example", "/get") == "200"
    gateway = mesh.get("gtw", "httpbin-gateway", "gwapi")[0]
    programmed = condition(gateway, "Programmed")
    assert programmed["status"] == "True"
    assert programmed["message"] == ("Resource programmed, assigned to service(s) "
                                     "httpbin-gateway-istio.gwapi.svc.cluster.local:80")
    assert gateway["status"]["addresses"] == [{"type": "IPAddress", "value": urlsplit(url).hostname}]
    route = mesh.get("httproute", "httpbin", "gwapi")[0]
    parent = route["status"]["parents"][0]
    assert parent["controllerName"] == "istio.io/gateway-controller"
    assert [(c["type"], c["status"]) for c in parent["conditions"]] == [("Accepted", "True"), ("ResolvedRefs", "True")]


def test_automated_deployment_is_named_and_labelled_as_istio_makes_it(mesh):
    deployment = mesh.get("deployment", "httpbin-gateway-istio", "gwapi")[0]
    assert deployment["metadata"]["ownerReferences"][0]["kind"] == "Gateway"
    service = mesh.get("service", "httpbin-gateway-istio", "gwapi")[0]
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["port"] for p in service["spec"]["ports"]] == [15021, 80]
    pods = [p for p in mesh.get("Pod", namespace="gwapi") if p["metadata"]["name"].startswith("httpbin-gateway-istio-")]
    assert pods and pods[0]["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"] == "httpbin-gateway"
    assert pods[0]["spec"]["serviceAccountName"] == "httpbin-gateway-istio"


def test_https_terminate_with_certificate_refs(mesh, files):
    url = mesh.gateway_url(443, gateway="gwapi/secure")
    cacert = ("--cacert", str(files["ca"]))
    assert code(url, HOST, "/status/418", *cacert) == "418"
    # Only the paths the route names: a PathPrefix matches whole segments (/statusx is not /status).
    assert code(url, HOST, "/statusx", *cacert) == "404"
    assert code(url, HOST, "/get", *cacert) == "404"
    # The certificate is the Secret's: without the CA curl cannot verify it (60).
    assert curl(url, HOST, "/status/200").returncode == 60


def test_header_match_and_filters_and_redirect(mesh, files):
    url = mesh.gateway_url(443, gateway="gwapi/secure")
    cacert = ("--cacert", str(files["ca"]))
    assert code(url, HOST, "/headers", *cacert) == "404"          # the rule wants x-team: blue
    out = curl(url, HOST, "/headers", "-i", "-H", "x-team: blue", *cacert).stdout
    assert "x-answered: gateway-api" in out.lower() and '"X-Added": "by-gateway"' in out
    redirect = curl(url, HOST, "/old", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", *cacert).stdout
    assert redirect.startswith("301 ") and redirect.endswith("/new")


def test_mutual_tls_by_listener_option(mesh, files):
    url = mesh.gateway_url(8443, gateway="gwapi/secure")
    cacert = ("--cacert", str(files["ca"]))
    assert curl(url, "mtls.example.com", "/status/200", *cacert).returncode != 0   # no client certificate
    assert code(url, "mtls.example.com", "/status/200", *cacert, "--cert", str(files["client-cert"]),
                "--key", str(files["client-key"])) == "200"


def test_mutual_tls_by_frontend_validation(mesh, files):
    """Gateway API frontend validation (Istio ≥ 1.28): caCertificateRefs for the listener's port."""
    url = mesh.gateway_url(10443, gateway="gwapi/secure")
    cacert = ("--cacert", str(files["ca"]))
    assert curl(url, "front.example.com", "/status/200", *cacert).returncode != 0   # no client certificate
    assert code(url, "front.example.com", "/status/200", *cacert, "--cert", str(files["client-cert"]),
                "--key", str(files["client-key"])) == "200"


# istio.io "Secure Gateways" task, Gateway API tab: the Gateway in istio-system, the route in default, allowed by
# a namespace selector on the label Kubernetes gives every namespace.
SECURE_INGRESS_TASK = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: mygateway
  namespace: istio-system
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "httpbin.example.com"
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs:
      - name: httpbin-credential
    allowedRoutes:
      namespaces:
        from: Selector
        selector:
          matchLabels:
            kubernetes.io/metadata.name: default
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: httpbin
  namespace: default
spec:
  parentRefs:
  - name: mygateway
    namespace: istio-system
  hostnames: ["httpbin.example.com"]
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /status
    - path:
        type: PathPrefix
        value: /delay
    backendRefs:
    - name: httpbin
      port: 8000
"""


def test_istio_secure_ingress_task_applies_as_written(mesh, files):
    mesh.apply(sample("httpbin"), namespace="default")
    mesh.apply([certs.tls_secret("httpbin-credential", "istio-system", certs.make_server_cert(CA, HOST))])
    mesh.apply(SECURE_INGRESS_TASK)
    try:
        mesh.wait_ready("istio-system", timeout=60)
        url = mesh.gateway_url(443, gateway="istio-system/mygateway")
        assert code(url, HOST, "/status/418", "--cacert", str(files["ca"])) == "418"
        # Routes from other namespaces are not admitted by the selector.
        route = SECURE_INGRESS_TASK.split("---")[1].replace("namespace: default", "namespace: apps")
        mesh.apply(route)
        parent = mesh.get("httproute", "httpbin", "apps")[0]["status"]["parents"][0]["conditions"][0]
        assert (parent["status"], parent["reason"]) == ("False", "NotAllowedByListeners")
        mesh.delete(route)
    finally:
        mesh.delete(SECURE_INGRESS_TASK)
        mesh.delete(sample("httpbin"), namespace="default")


def test_passthrough_with_tls_route_reaches_nginx_tls(mesh, files):
    url = mesh.gateway_url(9443, gateway="gwapi/secure")
    out = curl(url, "nginx.example.com", "/", "-v", "--cacert", str(files["ca"]))
    assert out.returncode == 0 and "Welcome to nginx" in out.stdout
    assert "CN=nginx.example.com" in out.stderr   # nginx's own certificate: the gateway did not terminate


def test_strict_backend_is_reached_over_istio_mutual(mesh):
    mesh.apply("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
               "metadata: {name: default, namespace: gwapi}\nspec: {mtls: {mode: STRICT}}\n")
    try:
        run = curl(mesh.gateway_url(80, gateway="gwapi/httpbin-gateway"), "any.example", "/headers")
        assert "URI=spiffe://cluster.local/ns/gwapi/sa/httpbin-gateway-istio" in run.stdout, (run.stderr, mesh.pods())
    finally:
        mesh.delete("PeerAuthentication", "default", "gwapi")


def test_authorization_policy_on_the_gateway_pods(mesh):
    url = mesh.gateway_url(80, gateway="gwapi/httpbin-gateway")
    policy = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-headers, namespace: gwapi}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: httpbin-gateway}]
  action: DENY
  rules: [{to: [{operation: {paths: [/headers]}}]}]
"""
    assert code(url, "any.example", "/headers") == "200"
    mesh.apply(policy)
    try:
        assert code(url, "any.example", "/headers") == "403"
        assert code(url, "any.example", "/get") == "200"
    finally:
        mesh.delete(policy)


def test_status_reports_bad_references_in_istiods_words(mesh):
    broken = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: broken, namespace: gwapi}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, hostname: broken.example.com, port: 443, protocol: HTTPS,
     tls: {mode: Terminate, certificateRefs: [{name: missing-credential}]}}
  - {name: other, hostname: other.example.com, port: 8443, protocol: HTTPS,
     tls: {mode: Terminate, certificateRefs: [{name: httpbin-credential, namespace: apps}]}}
  - {name: http, hostname: right.example.com, port: 80, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-host, namespace: gwapi}
spec:
  parentRefs: [{name: broken, sectionName: http}]
  hostnames: [wrong.example.com]
  rules: [{backendRefs: [{name: httpbin, port: 8000}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-backend, namespace: gwapi}
spec:
  parentRefs: [{name: broken, sectionName: http}]
  rules: [{backendRefs: [{name: nosuch, port: 8000}]}]
"""
    mesh.apply(broken)
    try:
        gateway = mesh.get("gtw", "broken", "gwapi")[0]
        listeners = {entry["name"]: {c["type"]: c for c in entry["conditions"]} for entry in gateway["status"]["listeners"]}
        missing = listeners["https"]["ResolvedRefs"]
        assert (missing["status"], missing["reason"]) == ("False", "InvalidCertificateRef")
        assert missing["message"] == ("invalid certificate reference /Secret/missing-credential., "
                                      "secret gwapi/missing-credential not found")
        assert listeners["https"]["Programmed"]["message"] == "Bad TLS configuration"
        assert listeners["other"]["ResolvedRefs"]["reason"] == "RefNotPermitted"
        accepted = condition(gateway, "Accepted")
        assert (accepted["status"], accepted["reason"]) == ("True", "ListenersNotValid")
        wrong = mesh.get("httproute", "wrong-host", "gwapi")[0]["status"]["parents"][0]["conditions"][0]
        assert (wrong["status"], wrong["reason"]) == ("False", "NoMatchingListenerHostname")
        assert wrong["message"] == 'no hostnames matched parent hostname "right.example.com"'
        nobackend = mesh.get("httproute", "no-backend", "gwapi")[0]["status"]["parents"][0]["conditions"]
        assert [(c["type"], c["status"], c["reason"]) for c in nobackend] == [
            ("Accepted", "True", "Accepted"), ("ResolvedRefs", "False", "BackendNotFound")]
        assert code(mesh.gateway_url(80, gateway="gwapi/broken"), "right.example.com", "/get") == "500"
    finally:
        mesh.delete(broken)
    # The automated deployment goes with its Gateway (garbage collection through ownerReferences).
    assert mesh.get("deployment", "broken-istio", "gwapi") == []


def test_kubectl_tells_the_two_gateway_kinds_apart(mesh):
    from kubectl_support import kubectl, normalise
    run = kubectl(mesh, "get", "gtw", "-n", "gwapi")
    assert run.exit == 0, run.stderr
    rows = [line.split() for line in normalise(run.stdout).strip().splitlines()]
    assert rows[0] == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    sample = next(r for r in rows if r[0] == "httpbin-gateway")
    assert sample[1:4] == ["istio", urlsplit(mesh.gateway_url(80, gateway="gwapi/httpbin-gateway")).hostname, "True"]
    # `gateway` alone is Istio's kind (networking.istio.io), as kubectl resolves it beside Istio's CRDs.
    assert kubectl(mesh, "get", "gateway", "-n", "gwapi").stderr.strip() == "No resources found in gwapi namespace."
    routes = kubectl(mesh, "get", "httproute", "-n", "gwapi")
    assert routes.exit == 0 and "secure-httpbin" in routes.stdout and "HOSTNAMES" in routes.stdout
    classes = kubectl(mesh, "get", "gatewayclass")
    assert classes.exit == 0 and "istio.io/gateway-controller" in classes.stdout and "True" in classes.stdout
    # A Gateway written by kubectl gets its automated deployment too.
    created = kubectl(mesh, "apply", "-f", "-", stdin=GATEWAY_BY_KUBECTL)
    assert created.exit == 0 and created.stdout.strip() == "gateway.gateway.networking.k8s.io/kubectl-made created"
    try:
        assert mesh.get("deployment", "kubectl-made-istio", "gwapi")
    finally:
        assert kubectl(mesh, "delete", "gtw", "kubectl-made", "-n", "gwapi").exit == 0
    assert mesh.get("deployment", "kubectl-made-istio", "gwapi") == []


GATEWAY_BY_KUBECTL = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: kubectl-made, namespace: gwapi}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 8080, protocol: HTTP}]
"""


def test_troubleshooting_tools_see_the_automated_gateway(mesh):
    """Lab 15's tools on a Gateway API gateway: describe, proxy_config, tls_status, graph."""
    pod = next(p["metadata"]["name"] for p in mesh.get("Pod", namespace="gwapi")
               if p["metadata"]["name"].startswith("httpbin-gateway-istio-"))
    code(mesh.gateway_url(80, gateway="gwapi/httpbin-gateway"), "tools.example", "/get")
    described = str(mesh.describe("gwapi", pod))
    assert "Proxy: gateway" in described and "sa/httpbin-gateway-istio" in described
    routes = str(mesh.proxy_config("gwapi", pod, "routes"))
    assert "outbound|8000||httpbin.gwapi.svc.cluster.local" in routes
    status = mesh.tls_status(service="httpbin.gwapi")
    assert "gwapi/httpbin-gateway-istio" in set(status["client"])
    # The gateway's own Service is not a mesh destination in the TLS matrix.
    assert not any("httpbin-gateway-istio" in host for host in mesh.tls_status()["host"])
    edges = mesh.graph().edges
    assert any(e["source"] == "gwapi/httpbin-gateway-istio" and e["destination"] == "gwapi/httpbin" for e in edges)


def test_gateway_api_validator_fails_on_a_wrong_state_and_passes_on_the_right_one(mesh, files):
    from labkit import checks
    ok = checks.via_gateway_api(mesh, "gwapi/secure", HOST, "/status/418", expect=418, cacert=files["ca"])
    assert ok.passed, ok.report()
    # Wrong: a path no rule routes (404), and a Gateway whose certificate Secret is missing.
    unrouted = checks.via_gateway_api(mesh, "gwapi/secure", HOST, "/get", cacert=files["ca"])
    assert not unrouted.passed and "the status reports no problem" in unrouted.report()
    broken = SECURE.split("---")[0].replace("name: secure,", "name: nocert,").replace(
        "name: httpbin-credential", "name: no-such-credential")
    mesh.apply(broken)
    try:
        failed = checks.via_gateway_api(mesh, "gwapi/nocert", HOST, "/status/200", cacert=files["ca"])
        assert not failed.passed
        assert "listener https: ResolvedRefs False (InvalidCertificateRef)" in failed.report()
    finally:
        mesh.delete(broken)
